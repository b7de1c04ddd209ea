"""How many WebShop env steps per second does one process do, with the expert and at random?

Plays goals of the catalogue (``--data-dir``, else the built-in twin) one after another in
one process: the expert (search, click the target, its options, buy) and a random agent
drawing from the available actions. Reports env steps/s counting `WebShopEnv.step` time
only (search, page rendering and, on buying, the purchase score), the rate including the
agent's own time, resets/s, and the expert's Acc and Score. Usage:

    sdar bench webshop_speed --data-dir ../shared/data/webshop --episodes 1000
"""

from __future__ import annotations

import argparse
import random
import time

from sdar.envs.webshop.spec import SPEC, eval_tasks


def _run(env, tasks, policy: str, rng: random.Random) -> dict[str, float]:
    steps, step_time, reset_time, wins, score = 0, 0.0, 0.0, 0, 0.0
    start = time.perf_counter()
    for task in tasks:
        t0 = time.perf_counter()
        _, info = env.reset(task)
        reset_time += time.perf_counter() - t0
        done = False
        while not done:
            action = (
                env.expert_action()
                if policy == "expert"
                else rng.choice(info["admissible_actions"])
            )
            t0 = time.perf_counter()
            result = env.step(action)
            step_time += time.perf_counter() - t0
            steps += 1
            done, info = result.done, result.info
        wins += int(info["won"])
        score += info["score"]
    loop_time = time.perf_counter() - start - reset_time
    return {
        "steps": steps,
        "steps_per_second": steps / step_time,
        "with_agent": steps / loop_time,
        "resets_per_second": len(tasks) / reset_time,
        "acc": wins / len(tasks),
        "score": score / len(tasks),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", help="catalogue folder (default: the built-in twin)")
    parser.add_argument("--episodes", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    options = {"data_dir": args.data_dir} if args.data_dir else {"catalogue": "builtin"}
    options["eval_split"] = "all"
    start = time.perf_counter()
    env = SPEC.make(options)
    tasks = eval_tasks(options, args.episodes)
    print(f"catalogue {env.catalogue.source}: loaded in {time.perf_counter() - start:.2f} s")
    for policy in ("expert", "random"):
        r = _run(env, tasks, policy, random.Random(args.seed))
        print(
            f"{policy:>6}: {r['steps_per_second']:7.0f} env steps/s, {r['with_agent']:7.0f} "
            f"incl. agent ({r['steps']} steps), {r['resets_per_second']:6.0f} resets/s, "
            f"Acc {100 * r['acc']:.1f}, Score {100 * r['score']:.1f}"
        )


if __name__ == "__main__":
    main()
