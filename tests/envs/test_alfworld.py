"""The real ALFWorld adapter on the shared json_2.1.1 sample (skips without data/packages)."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

from sdar.envs.alfworld.spec import SPEC, eval_tasks, train_tasks
from sdar.envs.base import INFO_KEYS, Env, EnvError, Task

DATA = Path(
    os.environ.get("ALFWORLD_DATA")
    or Path(__file__).resolve().parents[2] / "../shared/data/alfworld"
).resolve()
HAVE_PACKAGES = all(importlib.util.find_spec(m) for m in ("alfworld", "textworld", "fast_downward"))
needs_alfworld = pytest.mark.skipif(
    not (DATA / "json_2.1.1").is_dir() or not HAVE_PACKAGES,
    reason=f"needs ALFWorld data at {DATA} and `pip install 'sdar[alfworld]'`",
)
OPTIONS = {"data_dir": str(DATA)}


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> Env:
    cache = str(tmp_path_factory.mktemp("plans"))
    return SPEC.make({**OPTIONS, "expert_plan": True, "plan_cache": cache})


def sample_tasks() -> list[Task]:
    """A sample across the six task types and both valid splits whose walkthroughs plan
    fast (1-6 s each at reset, measured); other games take from 7 s to minutes to plan,
    so every game is replayed only in the slow test."""
    seen = eval_tasks(OPTIONS, 9)  # panel order interleaves the six types
    unseen = eval_tasks({**OPTIONS, "eval_split": "valid_unseen"}, 5)
    return [seen[0], seen[1], seen[5], seen[8], unseen[3], unseen[4]]


def replay_walkthrough(env: Env, task: Task) -> int:
    observation, info = env.reset(task)
    assert set(INFO_KEYS) <= set(info) and info["task_type"] == task.task_type
    assert f"Your task is to: {info['goal']}" in observation
    plan = info["expert_plan"]
    assert 1 <= len(plan) <= 20
    for i, action in enumerate(plan):
        assert action in info["admissible_actions"], (task.task_id, action)
        result = env.step(action)
        info = result.info
        assert info["is_action_valid"] and result.done == (i == len(plan) - 1)
    assert info["won"] and result.reward == 1.0
    return len(plan)


@needs_alfworld
def test_walkthrough_wins_a_sample_of_games(env):
    tasks = sample_tasks()
    assert {t.task_id.split("/")[0] for t in tasks} == {"valid_seen", "valid_unseen"}
    assert len({t.task_type for t in tasks}) == 6
    for task in tasks:
        replay_walkthrough(env, task)


@pytest.mark.slow
@needs_alfworld
def test_walkthrough_wins_every_game(env):
    tasks = [
        t
        for split in ("train", "valid_seen", "valid_unseen")
        for t in eval_tasks({**OPTIONS, "eval_split": split}, 36 if split == "train" else 24)
    ]
    assert len({t.task_id for t in tasks}) == 84
    for task in tasks:
        replay_walkthrough(env, task)


@needs_alfworld
def test_invalid_action_deviation_and_expert_replanning(env):
    task = eval_tasks(OPTIONS, 2)[1]  # look_at_obj_in_light: short plans
    _, info = env.reset(task)
    result = env.step("fly to the moon")
    assert result.observation == "Nothing happens."
    assert not result.info["is_action_valid"] and not result.done and result.reward == 0.0
    detour = next(
        a
        for a in result.info["admissible_actions"]
        if a.startswith("go to") and a != info["expert_plan"][0]
    )
    env.step(detour)  # off the walkthrough: the expert must replan from here
    for _ in range(15):
        result = env.step(env.expert_action())
        if result.done:
            break
    assert result.info["won"] and env.expert_action() is None
    with pytest.raises(EnvError, match="finished episode"):
        env.step("look")


@needs_alfworld
def test_max_steps_ends_the_episode():
    env = SPEC.make({**OPTIONS, "max_steps": 2})
    env.reset(train_tasks(OPTIONS, 0, 1)[0])
    assert not env.step("look").done
    last = env.step("look")
    assert last.done and not last.info["won"] and last.reward == 0.0


@needs_alfworld
def test_missing_game_file_is_a_clear_env_error(env, tmp_path):
    ghost = Task(task_id="valid_seen/none/trial/game.tw-pddl", task_type="pick_and_place_simple")
    with pytest.raises(EnvError, match="alfworld-download"):
        env.reset(ghost)


def test_missing_package_is_a_clear_env_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "textworld", None)  # makes `import textworld` fail
    with pytest.raises(EnvError, match=r"pip install 'sdar\[alfworld\]'"):
        SPEC.make(OPTIONS)
