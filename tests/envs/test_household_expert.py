"""Household expert: wins everywhere, recovers from random play; random agents fail."""

from __future__ import annotations

import random

import pytest

from sdar.envs.base import Task
from sdar.envs.household.engine import World
from sdar.envs.household.expert import expert_action, expert_plan
from sdar.envs.household.generator import generate
from sdar.envs.household.presets import PRESETS, parse_options
from sdar.envs.household.spec import SPEC
from sdar.envs.household.vocab import TASK_TYPES


def _play_expert(env, task: Task) -> tuple[bool, int]:
    _, info = env.reset(task)
    steps, won = 0, False
    while (action := env.expert_action()) is not None:
        result = env.step(action)
        steps += 1
        won = result.info["won"]
        if result.done:
            break
    return won, steps


@pytest.mark.parametrize("preset", list(PRESETS))
def test_expert_wins_every_task_type(preset):
    env = SPEC.make({"preset": preset})
    for task_type in TASK_TYPES:
        for seed in range(100):
            task = Task(f"t{seed}", task_type, seed)
            won, steps = _play_expert(env, task)
            assert won, (preset, task_type, seed)
            assert steps <= PRESETS[preset].max_steps


@pytest.mark.slow
@pytest.mark.parametrize("preset", list(PRESETS))
def test_expert_wins_many_seeds(preset):
    config = parse_options({"preset": preset})
    for task_type in TASK_TYPES:
        for seed in range(1000):
            assert len(expert_plan(generate(task_type, seed, config))) <= config.max_steps


def test_expert_plan_at_reset_is_replayable():
    env = SPEC.make({"preset": "small"})
    for i, task in enumerate(SPEC.eval_tasks({"preset": "small"}, 24)):
        _, info = env.reset(task)
        plan = info["expert_plan"]
        assert plan and all(isinstance(a, str) for a in plan)
        for j, action in enumerate(plan):
            assert action in info["admissible_actions"], (i, action)
            result = env.step(action)
            info = result.info
            assert result.done == (j == len(plan) - 1)
        assert info["won"] and result.reward == 1.0


def test_expert_recovers_after_random_actions():
    rng = random.Random(0)
    config = parse_options({"preset": "standard"})
    for seed in range(50):
        for task_type in TASK_TYPES:
            world = World(generate(task_type, seed, config))
            for _ in range(rng.randrange(40)):
                world.execute(rng.choice(world.admissible()))
                if world.goal_reached():
                    break
            for _ in range(60):
                action = expert_action(world)
                if action is None:
                    break
                assert action in world.admissible(), (task_type, seed, action)
                world.execute(action)
            assert world.goal_reached(), (task_type, seed)


def test_expert_move_style():
    env = SPEC.make({"preset": "small", "command_style": "move"})
    for task in SPEC.eval_tasks({"preset": "small"}, 12):
        won, _ = _play_expert(env, task)
        assert won


@pytest.mark.parametrize("preset", ["tiny", "standard"])
def test_random_agent_mostly_fails(preset):
    env = SPEC.make({"preset": preset})
    rng = random.Random(0)
    wins = 0
    tasks = SPEC.eval_tasks({"preset": preset}, 120)
    for task in tasks:
        _, info = env.reset(task)
        done = False
        while not done:
            result = env.step(rng.choice(info["admissible_actions"]))
            done, info = result.done, result.info
        wins += info["won"]
    assert wins / len(tasks) < 0.15
