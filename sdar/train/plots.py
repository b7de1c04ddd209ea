"""Training curves of a run directory as one PNG (no global matplotlib state)."""

from __future__ import annotations

import json
from pathlib import Path

from sdar.train.compare import wilson_interval

PANELS = (
    ("rollout/reward", "training reward"),
    ("rollout/success", "training success"),
    ("rollout/valid_ratio", "valid-action ratio"),
    ("sdar/gate_mean", "gate mean"),
    ("sdar/gap_mean", "teacher-student gap"),
    ("actor/kl", "KL to reference"),
)


def _rows(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def plot_run(run_dir: str | Path) -> Path:
    """Write RUN_DIR/curves.png: evaluation success and the main training metrics."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    run_dir = Path(run_dir)
    metrics, evals = _rows(run_dir / "metrics.jsonl"), _rows(run_dir / "evals.jsonl")
    fig = Figure(figsize=(14, 7), tight_layout=True)
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, 4).ravel()
    plain = [e for e in evals if not e.get("with_skills")]
    steps = [e["step"] for e in plain]
    rates = [e["success"] for e in plain]
    # 95% Wilson interval per evaluation (binomial over the panel's episodes)
    ci = [wilson_interval(round(e["success"] * e["episodes"]), e["episodes"]) for e in plain]
    yerr = [
        [r - lo for r, (lo, _) in zip(rates, ci, strict=True)],
        [hi - r for r, (_, hi) in zip(rates, ci, strict=True)],
    ]
    axes[0].errorbar(steps, rates, yerr=yerr, fmt="o-", capsize=3, label="panel (95% interval)")
    summary = run_dir / "summary.json"
    reference = (
        json.loads(summary.read_text()).get("panel_reference", {}) if summary.is_file() else {}
    )
    for (agent, ref), style in zip(sorted(reference.items()), (":", "--"), strict=False):
        axes[0].axhline(ref["success"], color="grey", linestyle=style, label=f"{agent} agent")
    skilled = [e for e in evals if e.get("with_skills")]
    if skilled:
        axes[0].plot(
            [e["step"] for e in skilled],
            [e["success"] for e in skilled],
            "s--",
            label="panel, skills in prompt",
        )
    axes[0].set_ylim(-0.02, 1.02)
    axes[0].set_title("evaluation success")
    axes[0].legend()
    for ax, (key, title) in zip(axes[1:], PANELS, strict=False):
        pts = [(r["step"], r[key]) for r in metrics if key in r]
        if pts:
            ax.plot(*zip(*pts, strict=True))
        ax.set_title(title)
        ax.set_xlabel("step")
    axes[-1].axis("off")
    out = run_dir / "curves.png"
    fig.savefig(out, dpi=80)
    return out
