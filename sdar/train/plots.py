"""Training curves of a run directory as one PNG (no global matplotlib state)."""

from __future__ import annotations

import json
from pathlib import Path

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
    axes[0].plot([e["step"] for e in plain], [e["success"] for e in plain], "o-", label="panel")
    skilled = [e for e in evals if e.get("with_skills")]
    if skilled:
        axes[0].plot(
            [e["step"] for e in skilled],
            [e["success"] for e in skilled],
            "s--",
            label="panel, skills in prompt",
        )
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
