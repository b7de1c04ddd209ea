"""Env steps per second of every family with its expert, and ALFWorld against raw TextWorld.

1. Expert rate per family (household, ALFWorld, and webshop/searchqa when registered): the
   scripted oracle plays the first eval tasks; steps/s counts time inside ``env.step`` only
   (resets and the expert's own time apart; ALFWorld plans come from the on-disk cache, a
   missing plan is computed once, outside the timer).
2. ALFWorld adapter vs raw TextWorld: the same games (first eval tasks of valid_seen) and the
   same seeded random admissible actions, through our `AlfworldEnv` and through
   ``textworld.start`` with alfworld's ``AlfredDemangler``/``AlfredInfos`` wrappers (as
   ``AlfredTWEnv`` builds them), and through our adapter without its parse memo (``plain``,
   `sdar.envs.alfworld.memo`). Every game is loaded once per variant; each round replays
   every game on all three, the order rotating by round. ``alfworld_vs_raw_textworld`` is
   the ratio of the median per-round rates (ours / raw), ``alfworld_plain_vs_raw_textworld``
   the same without the memo, and ``alfworld_same_observations`` checks that all three saw
   identical text.

Rounds alternate families/variants in one process; figures are medians over rounds, with
the load average before and after.

    sdar bench envs [--json] [--quick] [--rounds 3] [--data-dir ../shared/data/alfworld]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time
from typing import Any

from sdar.envs.base import EnvError
from sdar.envs.registry import ENVS, get_env_spec


def expert_rate(spec: Any, options: dict[str, Any], episodes: int) -> float:
    """Env steps/s of the expert over the first ``episodes`` eval tasks (``env.step`` time)."""
    env = spec.make(options)
    steps, step_s = 0, 0.0
    try:
        for task in spec.eval_tasks(options, episodes):
            env.reset(task)
            done = False
            while not done:
                action = env.expert_action()
                if action is None:
                    break
                start = time.perf_counter()
                result = env.step(action)
                step_s += time.perf_counter() - start
                steps, done = steps + 1, result.done
    finally:
        env.close()
    return steps / step_s if step_s else 0.0


def _raw_textworld(path: str) -> Any:
    import textworld
    from alfworld.agents.environment.alfred_tw_env import AlfredDemangler, AlfredInfos

    infos = textworld.EnvInfos(won=True, admissible_commands=True)
    return textworld.start(path, infos, wrappers=[AlfredDemangler(shuffle=False), AlfredInfos])


def _admissible(state: Any) -> list[str]:
    return [c for c in state["admissible_commands"] or [] if c != "help"]


def alfworld_vs_raw(data_dir: str | None, games: int, steps: int, rounds: int) -> dict:
    """Steps/s of our adapter and of raw TextWorld on the same games and actions."""
    spec = get_env_spec("alfworld")
    options = {"data_dir": data_dir, "expert_plan": False, "max_steps": steps + 1}
    tasks = spec.eval_tasks(options, games)
    adapters = {
        name: [spec.make(options) for _ in tasks]  # one env per game: each loads it once
        for name in ("ours", "plain")
    }
    for env in adapters["plain"]:
        env._tw = env._tw._env  # unwrap the memo
    raws = [_raw_textworld(str(adapters["ours"][0].game_path(t))) for t in tasks]
    names = ["ours", "plain", "raw"]
    rates: dict[str, list[float]] = {n: [] for n in names}
    same = True
    for r in range(rounds):
        timed = {n: [0, 0.0] for n in names}
        for g, task in enumerate(tasks):
            seen: dict[str, list[str]] = {}
            for name in names[r % 3 :] + names[: r % 3]:
                rng, texts = random.Random(g), []
                if name != "raw":
                    _, info = adapters[name][g].reset(task)
                    admissible = info["admissible_actions"]
                else:
                    admissible = _admissible(raws[g].reset())
                for _ in range(steps):
                    action = rng.choice(admissible)
                    start = time.perf_counter()
                    if name != "raw":
                        result = adapters[name][g].step(action)
                        text, admissible = result.observation, result.info["admissible_actions"]
                    else:
                        state, _, _ = raws[g].step(action)
                        text, admissible = state.feedback, _admissible(state)
                    timed[name][1] += time.perf_counter() - start
                    timed[name][0] += 1
                    texts.append(text)
                seen[name] = texts
            same = same and seen["ours"] == seen["raw"] == seen["plain"]
        for name, (n, secs) in timed.items():
            rates[name].append(n / secs)
    ours_rate, raw_rate = statistics.median(rates["ours"]), statistics.median(rates["raw"])
    plain_rate = statistics.median(rates["plain"])
    return {
        "alfworld_adapter_steps_per_s": ours_rate,
        "alfworld_adapter_no_memo_steps_per_s": plain_rate,
        "raw_textworld_steps_per_s": raw_rate,
        "alfworld_vs_raw_textworld": ours_rate / raw_rate,
        "alfworld_plain_vs_raw_textworld": plain_rate / raw_rate,
        "alfworld_same_observations": same,
        "alfworld_games": games,
        "alfworld_steps_per_game": steps,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--quick", action="store_true", help="fewer episodes and steps")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--data-dir", help="ALFWorld data (default: $ALFWORLD_DATA)")
    parser.add_argument("--families", default=",".join(ENVS), help="comma-separated")
    args = parser.parse_args()
    episodes = {"household": 10, "alfworld": 2, "webshop": 5, "searchqa": 5}
    if not args.quick:
        episodes = {k: 4 * v for k, v in episodes.items()}
    games, steps = (2, 8) if args.quick else (4, 25)
    families = [f for f in args.families.split(",") if f in ENVS]
    out: dict[str, Any] = {"load_before": os.getloadavg()[0], "rounds": args.rounds}
    rates: dict[str, list[float]] = {f: [] for f in families}
    skipped: dict[str, str] = {}
    for _ in range(args.rounds):
        for family in families:
            if family in skipped:
                continue
            options = {"data_dir": args.data_dir} if family == "alfworld" else {}
            try:
                rates[family].append(
                    expert_rate(get_env_spec(family), options, episodes.get(family, 5))
                )
            except EnvError as exc:  # optional packages or data missing
                skipped[family] = str(exc).splitlines()[0]
    for family, values in rates.items():
        if values:
            out[f"{family}_expert_steps_per_s"] = statistics.median(values)
    if "alfworld" in families and "alfworld" not in skipped:
        out.update(alfworld_vs_raw(args.data_dir, games, steps, args.rounds))
    out["skipped"] = skipped
    out["load_after"] = os.getloadavg()[0]
    if args.json:
        print(json.dumps(out, indent=2))
        return
    print(f"env steps/s, median of {args.rounds} rounds, load {out['load_before']:.2f}")
    for key, value in out.items():
        if key not in ("load_before", "rounds"):
            print(f"  {key:<32}{value:.2f}" if isinstance(value, float) else f"  {key:<32}{value}")


if __name__ == "__main__":
    main()
