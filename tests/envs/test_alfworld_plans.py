"""ALFWorld plans lazily and caches walkthroughs on disk (issue 16, point 8)."""

from __future__ import annotations

import pytest

from sdar.envs.alfworld.plans import load_plan, store_plan

from .test_alfworld import OPTIONS, SPEC, eval_tasks, needs_alfworld


def test_plan_cache_round_trip_and_invalidation(tmp_path):
    game = tmp_path / "game.tw-pddl"
    game.write_text("{}")
    cache = tmp_path / "cache"
    assert load_plan(cache, game) is None
    store_plan(cache, game, ["go to desk 1", "take book 1 from desk 1"])
    assert load_plan(cache, game) == ["go to desk 1", "take book 1 from desk 1"]
    game.write_text('{"changed": true}')  # another size: a different game, a cache miss
    assert load_plan(cache, game) is None


def test_unwritable_cache_only_costs_time(tmp_path):
    game = tmp_path / "game.tw-pddl"
    game.write_text("{}")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    store_plan(blocker / "cache", game, ["look"])  # logs a warning, raises nothing
    assert load_plan(blocker / "cache", game) is None


@needs_alfworld
def test_reset_does_not_plan_and_the_expert_plans_once(tmp_path, monkeypatch):
    options = {**OPTIONS, "plan_cache": str(tmp_path)}
    task = eval_tasks(OPTIONS, 2)[1]  # look_at_obj_in_light: plans in well under a second
    env = SPEC.make(options)
    _, info = env.reset(task)
    assert "expert_plan" not in info and not list(tmp_path.iterdir())
    first = env.expert_action()
    assert first in info["admissible_actions"] and len(list(tmp_path.iterdir())) == 1
    # A second env (another worker, another run) reads the plan instead of planning.
    eager = SPEC.make({**options, "expert_plan": True})
    calls = []
    monkeypatch.setattr(type(eager), "_replan", lambda self: calls.append(1) or [])
    _, info = eager.reset(task)
    assert info["expert_plan"][0] == first and not calls


def test_plan_cache_option_is_checked():
    with pytest.raises(ValueError, match="plan_cache"):
        SPEC.make({**OPTIONS, "plan_cache": 3})
