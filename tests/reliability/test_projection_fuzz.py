"""The projection never crashes and stays linear-time on 10^4 seeded adversarial inputs
(issue 16, point 10): each input's time is bounded by a multiple of the median."""

from __future__ import annotations

import random
import time

import pytest

from sdar.envs.projection import project_action

pytestmark = pytest.mark.reliability

PIECES = [
    "<think>", "</think>", "<action>", "</action>", "<THINK>", "</Action>", "<act", "ion>",
    "<", ">", "/", "go to cabinet 1", " ", "\n", "\t", "柜子", "look", "x" * 40,
]  # fmt: skip
ADMISSIBLE = ["go to cabinet 1", "look", "open fridge 1"]


def fuzz_input(rng: random.Random, size: int) -> str:
    """About ``size`` characters: a random mix, or one pathological repetition."""
    kind = rng.random()
    if kind < 0.1:  # n closing then n opening think tags: quadratic before issue 16
        k = size // 15
        return "</think>" * k + "<think>" * k + "<action>look</action>"
    if kind < 0.2:  # the action block first, then n think tags
        k = size // 15
        return "<action>look</action>" + "<think>" * k + "</think>" * k
    if kind < 0.3:
        unit = rng.choice(["</think><think>", "<think>", "</think>", "<action>", "</action>"])
        return unit * (size // len(unit))
    out, n = [], 0
    while n < size:
        piece = rng.choice(PIECES)
        out.append(piece)
        n += len(piece)
    return "".join(out)


def timed(text: str, think: bool) -> float:
    start = time.perf_counter()
    action, valid = project_action(text, ADMISSIBLE, think=think)
    elapsed = time.perf_counter() - start
    assert isinstance(action, str) and isinstance(valid, bool)
    return elapsed


def test_projection_fuzz_is_linear():
    rng = random.Random(16)
    inputs = [(fuzz_input(rng, 8192), rng.random() < 0.5) for _ in range(10_000)]
    times = [timed(text, think) for text, think in inputs]
    median = sorted(times)[len(times) // 2]
    bound = max(50 * median, 0.01)  # the floor absorbs scheduler noise on a busy machine
    slow = [i for i, t in enumerate(times) if t > bound]
    # Re-time outliers: a noisy machine delays one call, a quadratic input stays slow.
    slow = [i for i in slow if min(timed(*inputs[i]) for _ in range(3)) > bound]
    assert not slow, [(inputs[i][0][:40], times[i], median) for i in slow[:5]]


def test_repeated_think_tags_cost_linear_time():
    """8,000 ``</think>`` then 8,000 ``<think>`` tags (117 KiB): 4.8-9 s before."""
    text = "</think>" * 8000 + "<think>" * 8000 + "<action>look</action>"
    assert timed(text, True) < 0.5
    assert project_action(text, ADMISSIBLE, think=True) == ("look", False)
    text = "<action>look</action>" + "<think>" * 8000 + "</think>" * 8000
    assert timed(text, True) < 0.5
    assert project_action(text, ADMISSIBLE, think=True) == ("look", False)
