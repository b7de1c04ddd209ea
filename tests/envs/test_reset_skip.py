"""A reset that keeps timing out skips its episode, reported, instead of aborting the
batch; `sdar play` counts episodes lost to worker failures (issue 16, points 8 and 9)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

import sdar.envs.play as play_module
from sdar.envs.base import EnvSpec, StepResult, Task
from sdar.envs.play import play
from sdar.envs.vector import VectorEnv


class SlowEnv:
    """Task "slow" never finishes its reset; "crash" raises on its first step; "go" wins."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.task: Task | None = None

    def reset(self, task: Task) -> tuple[str, dict[str, Any]]:
        if task.task_id == "slow":
            threading.Event().wait()  # a reset stuck in the planner
        self.task = task
        return "start", self._info(False)

    def step(self, action: str) -> StepResult:
        if self.task.task_id == "crash":
            raise RuntimeError("env crashed")
        return StepResult("done", 1.0, True, self._info(True))

    def expert_action(self) -> str | None:
        return "go"

    def close(self) -> None:
        self.task = None

    def _info(self, won: bool) -> dict[str, Any]:
        return {"won": won, "admissible_actions": ["go"], "task_type": "x", "is_action_valid": True}


def make_slow(options: dict[str, Any]) -> SlowEnv:
    return SlowEnv(options)


def _tasks(options: dict[str, Any], n: int) -> list[Task]:
    ids = ["go", "slow", "crash", "go"]
    return [Task(task_id=ids[i % len(ids)], task_type="x") for i in range(n)]


SLOW = EnvSpec(
    name="slow",
    description="test env",
    make=make_slow,
    prompt=lambda **kwargs: kwargs["observation"],
    project=lambda text, admissible, *, think: (text, True),
    task_types=("x",),
    train_tasks=lambda options, seed, n: _tasks(options, n),
    eval_tasks=_tasks,
)


def test_a_reset_that_times_out_twice_is_skipped_and_marked():
    tasks = _tasks({}, 2)  # "go", "slow"
    with VectorEnv(SLOW, {}, 2, num_workers=2, reset_timeout=2.0) as venv:
        resets = venv.reset(tasks)
        assert resets[0][1]["won"] is False and "worker_error" not in resets[0][1]
        observation, info = resets[1]
        assert "reset" in info["worker_error"] and info["won"] is False
        results = venv.step(["go", "go"])
        assert results[0].done and results[0].info["won"]
        assert results[1].done and not results[1].info["won"] and results[1].info["worker_error"]


def test_play_reports_worker_errors(monkeypatch):
    monkeypatch.setattr(play_module, "get_env_spec", lambda name: SLOW)
    result = play("slow", "expert", 4, num_workers=2, reset_timeout=2.0)
    assert result["episodes"] == 4 and result["success"] == pytest.approx(0.5)
    assert result["worker_errors"] == 2
    assert sorted(result["worker_error_tasks"]) == ["crash", "slow"]
