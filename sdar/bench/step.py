"""Seconds and peak memory per phase of one training step, GRPO vs SDAR on the same batch.

1. Both methods start from the same weights and optimizer state and play the same tasks
   with the same sampling seed, so the rollouts are identical; the difference is the
   teacher pass (scoring) and the extra loss term (update). Steps alternate (GRPO, SDAR,
   SDAR, GRPO, ...) in one process; the table gives the median of each phase and the
   ratio SDAR/GRPO (``sdar_grpo_step_time_ratio`` is the ratio of median step times).
2. Peak memory of each step: on CUDA the allocator's peak (``max_memory_allocated``,
   reset before each step); elsewhere the process's peak resident set size during the step,
   sampled every 5 ms from ``/proc/self/statm`` by a thread (``ru_maxrss`` only holds the
   lifetime peak). ``sdar_grpo_peak_memory_ratio`` is the ratio of the median peaks (the
   whole process: weights, optimizer state, activations); the increments above the
   resident size before the step are reported beside it.
3. The teacher pass on the last SDAR step's samples, with and without the shared-prefix
   cache (`sdar.models.prefix.score_grouped` vs `sdar.models.logprobs.score`), alternating:
   ``teacher_prefix_cache_speedup`` is the ratio of the median times, and
   ``teacher_prefix_cache_max_abs_diff`` the largest log-prob difference between the two.

    sdar bench step [--json] [--quick] [--preset quickstart] [--repeats 3] [--threads N]
                    [key=value ...]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from sdar.models.logprobs import score
from sdar.models.prefix import score_grouped
from sdar.train.config import load_config
from sdar.train.loop import Trainer
from sdar.train.methods import get_method
from sdar.train.scoring import teacher_contexts
from sdar.train.setup import make_venv

PHASES = ("time/rollout", "time/advantages", "time/score", "time/update", "time/step")


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_memory(fn: Callable[[], Any], device: torch.device) -> tuple[Any, int, int]:
    """Run ``fn``; returns ``(result, peak bytes, bytes in use before)``."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        result = fn()
        torch.cuda.synchronize(device)
        return result, torch.cuda.max_memory_allocated(device), before
    before = peak = _rss()
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.wait(0.005):
            peak = max(peak, _rss())

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        result = fn()
    finally:
        stop.set()
        thread.join()
    return result, max(peak, _rss()), before


def teacher_pass(trainer: Trainer, samples: list, repeats: int) -> dict[str, float]:
    """Median seconds of the teacher pass with and without the prefix cache."""
    cfg, policy = trainer.cfg, trainer.policy
    contexts = teacher_contexts(
        samples,
        policy,
        trainer.spec,
        history_length=cfg.env.history_length,
        think=cfg.env.think,
        placement=cfg.teacher.placement,
        max_prompt_tokens=cfg.teacher.max_prompt_tokens,
        truncation=cfg.teacher.truncation,
    )
    kept = [c for c in contexts if not c.dropped]
    prompts, responses = [c.prompt_ids for c in kept], [c.response_ids for c in kept]
    kw = dict(
        pad_id=policy.pad_id,
        token_budget=cfg.optim.score_token_budget,
        temperature=cfg.rollout.temperature,
        device=policy.device,
    )
    times: dict[str, list[float]] = {"cached": [], "plain": []}
    out: dict[str, list] = {}
    policy.model.eval()
    for r in range(repeats):
        for name in ("cached", "plain") if r % 2 == 0 else ("plain", "cached"):
            start = time.perf_counter()
            with policy.autocast():
                if name == "cached":
                    out[name], _, ratio = score_grouped(policy.model, prompts, responses, **kw)
                else:
                    out[name], _ = score(policy.model, prompts, responses, **kw)
            times[name].append(time.perf_counter() - start)
    diff = max(
        ((a - b).abs().max().item() for a, b in zip(out["cached"], out["plain"], strict=True)),
        default=0.0,
    )
    cached, plain = statistics.median(times["cached"]), statistics.median(times["plain"])
    return {
        "teacher_pass_s_cached": cached,
        "teacher_pass_s_plain": plain,
        "teacher_prefix_cache_speedup": plain / cached,
        "teacher_prefix_cache_max_abs_diff": diff,
        "teacher_prefix_cached_ratio": ratio,
        "teacher_samples": float(len(kept)),
        "teacher_prompt_tokens_mean": sum(map(len, prompts)) / max(len(prompts), 1),
    }


