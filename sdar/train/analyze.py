"""`sdar analyze RUN_DIR`: the paper's diagnostics from saved per-token records.

A run trained with ``run.token_records=S`` (0 < S <= 1) writes, for a share S of each step's
step-samples (at least one; only samples the teacher scored; under torchrun the main
rank's shard), one line of ``RUN_DIR/token_records.jsonl`` (`token_record`):

    step, group, traj, turn, task_type, valid, score, response_len,
    gaps                 teacher - student old log-prob per response token (4 decimals),
    teacher_prompt_tokens, skill_tokens,
    privileged_hash      first 12 hex digits of the SHA-1 of the teacher's privileged text,
    privileged_len       its length in characters,
    privileged           the text itself, only on the first record of the run with this hash.

From those and ``metrics.jsonl`` (`sdar/gate_mean`, `sdar/gate_active_ratio`,
`sdar/gap_mean` per step) `analyze_run` computes the gap histogram (fixed bins
`HIST_EDGES`), the mean gap by turn index and by relative position in the response
(`POSITION_BINS` bins), the share of negative-gap tokens overall and per step, the SDAR gate
g = sigmoid(beta * gap) on the recorded tokens (beta = the run's ``algo.gate_beta``; the
same function as ``sdar.algos.get_gate("gap")``, computed here without torch), and the
teacher-context audit. `write_analysis` writes analysis.md and four PNGs.

Pure Python; matplotlib is imported only to draw.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from sdar.train.compare import read_jsonl

RECORDS = "token_records.jsonl"
HIST_EDGES = [x / 2 for x in range(-16, 17)]
"""Gap histogram edges -8, -7.5, ..., 8: bins [lo, hi), plus one bin below -8 and one at or
above 8 (``counts`` has ``len(HIST_EDGES) + 1`` entries)."""
POSITION_BINS = 10
TRAINING_KEYS = ("sdar/gate_mean", "sdar/gate_active_ratio", "sdar/gap_mean")
PLOTS = ("gap_hist.png", "gap_by_turn.png", "gap_by_position.png", "gate_over_training.png")


# -- recording (called by the training loop) ---------------------------------------------------
def privileged_hash(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:12]


def token_record(
    *,
    step: int,
    group: int,
    traj: int,
    turn: int,
    task_type: str,
    valid: bool,
    score: float,
    gaps: Iterable[float],
    privileged: str,
    teacher_prompt_tokens: int,
    skill_tokens: int,
    seen: set[str],
) -> dict[str, Any]:
    """One line of token_records.jsonl. ``seen``: the privileged-text hashes already written
    in this run (updated here), so each text is stored once."""
    gaps = [round(float(g), 4) for g in gaps]
    digest = privileged_hash(privileged)
    record: dict[str, Any] = {
        "step": step,
        "group": group,
        "traj": traj,
        "turn": turn,
        "task_type": task_type,
        "valid": bool(valid),
        "score": float(score),
        "response_len": len(gaps),
        "gaps": gaps,
        "teacher_prompt_tokens": teacher_prompt_tokens,
        "skill_tokens": skill_tokens,
        "privileged_hash": digest,
        "privileged_len": len(privileged),
    }
    if digest not in seen:
        seen.add(digest)
        record["privileged"] = privileged
    return record


def seen_hashes(path: Path) -> set[str]:
    """The privileged-text hashes whose text ``path`` already holds (a resumed run)."""
    return {r["privileged_hash"] for r in read_jsonl(path) if "privileged" in r}


# -- statistics --------------------------------------------------------------------------------


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def _bin(gap: float) -> int:
    """Index into the histogram counts: 0 below HIST_EDGES[0], len(HIST_EDGES) at or above
    the last edge, else 1 + the [lo, hi) bin."""
    lo, width = HIST_EDGES[0], HIST_EDGES[1] - HIST_EDGES[0]
    if gap < lo:
        return 0
    if gap >= HIST_EDGES[-1]:
        return len(HIST_EDGES)
    return 1 + min(int((gap - lo) / width), len(HIST_EDGES) - 2)


class _Acc:
    """Token count, gap sum and square sum, negatives, gate sum and gate > 1/2 count."""

    def __init__(self) -> None:
        self.n = self.neg = self.active = 0
        self.total = self.squares = self.gate = 0.0

    def add(self, gap: float, gate: float) -> None:
        self.n += 1
        self.total += gap
        self.squares += gap * gap
        self.neg += gap < 0
        self.gate += gate
        self.active += gate > 0.5

    def row(self) -> dict[str, Any]:
        n = self.n
        mean = self.total / n if n else None
        std = math.sqrt(max(self.squares / n - mean * mean, 0.0)) if n else None
        return {
            "tokens": n,
            "mean_gap": mean,
            "std_gap": std,
            "negative_share": self.neg / n if n else None,
            "gate_mean": self.gate / n if n else None,
            "gate_active_ratio": self.active / n if n else None,
        }


def _gate_beta(run_dir: Path) -> float:
    path = run_dir / "config.yaml"
    if path.is_file():
        cfg = yaml.safe_load(path.read_text()) or {}
        beta = (cfg.get("algo") or {}).get("gate_beta")
        if beta is not None:
            return float(beta)
    return 5.0  # AlgoConfig's default


def analyze_records(
    records: list[dict[str, Any]], beta: float, metrics: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """Every number of the analysis from token records (and metrics.jsonl rows)."""
    overall, by_turn, by_pos, by_step = _Acc(), {}, [_Acc() for _ in range(POSITION_BINS)], {}
    counts = [0] * (len(HIST_EDGES) + 1)
    texts: dict[str, dict[str, Any]] = {}
    for r in records:
        gaps = r["gaps"]
        n = len(gaps)
        turn = by_turn.setdefault(int(r["turn"]), _Acc())
        step = by_step.setdefault(int(r["step"]), _Acc())
        for t, gap in enumerate(gaps):
            gate = _sigmoid(beta * gap)
            for acc in (
                overall,
                turn,
                step,
                by_pos[min(t * POSITION_BINS // n, POSITION_BINS - 1)],
            ):
                acc.add(gap, gate)
            counts[_bin(gap)] += 1
        entry = texts.setdefault(
            r["privileged_hash"],
            {
                "hash": r["privileged_hash"],
                "length": r["privileged_len"],
                "records": 0,
                "first_step": r["step"],
                "task_types": {},
                "text": None,
            },
        )
        entry["records"] += 1
        entry["task_types"][r["task_type"]] = entry["task_types"].get(r["task_type"], 0) + 1
        if "privileged" in r and entry["text"] is None:
            entry["text"] = r["privileged"]
    total = overall.row()
    training = [
        {"step": m["step"], **{k: m[k] for k in TRAINING_KEYS if k in m}}
        for m in metrics or []
        if any(k in m for k in TRAINING_KEYS)
    ]
    return {
        "records": len(records),
        "tokens": total["tokens"],
        "gate_beta": beta,
        "gap": {
            "mean": total["mean_gap"],
            "std": total["std_gap"],
            "negative_share": total["negative_share"],
            "histogram": {"edges": HIST_EDGES, "counts": counts},
        },
        "gate": {"mean": total["gate_mean"], "active_ratio": total["gate_active_ratio"]},
        "by_turn": [{"turn": k, **by_turn[k].row()} for k in sorted(by_turn)],
        "by_position": [
            {"bin": i, "from": i / POSITION_BINS, "to": (i + 1) / POSITION_BINS, **acc.row()}
            for i, acc in enumerate(by_pos)
        ],
        "by_step": [{"step": k, **by_step[k].row()} for k in sorted(by_step)],
        "training": training,
        "teacher_context": {
            "distinct": len(texts),
            "texts": sorted(texts.values(), key=lambda e: (e["first_step"], e["hash"])),
        },
    }


def analyze_run(run_dir: str | Path) -> dict[str, Any]:
    """`analyze_records` on a run directory; a ValueError if it has no token records."""
    run_dir = Path(run_dir)
    path = run_dir / RECORDS
    records = read_jsonl(path)
    if not records:
        raise ValueError(
            f"{run_dir} has no per-token records ({RECORDS}); train with "
            "run.token_records=0.1 (the share of step-samples to record) to analyze a run"
        )
    report = analyze_records(records, _gate_beta(run_dir), read_jsonl(run_dir / "metrics.jsonl"))
    return {"run_dir": str(run_dir), **report}


# -- output ------------------------------------------------------------------------------------
def _f(x: float | None, digits: int = 4) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def _md_table(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _group_rows(rows: list[dict[str, Any]], key: str) -> list[list[str]]:
    return [
        [
            str(r[key]),
            str(r["tokens"]),
            _f(r["mean_gap"]),
            _f(r["negative_share"]),
            _f(r["gate_mean"]),
        ]
        for r in rows
    ]


def format_markdown(report: dict[str, Any]) -> str:
    gap, gate = report["gap"], report["gate"]
    head = ["tokens", "mean gap", "negative share", "gate mean"]
    edges, counts = gap["histogram"]["edges"], gap["histogram"]["counts"]
    labels = [f"< {edges[0]:g}"]
    labels += [f"[{lo:g}, {hi:g})" for lo, hi in zip(edges, edges[1:], strict=False)]
    labels += [f">= {edges[-1]:g}"]
    out = [
        f"# Token diagnostics: {report['run_dir']}",
        "",
        f"Reproduce: `sdar analyze {report['run_dir']}`. Gap = teacher - student (old) "
        f"log-prob of each sampled token; gate g = sigmoid(beta * gap), beta = "
        f"{report['gate_beta']:g}.",
        "",
        _md_table(
            ["records", "tokens", "mean gap", "std gap", "negative share", "gate mean", "g > 1/2"],
            [
                [
                    str(report["records"]),
                    str(report["tokens"]),
                    _f(gap["mean"]),
                    _f(gap["std"]),
                    _f(gap["negative_share"]),
                    _f(gate["mean"]),
                    _f(gate["active_ratio"]),
                ]
            ],
        ),
        "",
        "## Gap histogram",
        "",
        "![gap histogram](gap_hist.png)",
        "",
        _md_table(
            ["gap", "tokens"], [[lab, str(c)] for lab, c in zip(labels, counts, strict=True) if c]
        ),
        "",
        "## Gap by turn index",
        "",
        "![gap by turn](gap_by_turn.png)",
        "",
        _md_table(["turn", *head], _group_rows(report["by_turn"], "turn")),
        "",
        "## Gap by relative position in the response",
        "",
        "![gap by position](gap_by_position.png)",
        "",
        _md_table(
            ["position", *head],
            [
                [f"{r['from']:.1f}-{r['to']:.1f}", *row[1:]]
                for r, row in zip(
                    report["by_position"], _group_rows(report["by_position"], "bin"), strict=True
                )
            ],
        ),
        "",
        "## Per step (recorded tokens)",
        "",
        _md_table(["step", *head], _group_rows(report["by_step"], "step")),
        "",
        "## Gate over training (metrics.jsonl, all tokens)",
        "",
        "![gate over training](gate_over_training.png)",
        "",
    ]
    if report["training"]:
        out.append(
            _md_table(
                ["step", *TRAINING_KEYS],
                [
                    [str(r["step"]), *(_f(r.get(k)) for k in TRAINING_KEYS)]
                    for r in report["training"]
                ],
            )
        )
    else:
        out.append("No sdar/* metrics in metrics.jsonl (a method without the SDAR gate).")
    ctx = report["teacher_context"]
    out += [
        "",
        "## Teacher-context audit",
        "",
        f"{ctx['distinct']} distinct privileged text(s) among the recorded samples.",
        "",
        _md_table(
            ["hash", "characters", "records", "first step", "task types"],
            [
                [
                    f"`{e['hash']}`",
                    str(e["length"]),
                    str(e["records"]),
                    str(e["first_step"]),
                    ", ".join(f"{k} ({v})" for k, v in sorted(e["task_types"].items())),
                ]
                for e in ctx["texts"]
            ],
        ),
    ]
    for e in ctx["texts"]:
        text = e["text"] if e["text"] is not None else "(text not in the records)"
        out += ["", f"### `{e['hash']}`", "", "```text", text or "(empty)", "```"]
    return "\n".join(out) + "\n"


def plot_analysis(report: dict[str, Any], out: Path) -> list[Path]:
    """gap_hist.png, gap_by_turn.png, gap_by_position.png and gate_over_training.png."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    def figure() -> tuple[Any, Any]:
        fig = Figure(figsize=(6, 4), tight_layout=True)
        FigureCanvasAgg(fig)
        return fig, fig.subplots()

    written = []
    edges, counts = report["gap"]["histogram"]["edges"], report["gap"]["histogram"]["counts"]
    width = edges[1] - edges[0]
    fig, ax = figure()
    centers = (
        [edges[0] - width / 2] + [lo + width / 2 for lo in edges[:-1]] + [edges[-1] + width / 2]
    )
    ax.bar(centers, counts, width=width * 0.9)
    ax.axvline(0.0, color="k", lw=0.8)
    ax.set_xlabel(f"gap (outer bars: < {edges[0]:g} and >= {edges[-1]:g})")
    ax.set_ylabel("tokens")
    ax.set_title("teacher - student log-prob gap")
    written.append(out / PLOTS[0])
    fig.savefig(written[-1], dpi=80)
    for name, key, rows, label in (
        (PLOTS[1], "turn", report["by_turn"], "turn index"),
        (PLOTS[2], "from", report["by_position"], "relative position in the response"),
    ):
        fig, ax = figure()
        pts = [(r[key], r["mean_gap"]) for r in rows if r["mean_gap"] is not None]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-")
        ax.axhline(0.0, color="k", lw=0.8)
        ax.set_xlabel(label)
        ax.set_ylabel("mean gap")
        ax.set_title(f"mean gap by {label}")
        written.append(out / name)
        fig.savefig(written[-1], dpi=80)
    fig, ax = figure()
    for key in TRAINING_KEYS:
        pts = [(r["step"], r[key]) for r in report["training"] if key in r]
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=key)
    if report["training"]:
        ax.legend()
    ax.set_xlabel("step")
    ax.set_title("gate statistics over training")
    written.append(out / PLOTS[3])
    fig.savefig(written[-1], dpi=80)
    return written


def write_analysis(run_dir: str | Path, out: str | Path | None = None) -> dict[str, Any]:
    """`analyze_run`, then analysis.md and the PNGs under ``out`` (RUN_DIR/analysis)."""
    report = analyze_run(run_dir)
    out = Path(out) if out is not None else Path(run_dir) / "analysis"
    out.mkdir(parents=True, exist_ok=True)
    report["plots"] = [p.name for p in plot_analysis(report, out)]
    (out / "analysis.md").write_text(format_markdown(report))
    report["out"] = str(out)
    return report
