"""Text-level teacher prompt placements, Skill-GRPO injection and privileged kinds."""

from __future__ import annotations

import pytest

from sdar.skills.privileged import build_privileged_text
from sdar.skills.teacher_prompt import (
    SKILL_HEADER,
    privileged_block,
    skill_prompt_messages,
    teacher_messages,
)

STEP = [{"role": "user", "content": "Your task is to: put a hot mug in cabinet."}]
BLOCK = "[Privileged Skill Information]\nSKILLS\n\n"


def test_block_format() -> None:
    assert SKILL_HEADER == "[Privileged Skill Information]\n"
    assert privileged_block("SKILLS") == BLOCK
    assert privileged_block("") == ""


def test_prefix_keeps_messages_and_returns_raw_block() -> None:
    prefix, messages = teacher_messages(STEP, "SKILLS", "prefix")
    assert prefix == BLOCK
    assert messages == STEP and messages is not STEP


def test_system_placement_creates_or_extends_system() -> None:
    _, created = teacher_messages(STEP, "SKILLS", "system")
    assert created[0] == {"role": "system", "content": BLOCK.rstrip("\n")}
    assert created[1:] == STEP
    with_sys = [{"role": "system", "content": "Be brief."}, *STEP]
    _, extended = teacher_messages(with_sys, "SKILLS", "system")
    assert extended[0]["content"] == BLOCK + "Be brief."
    assert with_sys[0]["content"] == "Be brief."  # input untouched


def test_user_placement_goes_before_the_task() -> None:
    prefix, messages = teacher_messages(STEP, "SKILLS", "user")
    assert prefix == ""
    assert messages[0]["content"] == BLOCK + STEP[0]["content"]
    assert STEP[0]["content"].startswith("Your task")


def test_empty_text_changes_nothing_and_bad_placement_raises() -> None:
    for placement in ("prefix", "system", "user"):
        assert teacher_messages(STEP, "", placement) == ("", STEP)
    with pytest.raises(ValueError, match="valid: prefix, system, user"):
        teacher_messages(STEP, "S", "assistant")
    with pytest.raises(ValueError, match="no user message"):
        teacher_messages([{"role": "system", "content": "x"}], "S", "user")


def test_skill_prompt_messages_prefixes_the_observation() -> None:
    messages = [{"role": "system", "content": "sys"}, *STEP]
    out = skill_prompt_messages(messages, "SKILLS")
    assert out[0] == messages[0]
    assert out[1]["content"] == BLOCK + STEP[0]["content"]
    assert skill_prompt_messages(messages, "") == messages


def test_privileged_kinds_combine_in_order() -> None:
    text = build_privileged_text(
        ["expert_plan", "skills"],
        retrieval_text="SKILLS",
        expert_plan=["go to fridge 1", "open fridge 1"],
        gold_answers=None,
    )
    assert (
        text == "Expert plan from the current state:\n1. go to fridge 1\n2. open fridge 1\n\nSKILLS"
    )
    text = build_privileged_text(
        ["gold_answer"], retrieval_text="", expert_plan=None, gold_answers=["Paris", "paris"]
    )
    assert text == "Reference answer: Paris | paris"
    assert (
        build_privileged_text(["skills"], retrieval_text="", expert_plan=None, gold_answers=None)
        == ""
    )


@pytest.mark.parametrize(
    ("kinds", "match"),
    [
        (["gold_answer"], "no gold answers"),
        (["expert_plan"], "no expert plan"),
        (["skills", "hints"], "unknown kinds"),
        (["skills", "skills"], "once"),
    ],
)
def test_privileged_kind_errors(kinds, match) -> None:
    with pytest.raises(ValueError, match=match):
        build_privileged_text(kinds, retrieval_text="S", expert_plan=None, gold_answers=[])
