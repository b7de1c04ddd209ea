"""play(): scripted agents through VectorEnv, summary keys, callback."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from sdar.envs.play import AGENTS, play

KEYS = {"success", "per_task_type", "episodes", "steps_per_second", "env", "agent"}
pytest.importorskip("sdar.envs.household.spec")


@pytest.mark.parametrize("agent", AGENTS)
def test_play_household_returns_the_documented_keys(agent):
    records = []
    summary = play("household", agent, 7, seed=3, on_episode=records.append)
    assert set(summary) >= KEYS
    assert (summary["env"], summary["agent"], summary["episodes"]) == ("household", agent, 7)
    assert len(records) == 7 and sorted(r["episode"] for r in records) == list(range(7))
    assert summary["steps"] == sum(r["steps"] for r in records) and summary["steps_per_second"] > 0
    assert summary["success"] == sum(r["won"] for r in records) / 7
    if agent != "random":
        assert summary["success"] == 1.0


def test_random_agent_is_seeded():
    first = [r["steps"] for r in _records("random", seed=1)]
    assert first == [r["steps"] for r in _records("random", seed=1)]


def _records(agent, seed):
    records = []
    play("household", agent, 4, seed=seed, options={"preset": "tiny"}, on_episode=records.append)
    return sorted(records, key=lambda r: r["episode"])


def test_play_with_workers_matches_in_process():
    local = _strip(play("household", "expert", 6, num_workers=0))
    assert _strip(play("household", "expert", 6, num_workers=2)) == local


def _strip(summary):
    return {k: v for k, v in summary.items() if "second" not in k}


def test_unknown_agent_and_bad_options():
    with pytest.raises(ValueError, match="valid agents: expert, oracle, random, walkthrough"):
        play("household", "genius", 1)
    with pytest.raises(ValueError, match="unknown environment"):
        play("nowhere", "expert", 1)


DATA = Path(
    os.environ.get("ALFWORLD_DATA")
    or Path(__file__).resolve().parents[2] / "../shared/data/alfworld"
).resolve()


@pytest.mark.slow
@pytest.mark.skipif(
    not (DATA / "json_2.1.1").is_dir() or importlib.util.find_spec("textworld") is None,
    reason="needs the ALFWorld data and `pip install 'sdar[alfworld]'`",
)
def test_play_alfworld_expert_with_workers():
    summary = play("alfworld", "expert", 4, data_dir=str(DATA), split="valid_unseen", num_workers=2)
    assert set(summary) >= KEYS and summary["success"] == 1.0 and summary["episodes"] == 4
