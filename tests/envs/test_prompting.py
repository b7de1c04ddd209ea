"""Step prompt: goal, history window, admissible list, think/no-think variants."""

from __future__ import annotations

import doctest

import pytest

import sdar.envs.prompting as prompting
from sdar.envs.household.spec import SPEC
from sdar.envs.memory import HistoryMemory
from sdar.envs.prompting import ALFRED_ROLE, alfred_prompt, render_step_prompt

GOAL = "put a clean apple in fridge."
ADMISSIBLE = ["go to fridge 1", "help", "look", "inventory"]


def _prompt(step: int, k: int, think: bool = True, obs: str = "You arrive at loc 3.") -> str:
    memory = HistoryMemory()
    for i in range(step):
        memory.add(f"obs {i + 1}", f"act {i + 1}")
    return alfred_prompt(
        goal=GOAL,
        observation=obs,
        admissible=ADMISSIBLE,
        history=memory.window(k),
        step=step,
        think=think,
    )


def test_first_step_has_no_history():
    text = _prompt(0, 2, obs=f"-= Welcome =-\n\nYour task is to: {GOAL}")
    assert text.startswith(ALFRED_ROLE)
    assert text.count(f"Your task is to: {GOAL}") == 1  # not repeated when in observation
    assert "Prior to this step" not in text and "[Observation" not in text
    # the authors' layout: each action quoted, joined by a newline and a space
    assert "['go to fridge 1'\n 'look'\n 'inventory']" in text


def test_later_step_history_window():
    text = _prompt(5, 2)
    assert f"Your task is to: {GOAL}" in text
    assert "Prior to this step you took 5 step(s)." in text
    assert "You are now at step 6" in text and "You arrive at loc 3." in text
    assert text.count("[Observation") == 2
    assert "[Observation 4: 'obs 4', Action 4: 'act 4']" in text
    assert "[Observation 5: 'obs 5', Action 5: 'act 5']" in text
    assert "obs 3" not in text
    assert _prompt(1, 2).count("[Observation") == 1
    assert _prompt(4, 0).count("[Observation") == 0


def test_admissible_without_help():
    text = _prompt(3, 2)
    assert "'help'" not in text and "'look'" in text
    no_list = alfred_prompt(
        goal=GOAL, observation="o", admissible=None, history=[], step=0, think=True
    )
    assert "admissible actions now are" not in no_list


def test_think_variants():
    with_think, without = _prompt(2, 2, think=True), _prompt(2, 2, think=False)
    assert "<think>" in with_think and "<action>" in with_think
    assert "<think>" not in without and "<action> </action>" in without


def test_rejects_inconsistent_step():
    with pytest.raises(ValueError, match="history"):
        render_step_prompt(
            role="r",
            goal="g",
            observation="o",
            admissible=None,
            history=[("a", "b")] * 3,
            step=2,
            think=True,
        )


def test_household_spec_uses_alfred_prompt():
    kwargs = dict(goal=GOAL, observation="o", admissible=["look"], history=[], step=0, think=True)
    assert SPEC.prompt(**kwargs) == alfred_prompt(**kwargs)


def test_doctests():
    assert doctest.testmod(prompting).failed == 0


def test_compact_prompt_is_the_state_without_role_and_instruction():
    from sdar.envs.prompting import ACTION_ONLY_INSTRUCTION, ALFRED_ROLE, alfred_prompt

    kw = dict(
        goal="put a mug in desk.",
        observation="You arrive at loc 3. On the shelf 1, you see a mug 1.",
        admissible=["take mug 1 from shelf 1", "go to desk 1", "help"],
        history=[("You are in the middle of a room.", "go to shelf 1")],
        step=1,
        think=False,
    )
    full, compact = alfred_prompt(**kw), alfred_prompt(**kw, compact=True)
    assert full.startswith(ALFRED_ROLE) and full.endswith(ACTION_ONLY_INSTRUCTION)
    assert compact == full[len(ALFRED_ROLE) + 2 : -(len(ACTION_ONLY_INSTRUCTION) + 2)]
    assert "'take mug 1 from shelf 1'" in compact and "Action 1: 'go to shelf 1'" in compact


def test_env_prompt_compact_reaches_every_prompt_and_is_refused_where_missing():
    import pytest

    from sdar.train.config import load_config
    from sdar.train.setup import env_parts

    spec, _ = env_parts(load_config("quickstart", ["env.prompt=compact"]))
    text = spec.prompt(
        goal="g", observation="o", admissible=["look"], history=[], step=0, think=False
    )
    assert text == "Your task is to: g\n\nYour current observation is:\no\n\n" + (
        "Your admissible actions now are: ['look']."
    )
    with pytest.raises(ValueError, match="no compact form"):
        env_parts(load_config("searchqa-tiny-cpu", ["env.prompt=compact"]))
    with pytest.raises(ValueError, match="env.prompt"):
        load_config("quickstart", ["env.prompt=short"])
