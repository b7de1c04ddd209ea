"""Household EnvSpec: options, presets, task pools, the env contract."""

from __future__ import annotations

import pytest

from sdar.envs.base import INFO_KEYS, Env, EnvError, EnvSpec, Task
from sdar.envs.household.presets import OPTION_KEYS, PRESETS, parse_options
from sdar.envs.household.spec import EVAL_SEED_BASE, SPEC
from sdar.envs.household.vocab import TASK_TYPES


def test_spec_fields():
    assert isinstance(SPEC, EnvSpec)
    assert SPEC.name == "household"
    assert SPEC.task_types == TASK_TYPES
    assert SPEC.stop_strings == ("</action>",)
    assert (SPEC.success_reward, SPEC.invalid_penalty, SPEC.max_steps) == (10.0, 0.1, 50)
    assert isinstance(SPEC.make({}), Env)


def test_presets_and_overrides():
    assert [PRESETS[p].max_steps for p in ("tiny", "small", "standard")] == [15, 30, 50]
    config = parse_options({"preset": "tiny", "max_steps": 20, "distractors": 0})
    assert (config.max_steps, config.distractors, config.receptacles) == (20, 0, 5)
    assert parse_options(None) == PRESETS["standard"]
    types = parse_options({"task_types": ["pick_two_obj_and_place", "look_at_obj_in_light"]})
    assert types.task_types == ("look_at_obj_in_light", "pick_two_obj_and_place")


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        ({"presett": "tiny"}, "presett"),
        ({"preset": "huge"}, "tiny, small, standard"),
        ({"max_steps": 0}, "max_steps"),
        ({"max_steps": "10"}, "max_steps"),
        ({"task_types": ["pick_and_place"]}, "pick_and_place_simple"),
        ({"task_types": "pick_and_place_simple"}, "task_types"),
        ({"command_style": "drop"}, "command_style"),
    ],
)
def test_bad_options_raise(options, needle):
    with pytest.raises(ValueError, match=needle):
        SPEC.make(options)
    with pytest.raises(ValueError) as info:
        parse_options(options)
    if "presett" in options:
        assert all(key in str(info.value) for key in OPTION_KEYS)


def test_train_tasks_seeded_and_balanced():
    a = SPEC.train_tasks({"preset": "tiny"}, 0, 60)
    assert a == SPEC.train_tasks({"preset": "tiny"}, 0, 60)
    assert a != SPEC.train_tasks({"preset": "tiny"}, 1, 60)
    assert all(a.count(t) <= 1 for t in a)
    counts = {t: sum(task.task_type == t for task in a) for t in TASK_TYPES}
    assert set(counts.values()) == {10}
    assert all(0 <= t.seed < EVAL_SEED_BASE for t in a)
    assert len(SPEC.train_tasks({}, 3, 7)) == 7
    only = SPEC.train_tasks({"task_types": ["pick_heat_then_place_in_recep"]}, 0, 5)
    assert {t.task_type for t in only} == {"pick_heat_then_place_in_recep"}


def test_eval_panel_fixed_and_disjoint():
    panel = SPEC.eval_tasks({}, 12)
    assert [t.seed for t in panel] == [EVAL_SEED_BASE + i for i in range(12)]
    assert [t.task_type for t in panel[:6]] == list(TASK_TYPES)
    assert SPEC.eval_tasks({}, 5) == panel[:5]
    assert panel[0].task_id == f"household/pick_and_place_simple/{EVAL_SEED_BASE}"
    with pytest.raises(ValueError):
        SPEC.eval_tasks({}, -1)


def test_env_contract_info_and_episode_end():
    env = SPEC.make({"preset": "tiny", "max_steps": 3})
    task = SPEC.eval_tasks({}, 1)[0]
    with pytest.raises(EnvError, match="reset"):
        env.step("look")
    obs, info = env.reset(task)
    assert obs.startswith("-= Welcome to TextWorld, ALFRED! =-")
    assert set(INFO_KEYS) <= set(info) and {"goal", "expert_plan"} <= set(info)
    assert info["task_type"] == task.task_type and info["goal"] in obs
    result = env.step("jump around")
    assert result.observation == "Nothing happens." and not result.info["is_action_valid"]
    assert set(INFO_KEYS) <= set(result.info) and result.reward == 0.0 and not result.done
    env.step("look")
    result = env.step("inventory")
    assert result.done and not result.info["won"]
    assert env.expert_action() is None
    with pytest.raises(EnvError, match="reset"):
        env.step("look")
    assert env.reset(task)[0] == obs  # same task, same world


def test_reset_rejects_filtered_task_type():
    env = SPEC.make({"task_types": ["pick_and_place_simple"]})
    with pytest.raises(EnvError, match="task_types"):
        env.reset(Task("x", "look_at_obj_in_light", 0))
