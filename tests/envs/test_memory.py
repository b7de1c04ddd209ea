"""Windowed history memory."""

from __future__ import annotations

import doctest

import pytest

import sdar.envs.memory as memory_module
from sdar.envs.memory import HistoryMemory


def test_window_sizes():
    memory = HistoryMemory()
    assert memory.window(2) == [] and len(memory) == 0
    for i in range(5):
        memory.add(f"o{i}", f"a{i}")
    assert memory.window(2) == [("o3", "a3"), ("o4", "a4")]
    assert memory.window(0) == []
    assert memory.window(9) == [(f"o{i}", f"a{i}") for i in range(5)]
    assert len(memory) == 5


def test_window_is_a_copy_and_reset_clears():
    memory = HistoryMemory()
    memory.add("o", "a")
    memory.window(1).append(("x", "y"))
    assert memory.window(5) == [("o", "a")]
    memory.reset()
    assert memory.window(5) == []


@pytest.mark.parametrize("k", [-1, 1.5, True])
def test_bad_window(k):
    with pytest.raises(ValueError):
        HistoryMemory().window(k)


def test_doctests():
    assert doctest.testmod(memory_module).failed == 0
