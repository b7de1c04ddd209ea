"""Seconds per phase of one training step, GRPO vs SDAR on the same batch.

Both methods start from the same weights and play the same tasks with the same sampling
seed, so the rollouts are identical; the difference is the teacher pass (scoring) and the
extra loss term (update). Runs alternate (GRPO, SDAR, GRPO, SDAR, ...) in one process and
the table reports the median of each phase and the SDAR/GRPO ratio.

    sdar bench step_phases [--preset quickstart] [--repeats 3] [key=value ...]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import tempfile
from pathlib import Path

import torch

from sdar.train.config import load_config
from sdar.train.loop import Trainer
from sdar.train.methods import get_method
from sdar.train.setup import make_venv

PHASES = ("time/rollout", "time/score", "time/update", "time/step")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="quickstart")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    cfg = load_config(args.preset, ["sft.episodes=0", "algo.method=sdar", *args.overrides])
    trainer = Trainer(cfg, Path(tempfile.mkdtemp(prefix="sdar-bench-")))
    trainer._prepare(resume=False)
    start = copy.deepcopy(trainer.policy.model.state_dict())
    opt_start = copy.deepcopy(trainer.optimizer.state_dict())
    venv = make_venv(
        cfg, trainer.spec, trainer.options, cfg.rollout.tasks_per_step * cfg.rollout.group_size
    )
    times: dict[str, dict[str, list[float]]] = {"grpo": {}, "sdar": {}}
    samples = {}
    try:
        for _ in range(args.repeats):
            for name in ("grpo", "sdar"):
                trainer.policy.model.load_state_dict(start)
                trainer.optimizer.load_state_dict(opt_start)
                trainer.method = get_method(name)
                metrics, _ = trainer.train_step(1, venv)
                samples[name] = metrics["rollout/samples"]
                for k in PHASES:
                    times[name].setdefault(k, []).append(metrics[k])
    finally:
        venv.close()
    print(
        f"preset {args.preset}: {cfg.rollout.tasks_per_step} tasks x {cfg.rollout.group_size} "
        f"rollouts, samples GRPO {samples['grpo']:.0f} / SDAR {samples['sdar']:.0f}, "
        f"{torch.get_num_threads()} torch threads, median of {args.repeats}"
    )
    print(f"{'phase':<10}{'GRPO s':>10}{'SDAR s':>10}{'SDAR/GRPO':>11}")
    for k in PHASES:
        g, s = statistics.median(times["grpo"][k]), statistics.median(times["sdar"][k])
        print(f"{k.split('/')[1]:<10}{g:>10.2f}{s:>10.2f}{s / g:>11.2f}")


if __name__ == "__main__":
    main()
