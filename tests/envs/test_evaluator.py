"""Success summary from episode records."""

from __future__ import annotations

import doctest
from dataclasses import dataclass

import pytest

import sdar.envs.evaluator as evaluator
from sdar.envs.evaluator import success_summary


@dataclass
class Record:
    task_type: str
    won: bool


def test_pooled_not_mean_of_types():
    records = [Record("a", True)] * 3 + [Record("a", False)] + [Record("b", False)] * 4
    summary = success_summary(records)
    assert summary == {
        "success": 3 / 8,
        "per_task_type": {"a": 0.75, "b": 0.0},
        "episodes": 8,
        "per_task_type_episodes": {"a": 4, "b": 4},
    }


def test_mappings_and_empty():
    assert success_summary([{"task_type": "x", "won": 1}])["success"] == 1.0
    empty = {"success": 0.0, "per_task_type": {}, "episodes": 0, "per_task_type_episodes": {}}
    assert success_summary([]) == empty


def test_missing_field():
    with pytest.raises(ValueError, match="won"):
        success_summary([{"task_type": "x"}])


def test_doctests():
    assert doctest.testmod(evaluator).failed == 0
