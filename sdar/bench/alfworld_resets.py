"""How long do ALFWorld resets take, and what does the walkthrough plan add?

For every playable game of the shared data (all splits), in one process and in order:

* ``reset``: `AlfworldEnv.reset` as rollouts do it now (no plan at reset);
* ``plan_cold``: the walkthrough from the initial state with an empty plan cache (what
  the first `expert_action`, or a reset with ``expert_plan=True``, costs once per game);
* ``reset_plan_cached``: a reset with ``expert_plan=True`` once the plan is cached.

Before the lazy plan, every reset cost about ``reset + plan_cold``. Times are CPU seconds
of this process (TextWorld and the fast-downward planner run in it), so a busy machine
does not inflate them; wall seconds are recorded too (``*_wall``). One JSON line per game
goes to ``--out`` as it is measured; the percentiles go to stdout at the end.

    ALFWORLD_DATA=../shared/data/alfworld nice sdar bench alfworld_resets --out resets.jsonl
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

from sdar.envs.alfworld.games import SPLITS, discover_games, game_task, resolve_data_dir
from sdar.envs.alfworld.spec import SPEC


def percentiles(values: list[float]) -> dict[str, float]:
    """Nearest-rank p50/p90/p95/p99 and max of ``values`` (seconds)."""
    ordered = sorted(values)
    pick = lambda q: ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]  # noqa: E731
    return {f"p{int(q * 100)}": pick(q) for q in (0.5, 0.9, 0.95, 0.99)} | {"max": ordered[-1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out", default="alfworld_resets.jsonl")
    args = parser.parse_args()
    data_dir = resolve_data_dir(args.data_dir)
    games = [g for split in SPLITS for g in discover_games(data_dir, split)]
    rows = []
    with tempfile.TemporaryDirectory() as cache, open(args.out, "w") as out:
        lazy = SPEC.make({"data_dir": str(data_dir), "plan_cache": cache})
        eager = SPEC.make({"data_dir": str(data_dir), "plan_cache": cache, "expert_plan": True})
        for game in games:
            task = game_task(game, 0)
            cpu, wall = [time.process_time()], [time.perf_counter()]
            lazy.reset(task)
            cpu.append(time.process_time()), wall.append(time.perf_counter())
            plan = lazy.expert_action()  # empty cache: plans from the initial state
            cpu.append(time.process_time()), wall.append(time.perf_counter())
            eager.reset(task)
            cpu.append(time.process_time()), wall.append(time.perf_counter())
            row = {"game": game.rel_path, "planned": plan is not None}
            for i, key in enumerate(("reset", "plan_cold", "reset_plan_cached")):
                row[key] = cpu[i + 1] - cpu[i]
                row[f"{key}_wall"] = wall[i + 1] - wall[i]
            rows.append(row)
            out.write(json.dumps(row) + "\n")
            out.flush()
    print(f"{len(rows)} games under {data_dir}")
    for key in ("reset", "plan_cold", "reset_plan_cached"):
        stats = percentiles([r[key] for r in rows])
        print(f"{key:<18} " + "  ".join(f"{k} {v:7.2f}s" for k, v in stats.items()))
    before = percentiles([r["reset"] + r["plan_cold"] for r in rows])
    print(f"{'before (eager)':<18} " + "  ".join(f"{k} {v:7.2f}s" for k, v in before.items()))
    slow = sorted(rows, key=lambda r: -r["plan_cold"])[:5]
    print("slowest plans: " + ", ".join(f"{r['game']} {r['plan_cold']:.1f}s" for r in slow))


if __name__ == "__main__":
    main()
