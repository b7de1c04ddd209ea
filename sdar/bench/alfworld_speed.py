"""How fast do real ALFWorld games step: in-process vs 1 and 2 worker processes?

Plays the same games (the first ``--games`` of the valid_seen panel) with seeded random
admissible actions for ``--steps`` steps each, on ``--slots`` env slots, through
`VectorEnv` with num_workers = 0, 1 and 2. Steps/s counts env steps over the time spent
inside ``VectorEnv.step`` (resets are timed apart). Walkthrough planning is switched off
(``expert_plan=False``): it is a reset cost, and a few games take a minute to plan.

    sdar bench alfworld_speed --data-dir ../shared/data/alfworld
"""

from __future__ import annotations

import argparse
import os
import random
import time

from sdar.envs.alfworld.spec import SPEC
from sdar.envs.vector import VectorEnv


def run(mode_workers: int, options: dict, games: int, steps: int, slots: int) -> dict:
    tasks = SPEC.eval_tasks(options, games)
    rng = random.Random(0)
    n_steps, step_s, reset_s = 0, 0.0, 0.0
    with VectorEnv(SPEC, options, slots, num_workers=mode_workers, reset_timeout=600) as venv:
        for first in range(0, games, slots):
            wave = tasks[first : first + slots]
            start = time.perf_counter()
            resets = venv.reset(wave + [None] * (slots - len(wave)))
            reset_s += time.perf_counter() - start
            admissible = [r[1]["admissible_actions"] if r else None for r in resets]
            for _ in range(steps):
                actions = [rng.choice(a) if a else None for a in admissible]
                start = time.perf_counter()
                results = venv.step(actions)
                step_s += time.perf_counter() - start
                n_steps += sum(r is not None for r in results)
                admissible = [
                    r.info["admissible_actions"] if r is not None and not r.done else None
                    for r in results
                ]
    return {"steps": n_steps, "step_s": step_s, "reset_s": reset_s, "games": games}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data-dir", help="ALFWorld data folder (default: $ALFWORLD_DATA, else ~/.cache/alfworld)"
    )
    parser.add_argument("--games", type=int, default=4)
    parser.add_argument("--steps", type=int, default=20, help="steps per game")
    parser.add_argument("--slots", type=int, default=2, help="env slots stepped together")
    args = parser.parse_args()
    options = {"data_dir": args.data_dir, "expert_plan": False, "max_steps": args.steps + 1}
    print(
        f"ALFWorld speed: {args.games} games x {args.steps} random steps, {args.slots} slots, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}"
    )
    rows = [
        (name, run(w, options, args.games, args.steps, args.slots))
        for name, w in (("in-process", 0), ("1 worker", 1), ("2 workers", 2))
    ]
    base = rows[0][1]["steps"] / rows[0][1]["step_s"]
    print(
        f"{'mode':<12}{'steps':>7}{'step s':>9}{'steps/s':>9}{'vs in-proc':>11}{'reset s/game':>14}"
    )
    for name, r in rows:
        rate = r["steps"] / r["step_s"]
        print(
            f"{name:<12}{r['steps']:>7}{r['step_s']:>9.2f}{rate:>9.2f}{rate / base:>10.2f}x"
            f"{r['reset_s'] / r['games']:>14.2f}"
        )
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
