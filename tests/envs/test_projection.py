"""Action projection: a table of tricky model outputs."""

from __future__ import annotations

import doctest

import pytest

import sdar.envs.projection as projection
from sdar.envs.household.projection import household_project
from sdar.envs.projection import contains_cjk, normalize_action, project_action

ADMISSIBLE = ["go to cabinet 1", "open fridge 1", "take apple 1 from countertop 1", "look"]
T = "<think>I should open the fridge.</think>"

CASES = [
    # (text, think, expected action, expected valid)
    (f"{T}<action>open fridge 1</action>", True, "open fridge 1", True),
    (f"{T}\n<action>\n  Open   FRIDGE 1 \n</action>", True, "open fridge 1", True),
    (f"{T}<ACTION>look</ACTION>", True, "look", True),
    ("<action>go to cabinet 1</action>", False, "go to cabinet 1", True),
    ("<action>go to cabinet 1</action>", True, "go to cabinet 1", False),  # think missing
    ("<think>unclosed <action>look</action>", True, "look", False),
    ("<action>look</action><think>late</think>", True, "look", False),  # think after action
    (f"{T}", True, "hould open the fridge.</think>", False),  # no action: last 30 chars
    ("", True, "", False),
    ("", False, "", False),
    ("go to cabinet 1", False, "go to cabinet 1", False),  # bare text, no tags
    (f"{T}<action>look</action><action>open fridge 1</action>", True, "open fridge 1", False),
    (f"{T}<action><action>look</action>", True, "look", False),  # nested / doubled open
    (f"{T}<action>look</action></action>", True, "look", False),  # doubled close
    (f"{T}<action>open fridge 1", True, "open fridge 1", False),  # unclosed
    (f"{T}</action>look<action>", True, "", False),  # reversed tags
    (f"{T}<action></action>", True, "", False),
    (f"{T}<action>go to cabinet 9</action>", True, "go to cabinet 9", False),  # not admissible
    (f"{T}<action>open fridge 1.</action>", True, "open fridge 1.", False),
    ("<think>我想打开冰箱</think><action>open fridge 1</action>", True, "open fridge 1", False),
    (f"{T}<action>打开 fridge 1</action>", True, "打开 fridge 1", False),
    ("<think>x</think><action>look</action>ｘ", True, "look", False),  # full-width letter
    ("<think>" + "blah " * 5000 + "</think><action>look</action>", True, "look", True),
    ("blah " * 5000, True, "blah blah blah blah blah blah", False),
]


@pytest.mark.parametrize(("text", "think", "action", "valid"), CASES)
def test_projection_table(text, think, action, valid):
    assert project_action(text, ADMISSIBLE, think=think) == (action, valid)
    assert household_project(text, ADMISSIBLE, think=think) == (action, valid)


def test_no_admissible_list_accepts_any_well_formed_action():
    assert project_action(f"{T}<action>Buy  Shoes</action>", None, think=True) == (
        "buy shoes",
        True,
    )
    assert project_action("<action>x</action>", None, think=True) == ("x", False)


def test_admissible_entries_are_normalised_too():
    assert project_action("<action>look</action>", ["  LOOK "], think=False) == ("look", True)


def test_fallback_length():
    text = "abcdefghij" * 5
    assert project_action(text, None, think=False, fallback_chars=10) == ("abcdefghij", False)
    assert project_action(text, None, think=False, fallback_chars=0) == ("", False)


def test_helpers():
    assert normalize_action("\tGo  TO\n desk 1 ") == "go to desk 1"
    assert contains_cjk("こんにちは") and contains_cjk("안녕") and not contains_cjk("café")


def test_doctests():
    assert doctest.testmod(projection).failed == 0


@pytest.mark.parametrize(
    ("text", "think", "expected"),
    [
        # well formed but not admissible: valid under the authors' rule
        ("<think>t</think><action>fly to the moon</action>", True, ("fly to the moon", True)),
        # think after the action: the authors check only that both pairs exist
        ("<action>look</action><think>late</think>", True, ("look", True)),
        ("<action>look</action>", True, ("look", False)),  # no think pair
        ("<think>t</think>go to desk 1", True, ("<think>t</think>go to desk 1", False)),
        ("<action>look</action>", False, ("look", True)),
        ("<action>Go To  Desk 1 </action>", False, ("go to  desk 1", True)),
        # CJK ideographs only: kana, Hangul and full-width forms do not count
        ("<action>look 柜</action>", False, ("look 柜", False)),
        ("<action>look カ</action>", False, ("look カ", True)),
        ("<action>look 한</action>", False, ("look 한", True)),
        ("<action>look Ａ</action>", False, ("look ａ", True)),
        # two actions: the first pair counts
        ("<action>look</action><action>inventory</action>", False, ("look", True)),
        ("", False, ("", False)),
    ],
)
def test_authors_rule(text, think, expected):
    from sdar.envs.projection import authors_project_action

    assert authors_project_action(text, ["look", "inventory"], think=think) == expected
