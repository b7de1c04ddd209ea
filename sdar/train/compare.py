"""Multi-seed comparison of run directories (`sdar compare`) and the grid that makes them
(`sdar sweep`).

A run directory is what `sdar train --output DIR` writes: config.yaml (method, seed),
summary.json (only once the run has finished), evals.jsonl (one line per panel evaluation)
and metrics.jsonl (one line per step). Runs are grouped by method and paired by seed:

- per method: n, mean and a 95% Student-t interval over its seeds;
- per method against the baseline: the mean of the paired differences over the seeds both
  have, its 95% paired Student-t interval, and n_pairs;
- every run that failed (no summary.json), every seed a method lacks, and every seed left
  out of a paired difference is listed under ``missing``, never dropped silently.

Metrics are dotted paths: ``eval_after.success`` (final panel success, the default) or any
other key of summary.json, and ``best.success``: the best panel success over the run's
evaluations (evals.jsonl rows without skills in the prompt, step 0 included);
``best.step`` is the step it was reached at. The Student-t quantile is computed here (the
regularized incomplete beta function, then bisection), without scipy.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

logger = logging.getLogger(__name__)

FINAL = "eval_after.success"
BEST = "best.success"
METRIC_TITLES = {FINAL: "final panel success", BEST: "best-step panel success"}
GATE_KEYS = ("sdar/gate_mean", "sdar/gate_active_ratio", "sdar/gap_mean")
PLOTS = ("success.png", "gate.png", "reward.png")


# -- Student-t ---------------------------------------------------------------------------------
def _beta_cf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 500):
        for aa in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + aa * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + aa / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _beta_cf(a, b, x) / a
    return 1.0 - front * _beta_cf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with df degrees of freedom."""
    tail = 0.5 * betainc(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t >= 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The p-quantile of Student's t with df degrees of freedom (t_{0.975,2} = 4.303)."""
    if not 0.0 < p < 1.0 or df <= 0:
        raise ValueError(f"t_quantile needs 0 < p < 1 and df > 0, got p={p}, df={df}")
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    lo, hi = 0.0, 2.0
    while t_cdf(hi, df) < p:
        lo, hi = hi, 2.0 * hi
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-12 * hi:
            break
    return 0.5 * (lo + hi)


def wilson_interval(wins: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """95% Wilson score interval of a binomial rate ``wins / n`` ((0, 1) when n = 0)."""
    if n <= 0:
        return 0.0, 1.0
    p = wins / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def mean_ci(values: list[float], level: float = 0.95) -> dict[str, Any]:
    """n, mean, sample standard deviation and the Student-t interval of the mean.

    Fewer than 2 values give no interval (``ci95`` None and a ``note``), not [mean, mean].
    """
    n = len(values)
    out: dict[str, Any] = {"n": n, "mean": None, "sd": None, "ci95": None}
    if n == 0:
        out["note"] = "n=0: no values"
        return out
    mean = math.fsum(values) / n
    out["mean"] = mean
    if n < 2:
        out["note"] = "n<2: no interval"
        return out
    sd = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    half = t_quantile(0.5 + level / 2.0, n - 1) * sd / math.sqrt(n)
    out.update(sd=sd, ci95=[mean - half, mean + half])
    return out


# -- run directories ---------------------------------------------------------------------------
def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The rows of a JSONL file; a truncated last line (a killed run) is skipped."""
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def _number(x: Any) -> float | None:
    if isinstance(x, bool) or not isinstance(x, (int, float)) or math.isnan(x):
        return None
    return float(x)


@dataclass
class Run:
    """One run directory, finished (summary.json present) or not."""

    path: Path
    method: str | None
    seed: int | None
    preset: str | None
    steps: int | None
    summary: dict[str, Any] | None
    evals: list[dict[str, Any]] = field(default_factory=list)
    """Panel evaluations without skills in the prompt, in step order."""
    metrics: list[dict[str, Any]] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.summary is not None

    def best(self) -> dict[str, Any] | None:
        """The evaluation with the highest panel success (the earliest step on ties)."""
        rows = [r for r in self.evals if _number(r.get("success")) is not None]
        if not rows and self.summary:  # no evals.jsonl: the summary's two evaluations
            before, after = self.summary.get("eval_before"), self.summary.get("eval_after")
            rows = [
                {**e, "step": s}
                for e, s in ((before, 0), (after, self.steps))
                if isinstance(e, dict) and _number(e.get("success")) is not None
            ]
        if not rows:
            return None
        return max(rows, key=lambda r: (r["success"], -(r.get("step") or 0)))

    def value(self, metric: str) -> float | None:
        """A dotted metric: ``best.<key>`` from the best evaluation, else a summary.json path."""
        if self.summary is None:
            return None
        head, *rest = metric.split(".")
        obj: Any = self.best() if head == "best" else self.summary.get(head)
        for key in rest:
            obj = obj.get(key) if isinstance(obj, dict) else None
        return _number(obj)


def load_run(path: str | Path) -> Run:
    path = Path(path)
    config: dict[str, Any] = {}
    if (path / "config.yaml").is_file():
        try:
            config = yaml.safe_load((path / "config.yaml").read_text()) or {}
        except yaml.YAMLError as exc:
            logger.warning("%s: config.yaml is not valid YAML (%s)", path, exc)
    summary = None
    if (path / "summary.json").is_file():
        try:
            summary = json.loads((path / "summary.json").read_text())
        except json.JSONDecodeError as exc:
            logger.warning("%s: summary.json is not valid JSON (%s)", path, exc)
    algo, run = config.get("algo") or {}, config.get("run") or {}
    seed = run.get("seed")
    evals = [r for r in read_jsonl(path / "evals.jsonl") if not r.get("with_skills")]
    return Run(
        path=path,
        method=(summary or {}).get("method") or algo.get("method"),
        seed=seed if isinstance(seed, int) and not isinstance(seed, bool) else None,
        preset=config.get("preset"),
        steps=(summary or {}).get("steps", run.get("steps")),
        summary=summary,
        evals=sorted(evals, key=lambda r: r.get("step") or 0),
        metrics=read_jsonl(path / "metrics.jsonl"),
    )


def _is_run_dir(path: Path) -> bool:
    return (path / "config.yaml").is_file() or (path / "summary.json").is_file()


def find_run_dirs(paths: list[str | Path]) -> list[Path]:
    """Run directories among ``paths``; a folder that is not one stands for its children that
    are (a sweep folder)."""
    found: list[Path] = []
    for p in map(Path, paths):
        if not p.is_dir():
            raise FileNotFoundError(f"{p} is not a directory; pass run directories")
        if _is_run_dir(p):
            found.append(p)
            continue
        children = sorted(c for c in p.iterdir() if c.is_dir() and _is_run_dir(c))
        if not children:
            raise FileNotFoundError(
                f"{p} is neither a run directory (no config.yaml or summary.json) "
                "nor a folder of run directories"
            )
        found.extend(children)
    unique = list(dict.fromkeys(p.resolve() for p in found))
    return [next(f for f in found if f.resolve() == u) for u in unique]


# -- the comparison ----------------------------------------------------------------------------
def _missing(run: Run | None, method: str | None, seed: int | None, reason: str) -> dict:
    return {
        "run_dir": None if run is None else str(run.path),
        "method": method,
        "seed": seed,
        "reason": reason,
    }


def select_runs(
    runs: list[Run], expected: list[tuple[str, int]] | None = None
) -> tuple[list[Run], list[dict[str, Any]]]:
    """The finished run used for each (method, seed), and what is missing or failed."""
    missing: list[dict[str, Any]] = []
    used: dict[tuple[str, int], Run] = {}
    seen: set[tuple[str, int]] = set()
    for run in runs:
        if run.method is None:
            missing.append(_missing(run, None, run.seed, "no method: neither summary nor config"))
            continue
        if run.seed is None:
            missing.append(_missing(run, run.method, None, "no run.seed in config.yaml"))
            continue
        key = (run.method, run.seed)
        seen.add(key)
        if not run.finished:
            done = max((int(r.get("step", 0)) for r in run.metrics), default=0)
            missing.append(
                _missing(
                    run,
                    *key,
                    f"no summary.json: failed or unfinished (metrics up to step {done} "
                    f"of {run.steps if run.steps is not None else '?'})",
                )
            )
        elif key in used:
            missing.append(_missing(run, *key, f"duplicate of {used[key].path} (used); left out"))
        else:
            used[key] = run
    methods = sorted({m for m, _ in seen} | {m for m, _ in expected or []})
    seeds = sorted({s for _, s in seen} | {s for _, s in expected or []})
    for m in methods:
        for s in seeds:
            if (m, s) not in seen:
                missing.append(_missing(None, m, s, "no run directory for this seed"))
    return list(used.values()), missing


def compare_metric(
    runs: list[Run], metric: str, baseline: str, methods: list[str] | None = None
) -> dict[str, Any]:
    """The per-method and paired tables of one metric over the selected runs; ``methods``
    adds rows (n = 0) for methods none of whose runs finished."""
    values: dict[str, dict[int, float]] = {m: {} for m in methods or []}
    missing: list[dict[str, Any]] = []
    for run in runs:
        assert run.method is not None and run.seed is not None
        per_seed = values.setdefault(run.method, {})
        v = run.value(metric)
        if v is None:
            missing.append(_missing(run, run.method, run.seed, f"no value for {metric}"))
        else:
            per_seed[run.seed] = v
    order = sorted(values, key=lambda m: (m != baseline, m))
    methods = {}
    for m in order:
        seeds = sorted(values[m])
        methods[m] = {
            **mean_ci([values[m][s] for s in seeds]),
            "seeds": seeds,
            "values": [values[m][s] for s in seeds],
        }
    paired: dict[str, Any] = {}
    base = values.get(baseline, {})
    if not base:
        missing.append(
            _missing(
                None, baseline, None, f"baseline {baseline} has no value: no paired differences"
            )
        )
    else:
        for m in order:
            if m == baseline:
                continue
            shared = sorted(set(values[m]) & set(base))
            for s in sorted(set(values[m]) - set(base)):
                missing.append(
                    _missing(
                        None,
                        m,
                        s,
                        f"baseline {baseline} has no value for seed {s}: "
                        "left out of the paired difference",
                    )
                )
            diffs = [values[m][s] - base[s] for s in shared]
            stats = mean_ci(diffs)
            paired[m] = {
                "baseline": baseline,
                "n_pairs": stats.pop("n"),
                "mean_diff": stats.pop("mean"),
                **stats,
                "seeds": shared,
                "diffs": diffs,
            }
    return {"metric": metric, "methods": methods, "paired": paired, "missing": missing}


def _notes(runs: list[Run]) -> list[str]:
    notes = []
    for name, get in (
        ("preset", lambda r: r.preset),
        ("steps", lambda r: r.steps),
        ("env", lambda r: (r.summary or {}).get("env")),
    ):
        distinct = sorted({str(get(r)) for r in runs})
        if len(distinct) > 1:
            notes.append(f"the runs differ in {name}: {', '.join(distinct)}")
    return notes


def build_report(
    runs: list[Run],
    metric: str = FINAL,
    baseline: str = "grpo",
    expected: list[tuple[str, int]] | None = None,
) -> dict[str, Any]:
    """The comparison as one JSON-ready object.

    Top level: the tables of ``metric`` (``metric``, ``methods``, ``paired``, ``missing``),
    then ``baseline``, ``final`` and ``best`` (the same tables for eval_after.success and
    best.success), ``notes`` and ``runs``. ``missing`` holds the failed or absent runs,
    then that metric's own gaps (no value, unpaired seeds).
    """
    used, run_missing = select_runs(runs, expected)
    names = sorted({r.method for r in runs if r.method} | {m for m, _ in expected or []})
    blocks = {}
    for name, m in (("selected", metric), ("final", FINAL), ("best", BEST)):
        block = compare_metric(used, m, baseline, names)
        block["missing"] = run_missing + block["missing"]
        blocks[name] = block
    notes = _notes(used)
    for note in notes:
        logger.warning("%s", note)
    used_ids = {id(r) for r in used}
    listing = []
    for run in runs:
        best = run.best() if run.finished else None
        listing.append(
            {
                "run_dir": str(run.path),
                "method": run.method,
                "seed": run.seed,
                "finished": run.finished,
                "used": id(run) in used_ids,
                "before": run.value("eval_before.success"),
                "final": run.value(FINAL),
                "best": run.value(BEST),
                "best_step": None if best is None else best.get("step"),
                "valid_before": run.value("eval_before.valid_ratio"),
                "valid_after": run.value("eval_after.valid_ratio"),
                "wall_seconds": run.value("wall_seconds"),
            }
        )
    return {
        **blocks["selected"],
        "baseline": baseline,
        "final": blocks["final"],
        "best": blocks["best"],
        "notes": notes,
        "runs": listing,
    }


# -- tables ------------------------------------------------------------------------------------
def _f(x: float | None, signed: bool = False) -> str:
    if x is None:
        return "-"
    return f"{x:+.3f}" if signed else f"{x:.3f}"


def _ci(ci: list[float] | None, note: str | None = None, signed: bool = False) -> str:
    if ci is None:
        return f"- ({note})" if note else "-"
    return f"[{_f(ci[0], signed)}, {_f(ci[1], signed)}]"


def _tables(block: dict[str, Any], baseline: str) -> list[tuple[list[str], list[list[str]]]]:
    head = ["method", "n", "mean", "95% CI", "seeds"]
    rows = [
        [m, str(s["n"]), _f(s["mean"]), _ci(s["ci95"], s.get("note")), _seeds(s["seeds"])]
        for m, s in block["methods"].items()
    ]
    pair_head = [f"vs {baseline}", "n_pairs", "mean diff", "95% CI", "seeds"]
    pair_rows = [
        [
            m,
            str(p["n_pairs"]),
            _f(p["mean_diff"], signed=True),
            _ci(p["ci95"], p.get("note"), signed=True),
            _seeds(p["seeds"]),
        ]
        for m, p in block["paired"].items()
    ]
    return [(head, rows), (pair_head, pair_rows)]


def _seeds(seeds: list[int]) -> str:
    return ",".join(map(str, seeds)) or "-"


def _text_table(head: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    return "\n".join(
        "  ".join(
            c.ljust(w) if i in (0, len(head) - 1) else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ).rstrip()
        for r in [head, *rows]
    )


def _md_table(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _blocks(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The metric blocks to show, selected metric first, each once."""
    out, seen = [], set()
    for block in (report, report["final"], report["best"]):
        if block["metric"] not in seen:
            seen.add(block["metric"])
            out.append(block)
    return out


def _missing_line(m: dict[str, Any]) -> str:
    who = m["method"] or "?"
    if m["seed"] is not None:
        who += f" seed {m['seed']}"
    elif m["run_dir"]:
        who += " seed ?"
    where = f" ({m['run_dir']})" if m["run_dir"] else ""
    return f"{who}{where}: {m['reason']}"


RUN_HEAD = ["method", "seed", "before", "final", "gain", "best (step)", "valid", "wall"]


def _run_rows(report: dict[str, Any]) -> list[list[str]]:
    """One row per finished run: panel success before RL, final, best, and validity."""
    rows = []
    for r in sorted(
        (r for r in report["runs"] if r["finished"]),
        key=lambda r: (r["method"] or "", -1 if r["seed"] is None else r["seed"]),
    ):
        gain = None if None in (r["before"], r["final"]) else r["final"] - r["before"]
        valid = (
            "-"
            if None in (r["valid_before"], r["valid_after"])
            else f"{r['valid_before']:.3f} -> {r['valid_after']:.3f}"
        )
        rows.append(
            [
                r["method"] or "?",
                "?" if r["seed"] is None else str(r["seed"]),
                _f(r["before"]),
                _f(r["final"]),
                _f(gain, signed=True),
                _f(r["best"]) + ("" if r["best_step"] is None else f" ({r['best_step']})"),
                valid,
                "-" if r["wall_seconds"] is None else f"{r['wall_seconds']:.0f} s",
            ]
        )
    return rows


def format_text(report: dict[str, Any]) -> str:
    """The tables as plain text (the output of `sdar compare` without --json)."""
    parts = []
    for block in _blocks(report):
        title = METRIC_TITLES.get(block["metric"])
        parts.append(f"== {block['metric']}" + (f" ({title}) ==" if title else " =="))
        for head, rows in _tables(block, report["baseline"]):
            if rows:
                parts.append(_text_table(head, rows))
    runs = _run_rows(report)
    if runs:
        parts.append("== runs (panel success before RL, final, best; valid-action ratio) ==")
        parts.append(_text_table(RUN_HEAD, runs))
    missing = {_missing_line(m) for b in _blocks(report) for m in b["missing"]}
    if missing:
        parts.append("missing or failed:\n" + "\n".join(f"  {x}" for x in sorted(missing)))
    parts += [f"note: {n}" for n in report["notes"]]
    return "\n".join(parts)


def format_markdown(report: dict[str, Any], command: str, plots: list[str]) -> str:
    n_used = sum(r["used"] for r in report["runs"])
    lines = [
        "# Comparison of methods over seeds",
        "",
        f"Command: `{command}`" if command else "",
        "",
        f"{len(report['runs'])} run directories, {n_used} finished runs used; baseline "
        f"`{report['baseline']}`. Intervals: 95% Student-t over seeds; paired: over the seeds "
        "both the method and the baseline have.",
    ]
    for block in _blocks(report):
        title = METRIC_TITLES.get(block["metric"], "metric")
        lines += ["", f"## {title[0].upper() + title[1:]} (`{block['metric']}`)"]
        for head, rows in _tables(block, report["baseline"]):
            if rows:
                lines += ["", _md_table(head, rows)]
    missing = sorted({_missing_line(m) for b in _blocks(report) for m in b["missing"]})
    lines += ["", "## Missing or failed runs", ""]
    lines += [f"- {x}" for x in missing] or ["none"]
    if report["notes"]:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in report["notes"]]
    if plots:
        lines += ["", "## Plots", ""] + [f"![{p}]({p})" for p in plots]
    runs = _run_rows(report)
    if runs:
        lines += [
            "",
            "## Before and after, per run",
            "",
            "Panel success of the starting policy (before), at the last step (final) and at "
            "the best evaluation (its step); the panel's valid-action ratio before -> after; "
            "the run's wall time.",
            "",
            _md_table(RUN_HEAD, runs),
        ]
    lines += ["", "## Runs", ""]
    rows = [
        [
            f"`{r['run_dir']}`",
            r["method"] or "?",
            "?" if r["seed"] is None else str(r["seed"]),
            ("used" if r["used"] else "finished, not used")
            if r["finished"]
            else "failed or unfinished",
            _f(r["final"]),
            _f(r["best"]) + ("" if r["best_step"] is None else f" (step {r['best_step']})"),
        ]
        for r in report["runs"]
    ]
    lines.append(_md_table(["run directory", "method", "seed", "status", FINAL, BEST], rows))
    return "\n".join(lines) + "\n"


# -- plots -------------------------------------------------------------------------------------
def method_curves(
    runs: list[Run], source: str, key: str
) -> dict[str, list[tuple[float, float, float, float, int]]]:
    """Per method, (step, mean, min, max, n) over its runs of ``key`` in evals or metrics."""
    per: dict[str, dict[float, list[float]]] = {}
    for run in runs:
        rows = run.evals if source == "evals" else run.metrics
        for r in rows:
            v, step = _number(r.get(key)), _number(r.get("step"))
            if v is not None and step is not None:
                per.setdefault(run.method or "?", {}).setdefault(step, []).append(v)
    return {
        m: [(s, math.fsum(v) / len(v), min(v), max(v), len(v)) for s, v in sorted(by.items())]
        for m, by in sorted(per.items())
    }


def _draw(ax: Any, curves: dict[str, list[tuple]], title: str, colors: dict[str, str]) -> None:
    for m, pts in curves.items():
        steps, mean, lo, hi, _ = zip(*pts, strict=True)
        style = "o-" if len(steps) < 30 else "-"
        ax.plot(steps, mean, style, ms=3, color=colors[m], label=m)
        ax.fill_between(steps, lo, hi, color=colors[m], alpha=0.2, linewidth=0)
    if not curves:
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
    else:
        ax.legend(fontsize=8)
    ax.set_title(title)
    ax.set_xlabel("step")


def plot_compare(runs: list[Run], out: Path) -> list[Path]:
    """success.png, gate.png and reward.png: per method the mean over seeds and a min-max
    band."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    written = []
    colors = {m: f"C{i % 10}" for i, m in enumerate(sorted({r.method or "?" for r in runs}))}
    specs = (
        ("success.png", [("evals", "success", "panel success (mean, min-max band)")]),
        ("gate.png", [("metrics", k, k) for k in GATE_KEYS]),
        ("reward.png", [("metrics", "rollout/reward", "training reward (mean, min-max)")]),
    )
    for name, panels in specs:
        fig = Figure(figsize=(5 * len(panels), 4), tight_layout=True)
        FigureCanvasAgg(fig)
        axes = fig.subplots(1, len(panels), squeeze=False)[0]
        for ax, (source, key, title) in zip(axes, panels, strict=True):
            _draw(ax, method_curves(runs, source, key), title, colors)
        fig.savefig(out / name, dpi=80)
        written.append(out / name)
    return written


# -- entry points ------------------------------------------------------------------------------
def compare_dirs(
    paths: list[str | Path],
    metric: str = FINAL,
    baseline: str = "grpo",
    out: str | Path | None = None,
    command: str = "",
    expected: list[tuple[str, int]] | None = None,
) -> dict[str, Any]:
    """Load the runs under ``paths``, compare them, and with ``out`` write report.md and the
    PNGs there. ``expected``: the (method, seed) grid that should exist (a sweep's)."""
    runs = [load_run(p) for p in find_run_dirs(paths)]
    report = build_report(runs, metric, baseline, expected)
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        used = [r for r, x in zip(runs, report["runs"], strict=True) if x["used"]]
        plots = [p.name for p in plot_compare(used, out)]
        (out / "report.md").write_text(format_markdown(report, command, plots))
        logger.info("wrote %s", out / "report.md")
    return report


def parse_seeds(text: str) -> list[int]:
    """``0-4`` -> [0, 1, 2, 3, 4]; ``0,2,5`` -> [0, 2, 5]; ``0-2,7`` mixes both."""
    seeds: list[int] = []
    for part in text.split(","):
        m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if m is None or (m[2] is not None and int(m[2]) < int(m[1])):
            raise ValueError(f"--seeds {text!r}: write a range like 0-4 or a list like 0,2,5")
        seeds.extend(range(int(m[1]), int(m[2] or m[1]) + 1))
    return list(dict.fromkeys(seeds))


WARM_DIR = "warm-starts"
"""Subfolder of a sweep holding one shared warm start per seed (``--share-warm-start``)."""


METHOD_OVERRIDES: dict[str, tuple[str, ...]] = {"grpo_opsd": ("algo.gate_beta=0",)}
"""What a method needs on any preset: GRPO+OPSD is the SDAR term with a constant gate."""


def method_overrides(method: str) -> list[str]:
    """``algo.method=M`` and the keys `METHOD_OVERRIDES` fixes for it."""
    return [f"algo.method={method}", *METHOD_OVERRIDES.get(method, ())]


def _run_all(cmds: list[tuple[Path, list[str] | None]], jobs: int) -> list[int]:
    """Run the commands (None: nothing to run), at most ``jobs`` at a time; exit codes."""

    def one(item: tuple[Path, list[str] | None]) -> int:
        run_dir, cmd = item
        if cmd is None:
            return 0
        logger.info("%s: %s", run_dir, shlex.join(cmd))
        rc = subprocess.run(cmd, check=False).returncode
        if rc != 0:
            logger.warning("%s: exited with %d", run_dir, rc)
        return rc

    if jobs <= 1:
        return [one(c) for c in cmds]
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(one, cmds))


def sweep(
    preset: str,
    methods: list[str],
    seeds: list[int],
    out: str | Path,
    overrides: list[str] | None = None,
    quiet: bool = True,
    jobs: int = 1,
    share_warm_start: bool = False,
) -> list[dict[str, Any]]:
    """Run every (method, seed) as OUT/{method}-s{seed}, each a subprocess of ``sdar
    train`` (a failure does not stop the others): a directory with summary.json is
    skipped, one that was started (config.yaml) is resumed. Returns one record per run:
    run_dir, method, seed, action (trained/resumed/skipped), returncode.

    ``jobs`` > 1 runs that many at once, each with ``run.threads`` = cores / jobs (unless
    the overrides set it). ``share_warm_start`` first runs the preset's warm start once
    per seed (``sdar sft``, into OUT/warm-starts/s{seed}) and starts every method of that
    seed from it (``model.name=<it>/base_model sft.episodes=0``): the warm start depends on
    the seed and the SFT settings only, so this gives the runs the very policy each would
    have built, at a fraction of the time, and pairs the methods on one starting point.
    """
    overrides = list(overrides or [])
    for o in overrides:
        if o.split("=", 1)[0].strip() in ("algo.method", "run.seed", "run.output"):
            raise ValueError(f"{o}: sweep sets algo.method, run.seed and the output itself")
    if jobs < 1:
        raise ValueError(f"--jobs {jobs}: expected at least 1")
    if jobs > 1 and not any(o.split("=", 1)[0].strip() == "run.threads" for o in overrides):
        overrides.append(f"run.threads={max(1, (os.cpu_count() or 1) // jobs)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    base = [sys.executable, "-m", "sdar"]
    quiet_flag = ["--quiet"] if quiet else []
    warm: dict[int, list[str]] = {seed: [] for seed in seeds}
    if share_warm_start:
        cmds: list[tuple[Path, list[str] | None]] = []
        for seed in seeds:
            wdir = (out / WARM_DIR / f"s{seed}").resolve()
            done = (wdir / "base_model" / "config.json").is_file()
            cmd = [*base, "sft", "--preset", preset, "--output", str(wdir), f"run.seed={seed}"]
            cmds.append((wdir, None if done else [*cmd, *overrides]))
            warm[seed] = [f"model.name={wdir / 'base_model'}", "sft.episodes=0"]
        for (wdir, _), rc in zip(cmds, _run_all(cmds, jobs), strict=True):
            if rc != 0:
                logger.warning("%s: the warm start failed; its runs will fail too", wdir)
    grid = [(method, seed) for method in methods for seed in seeds]
    cmds, actions = [], []
    for method, seed in grid:
        run_dir = out / f"{method}-s{seed}"
        if (run_dir / "summary.json").is_file():
            action, cmd = "skipped", None
            logger.info("%s: finished already (summary.json), skipped", run_dir)
        elif (run_dir / "config.yaml").is_file():
            action, cmd = "resumed", [*base, "train", *quiet_flag, "--resume", str(run_dir)]
        else:
            action = "trained"
            cmd = [
                *base,
                "train",
                *quiet_flag,
                "--preset",
                preset,
                "--output",
                str(run_dir),
                f"run.seed={seed}",
                *overrides,
                *method_overrides(method),
                *warm[seed],
            ]
        cmds.append((run_dir, cmd))
        actions.append(action)
    codes = _run_all(cmds, jobs)
    return [
        {
            "run_dir": str(run_dir),
            "method": method,
            "seed": seed,
            "action": action,
            "returncode": rc,
        }
        for (method, seed), (run_dir, _), action, rc in zip(grid, cmds, actions, codes, strict=True)
    ]
