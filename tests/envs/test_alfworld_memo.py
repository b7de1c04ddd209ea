"""Memoised TextWorld parsing gives byte-identical ALFWorld games (skips without data)."""

from __future__ import annotations

import random

import pytest

from sdar.envs.alfworld.memo import MemoisedTextWorld
from sdar.envs.alfworld.spec import SPEC, eval_tasks
from tests.envs.test_alfworld import OPTIONS, needs_alfworld


def play_both(games: int, steps: int) -> tuple[int, MemoisedTextWorld]:
    """Plays the same seeded random admissible actions on a memoised and a plain adapter;
    every observation, admissible list, reward and flag must agree byte for byte."""
    options = {**OPTIONS, "expert_plan": False, "max_steps": steps + 1}
    memo, plain = SPEC.make(options), SPEC.make(options)
    assert isinstance(memo._tw, MemoisedTextWorld)
    plain._tw = plain._tw._env  # the unwrapped TextWorld env
    rng, compared = random.Random(0), 0
    for task in eval_tasks(options, games):
        (obs_m, info_m), (obs_p, info_p) = memo.reset(task), plain.reset(task)
        assert obs_m == obs_p and info_m == info_p
        for _ in range(steps):
            action = rng.choice(info_m["admissible_actions"])
            got, expected = memo.step(action), plain.step(action)
            assert got == expected, (task.task_id, action)
            compared += 1
            info_m = got.info
            if got.done:
                break
    return compared, memo._tw


@needs_alfworld
def test_memoised_adapter_is_byte_identical_on_a_real_game():
    compared, tw = play_both(games=1, steps=6)
    assert compared == 6 and tw.parse_calls > 0


@pytest.mark.slow
@needs_alfworld
def test_memoised_adapter_is_byte_identical_over_hundreds_of_steps():
    compared, _ = play_both(games=8, steps=40)
    assert compared >= 200