def run(preset: str, repeats: int, overrides: list[str]) -> dict[str, Any]:
    cfg = load_config(preset, ["sft.episodes=0", "algo.method=sdar", *overrides])
    trainer = Trainer(cfg, Path(tempfile.mkdtemp(prefix="sdar-bench-")))
    trainer._prepare(resume=False)
    start = copy.deepcopy(trainer.policy.model.state_dict())
    opt_start = copy.deepcopy(trainer.optimizer.state_dict())
    n_slots = cfg.rollout.tasks_per_step * cfg.rollout.group_size
    venv = make_venv(cfg, trainer.spec, trainer.options, n_slots)
    captured: dict[str, list] = {}
    score_fn = trainer._score

    def capture(samples: list, need_old: bool = True) -> Any:
        captured["samples"] = samples
        return score_fn(samples, need_old=need_old)

    trainer._score = capture
    times: dict[str, dict[str, list[float]]] = {"grpo": {}, "sdar": {}}
    peaks: dict[str, list[int]] = {"grpo": [], "sdar": []}
    deltas: dict[str, list[int]] = {"grpo": [], "sdar": []}
    samples: dict[str, float] = {}
    load_before = os.getloadavg()[0]
    try:
        for r in range(repeats):
            for name in ("grpo", "sdar") if r % 2 == 0 else ("sdar", "grpo"):
                trainer.policy.model.load_state_dict(start)
                trainer.optimizer.load_state_dict(opt_start)
                trainer.method = get_method(name)
                (metrics, _), peak, before = peak_memory(
                    lambda: trainer.train_step(1, venv), trainer.policy.device
                )
                peaks[name].append(peak)
                deltas[name].append(peak - before)
                samples[name] = metrics["rollout/samples"]
                for k in PHASES:
                    times[name].setdefault(k, []).append(metrics[k])
        teacher = teacher_pass(trainer, captured["samples"], max(repeats, 2))
    finally:
        venv.close()
    med = {
        n: {k.split("/")[1]: statistics.median(v) for k, v in t.items()} for n, t in times.items()
    }
    mib = 2**20
    return {
        "preset": preset,
        "tasks": cfg.rollout.tasks_per_step,
        "group_size": cfg.rollout.group_size,
        "samples_grpo": samples["grpo"],
        "samples_sdar": samples["sdar"],
        "repeats": repeats,
        "torch_threads": torch.get_num_threads(),
        "device": str(trainer.policy.device),
        "memory_measure": "cuda max_memory_allocated"
        if trainer.policy.device.type == "cuda"
        else "peak RSS sampled every 5 ms",
        "grpo_s": med["grpo"],
        "sdar_s": med["sdar"],
        "sdar_grpo_step_time_ratio": med["sdar"]["step"] / med["grpo"]["step"],
        "sdar_grpo_score_time_ratio": med["sdar"]["score"] / med["grpo"]["score"],
        "peak_memory_mib_grpo": statistics.median(peaks["grpo"]) / mib,
        "peak_memory_mib_sdar": statistics.median(peaks["sdar"]) / mib,
        "sdar_grpo_peak_memory_ratio": statistics.median(peaks["sdar"])
        / statistics.median(peaks["grpo"]),
        "step_memory_increment_mib_grpo": statistics.median(deltas["grpo"]) / mib,
        "step_memory_increment_mib_sdar": statistics.median(deltas["sdar"]) / mib,
        **teacher,
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--quick", action="store_true", help="2 repeats (default 3)")
    parser.add_argument("--preset", default="quickstart")
    parser.add_argument("--repeats", type=int)
    parser.add_argument(
        "--threads", type=int, help="torch threads (1 is steadier on a busy shared box)"
    )
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    repeats = args.repeats or (2 if args.quick else 3)
    if args.threads:
        torch.set_num_threads(args.threads)
    out = run(args.preset, repeats, args.overrides)
    if args.json:
        print(json.dumps(out, indent=2))
        return
    print(
        f"preset {out['preset']}: {out['tasks']} tasks x {out['group_size']} rollouts, samples "
        f"GRPO {out['samples_grpo']:.0f} / SDAR {out['samples_sdar']:.0f}, "
        f"{out['torch_threads']} torch threads, median of {repeats}, "
        f"load {out['load_before']:.2f} -> {out['load_after']:.2f}"
    )
    print(f"{'phase':<12}{'GRPO s':>10}{'SDAR s':>10}{'SDAR/GRPO':>11}")
    for k, g in out["grpo_s"].items():
        s = out["sdar_s"][k]
        print(f"{k:<12}{g:>10.2f}{s:>10.2f}{s / g if g else float('nan'):>11.2f}")
    print(
        f"peak memory ({out['memory_measure']}): GRPO {out['peak_memory_mib_grpo']:.0f} MiB, "
        f"SDAR {out['peak_memory_mib_sdar']:.0f} MiB, "
        f"ratio {out['sdar_grpo_peak_memory_ratio']:.3f}"
    )
    print(
        f"teacher pass: {out['teacher_pass_s_plain']:.2f} s plain, "
        f"{out['teacher_pass_s_cached']:.2f} s with the prefix cache "
        f"({out['teacher_prefix_cache_speedup']:.2f}x, {out['teacher_prefix_cached_ratio']:.0%} "
        f"of prompt tokens cached, max |dlogp| {out['teacher_prefix_cache_max_abs_diff']:.1e})"
    )


if __name__ == "__main__":
    main()
