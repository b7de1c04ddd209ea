"""Play an environment family with a scripted agent: a smoke test and a speed check.

Agents (no model involved):

* ``expert`` (alias ``oracle``): the env's own oracle, ``env.expert_action()`` at every step;
* ``random``: a uniform draw from ``info["admissible_actions"]`` (or, for envs without
  that list such as Search-QA, from ``info["candidate_actions"]``), with one
  ``random.Random`` per episode seeded from ``(seed, episode index)``;
* ``walkthrough``: replays ``info["expert_plan"]`` from reset, blind to what happens
  (play asks for the plan with the family option ``expert_plan=True``: ALFWorld plans
  only on request, as planning some games takes minutes).

An episode that an env worker failure ends (a crash, a hang, or a reset that timed out
twice and was skipped) counts as lost and is reported: ``worker_errors`` and
``worker_error_tasks`` in the summary.

Episodes are the first ``episodes`` tasks of the family's fixed evaluation panel, played
in waves of up to ``4 * max(1, num_workers)`` environments through `VectorEnv`.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sdar.envs.base import StepResult, Task
from sdar.envs.evaluator import success_summary
from sdar.envs.registry import get_env_spec
from sdar.envs.vector import VectorEnv

logger = logging.getLogger(__name__)

AGENTS = ("expert", "oracle", "random", "walkthrough")
_ORACLES = ("expert", "oracle")
_IDLE_ACTION = "look"  # a harmless command for a running slot whose agent has nothing left


@dataclass
class _Episode:
    index: int
    task: Task
    rng: random.Random
    admissible: list[str] | None = None
    candidates: list[str] | None = None
    plan: list[str] = field(default_factory=list)
    steps: int = 0
    total_reward: float = 0.0
    result: StepResult | None = None


def _choose(agent: str, episode: _Episode, expert: str | None) -> str:
    if agent in _ORACLES and expert is not None:
        return expert
    if agent == "walkthrough" and episode.steps < len(episode.plan):
        return episode.plan[episode.steps]
    pool = episode.admissible or episode.candidates
    if agent == "random" and not pool:
        raise ValueError(
            f"the random agent needs info['admissible_actions'] or info['candidate_actions'], "
            f"which task {episode.task.task_id!r} does not provide"
        )
    if pool:
        return episode.rng.choice(pool)
    return _IDLE_ACTION


def _record(episode: _Episode, metrics: tuple[str, ...] = ()) -> dict[str, Any]:
    info = episode.result.info if episode.result is not None else {}
    record = {
        "episode": episode.index,
        "task_id": episode.task.task_id,
        "task_type": episode.task.task_type,
        "won": bool(info.get("won", False)),
        "steps": episode.steps,
        "return": episode.total_reward,
    }
    record.update({key: float(info.get(key, 0.0)) for key in metrics})
    if "worker_error" in info:
        record["worker_error"] = info["worker_error"]
    return record


def _play_wave(
    venv: VectorEnv,
    agent: str,
    episodes: list[_Episode],
    on_done: Callable[[_Episode], None],
) -> tuple[int, float]:
    """Play one wave to the end; returns (env steps taken, seconds spent stepping)."""
    slots: list[_Episode | None] = list(episodes) + [None] * (venv.num_envs - len(episodes))
    resets = venv.reset([e.task if e else None for e in slots])
    for episode, (_, info) in zip(episodes, resets[: len(episodes)], strict=True):
        episode.admissible = info.get("admissible_actions")
        episode.candidates = info.get("candidate_actions")
        episode.plan = list(info.get("expert_plan") or [])
        skipped = "worker_error" in info  # the reset timed out; the first step ends it
        if agent == "walkthrough" and "expert_plan" not in info and not skipped:
            raise ValueError(
                f"the walkthrough agent needs info['expert_plan'] at reset, "
                f"which {venv.spec.name} does not provide"
            )
    steps, seconds = 0, 0.0
    while any(slots):
        experts = venv.expert_actions() if agent in _ORACLES else [None] * venv.num_envs
        actions = [_choose(agent, e, x) if e else None for e, x in zip(slots, experts, strict=True)]
        start = time.perf_counter()
        results = venv.step(actions)
        seconds += time.perf_counter() - start
        for slot, result in enumerate(results):
            episode = slots[slot]
            if episode is None or result is None:
                continue
            steps += 1
            episode.steps += 1
            episode.total_reward += result.reward
            episode.admissible = result.info.get("admissible_actions")
            episode.candidates = result.info.get("candidate_actions")
            if result.done:
                episode.result = result
                slots[slot] = None
                on_done(episode)
    return steps, seconds


def play(
    env_name: str,
    agent: str,
    episodes: int,
    *,
    options: dict[str, Any] | None = None,
    split: str | None = None,
    data_dir: str | None = None,
    seed: int = 0,
    num_workers: int = 0,
    reset_timeout: float = 120.0,
    on_episode: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Play ``episodes`` panel tasks of ``env_name`` with a scripted ``agent``.

    ``split`` and ``data_dir`` set the options ``eval_split`` and ``data_dir`` (families
    without them reject them). ``on_episode(record)`` is called as each episode ends,
    with ``record`` = {episode, task_id, task_type, won, steps, return[, worker_error]}
    plus the family's ``episode_metrics`` read from the final info (WebShop: ``score``).

    ``reset_timeout`` bounds each reset in a worker (`VectorEnv`).

    Returns {success, per_task_type, episodes, worker_errors, worker_error_tasks,
    steps_per_second, env, agent, steps, step_seconds, wall_seconds} and the mean of each
    of ``spec.episode_metrics``; ``success`` counts worker-failed episodes as lost;
    ``steps_per_second`` counts env steps over the time spent in `VectorEnv.step`
    (resets excluded).
    """
    if agent not in AGENTS:
        raise ValueError(f"unknown agent {agent!r}; valid agents: {', '.join(AGENTS)}")
    if isinstance(episodes, bool) or not isinstance(episodes, int) or episodes < 1:
        raise ValueError(f"episodes must be an integer >= 1, got {episodes!r}")
    spec = get_env_spec(env_name)
    opts = dict(options or {})
    if split is not None:
        opts["eval_split"] = split
    if data_dir is not None:
        opts["data_dir"] = data_dir
    if agent == "walkthrough":
        opts.setdefault("expert_plan", True)
    tasks = spec.eval_tasks(opts, episodes)
    records: list[dict[str, Any]] = []

    def on_done(episode: _Episode) -> None:
        records.append(_record(episode, spec.episode_metrics))
        if on_episode is not None:
            on_episode(records[-1])

    wave = min(episodes, 4 * max(1, num_workers))
    total_steps, step_seconds, start = 0, 0.0, time.perf_counter()
    with VectorEnv(spec, opts, wave, num_workers=num_workers, reset_timeout=reset_timeout) as venv:
        for first in range(0, episodes, wave):
            batch = [
                _Episode(i, tasks[i], random.Random(f"play:{seed}:{i}"))
                for i in range(first, min(first + wave, episodes))
            ]
            steps, seconds = _play_wave(venv, agent, batch, on_done)
            total_steps, step_seconds = total_steps + steps, step_seconds + seconds
    summary = success_summary(records)
    lost = [r["task_id"] for r in records if "worker_error" in r]
    summary.update(worker_errors=len(lost), worker_error_tasks=lost)
    summary.update({k: sum(r[k] for r in records) / len(records) for k in spec.episode_metrics})
    summary.update(
        env=env_name,
        agent=agent,
        steps=total_steps,
        step_seconds=step_seconds,
        steps_per_second=total_steps / step_seconds if step_seconds > 0 else 0.0,
        wall_seconds=time.perf_counter() - start,
    )
    logger.info(
        "played %d %s episodes of %s: success %.3f", episodes, agent, env_name, summary["success"]
    )
    return summary
