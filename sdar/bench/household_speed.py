"""How many household env steps per second does one core do?

Measures `HouseholdEnv.step` throughput (including the admissible-action list and the
goal check every step) for a random agent picking admissible actions and for the
expert, the same rate including the policy's own time (random choice / expert
re-planning), and the reset rate (world generation + expert plan). Usage:

    sdar bench household_speed --preset standard --episodes 300
"""

from __future__ import annotations

import argparse
import random
import time

from sdar.envs.household.spec import SPEC


def _run(env, tasks, policy: str, rng: random.Random) -> tuple[int, float, float, float, int]:
    """Returns (steps, time in env.step, time in the whole loop, time in reset, wins)."""
    steps, step_time, reset_time, wins = 0, 0.0, 0.0, 0
    start = time.perf_counter()
    for task in tasks:
        t0 = time.perf_counter()
        _, info = env.reset(task)
        reset_time += time.perf_counter() - t0
        done = False
        while not done:
            if policy == "expert":
                action = env.expert_action()
            else:
                action = rng.choice(info["admissible_actions"])
            t0 = time.perf_counter()
            result = env.step(action)
            step_time += time.perf_counter() - t0
            steps += 1
            done, info = result.done, result.info
            wins += int(info["won"])
    loop_time = time.perf_counter() - start - reset_time
    return steps, step_time, loop_time, reset_time, wins


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="standard", choices=["tiny", "small", "standard"])
    parser.add_argument("--episodes", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    options = {"preset": args.preset}
    env = SPEC.make(options)
    tasks = SPEC.train_tasks(options, args.seed, args.episodes)
    for policy in ("random", "expert"):
        steps, step_time, loop_time, reset_time, wins = _run(
            env, tasks, policy, random.Random(args.seed)
        )
        print(
            f"{args.preset:>8} {policy:>6}: {steps / step_time:7.0f} env steps/s, "
            f"{steps / loop_time:7.0f} steps/s incl. policy ({steps} steps), "
            f"{len(tasks) / reset_time:5.0f} resets/s, success {wins / len(tasks):.2f}"
        )


if __name__ == "__main__":
    main()
