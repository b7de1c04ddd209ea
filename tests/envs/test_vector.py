"""VectorEnv: groups, in-process vs worker processes, crash and hang recovery."""

from __future__ import annotations

import os
import signal
import threading
from typing import Any

import pytest

from sdar.envs.base import INFO_KEYS, EnvError, EnvSpec, StepResult, Task
from sdar.envs.vector import VectorEnv


class CountingEnv:
    """A tiny env: "go" advances, the episode is won after ``goal`` steps; "hang" blocks
    forever (a stuck env), "boom" raises. Reset info reports the process id."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.goal = options.get("goal", 3)
        self.task: Task | None = None
        self.position = 0

    def reset(self, task: Task) -> tuple[str, dict[str, Any]]:
        self.task, self.position = task, task.seed
        return f"{task.task_id} at {self.position}", {**self._info(True), "pid": os.getpid()}

    def step(self, action: str) -> StepResult:
        if action == "hang":
            threading.Event().wait()  # never set: simulates an env stuck in native code
        if action == "boom":
            raise RuntimeError("boom")
        self.position += action == "go"
        won = self.position >= self.goal
        return StepResult(f"at {self.position}", float(won), won, self._info(action == "go"))

    def expert_action(self) -> str | None:
        return "go"

    def close(self) -> None:
        self.task = None

    def _info(self, valid: bool) -> dict[str, Any]:
        return {
            "won": self.position >= self.goal,
            "admissible_actions": ["go", "wait"],
            "task_type": self.task.task_type,
            "is_action_valid": valid,
        }


def make_counting(options: dict[str, Any]) -> CountingEnv:
    return CountingEnv(options)


def _prompt(**kwargs: Any) -> str:
    return kwargs["observation"]


def _project(text: str, admissible: Any, *, think: bool) -> tuple[str, bool]:
    return text, True


def _tasks(options: dict[str, Any], n: int, seed: int = 0) -> list[Task]:
    return [Task(task_id=f"t{i}", task_type="count", seed=i % 2) for i in range(n)]


COUNTING = EnvSpec(
    name="counting",
    description="test env",
    make=make_counting,
    prompt=_prompt,
    project=_project,
    task_types=("count",),
    train_tasks=lambda options, seed, n: _tasks(options, n, seed),
    eval_tasks=_tasks,
)


def test_groups_share_the_initial_state_and_modes_agree():
    household = pytest.importorskip("sdar.envs.household.spec").SPEC
    tasks = household.eval_tasks({}, 3)
    grouped = [task for task in tasks for _ in range(2)]  # G=2 copies per task
    traces = []
    for workers in (0, 2):
        with VectorEnv(household, {}, 6, num_workers=workers) as venv:
            resets = venv.reset(grouped)
            assert resets[0] == resets[1] and resets[2] == resets[3] and resets[0] != resets[2]
            trace = [obs for obs, _ in resets]
            while True:
                actions = venv.expert_actions()
                if not any(actions):
                    break
                for result in venv.step(actions):
                    trace.append(result and (result.observation, result.reward, result.done))
            traces.append(trace)
    assert traces[0] == traces[1]


def test_in_process_basics_and_env_exceptions():
    with VectorEnv(COUNTING, {"goal": 2}, 3) as venv:
        venv.reset(_tasks({}, 3))
        results = venv.step(["go", None, "boom"])
        assert results[1] is None and not results[0].done
        assert results[2].done and "RuntimeError: boom" in results[2].info["worker_error"]
        assert set(INFO_KEYS) <= set(results[2].info)
        with pytest.raises(ValueError, match="slot 2 has no running episode"):
            venv.step(["go", "go", "go"])
        assert venv.expert_actions() == ["go", "go", None]
        results = venv.step(["go", "go", None])  # slot 1 started one step ahead (seed 1)
        assert results[0].done and results[0].info["won"] and results[0].observation == "at 2"
        assert results[1].done and results[1].observation == "at 2"
        assert venv.expert_actions() == [None, None, None]
        with pytest.raises(ValueError, match="expected 3 actions"):
            venv.step(["go"])


def test_killed_worker_is_restarted_and_its_episodes_marked(caplog):
    with VectorEnv(COUNTING, {"goal": 5}, 4, num_workers=2, step_timeout=20) as venv:
        resets = venv.reset(_tasks({}, 4))
        pids = [info["pid"] for _, info in resets]
        assert pids[0] == pids[2] != pids[1] == pids[3]  # slot i lives in worker i % 2
        venv.step(["go"] * 4)
        os.kill(pids[1], signal.SIGKILL)
        results = venv.step(["go", "go", "go", None])
        assert [r.done for r in results[:3]] == [False, True, False] and results[3] is None
        marked = results[1]
        assert (
            marked.reward == 0.0 and not marked.info["won"] and not marked.info["is_action_valid"]
        )
        assert "died" in marked.info["worker_error"] and marked.info["task_type"] == "count"
        assert "restarting" in caplog.text
        paused = venv.step([None, None, None, "go"])[3]  # slot 3 lived in the same worker
        assert paused.done and "lost this episode" in paused.info["worker_error"]
        resets = venv.reset(_tasks({}, 4))  # the restarted worker serves again
        assert resets[1][1]["pid"] not in pids
        assert not any(r.done for r in venv.step(["go"] * 4))


def test_hung_worker_is_killed_and_restarted():
    with VectorEnv(COUNTING, {}, 2, num_workers=2, step_timeout=1.0) as venv:
        resets = venv.reset(_tasks({}, 2))
        hung_pid = resets[0][1]["pid"]
        results = venv.step(["hang", "go"])
        assert results[0].done and "hung" in results[0].info["worker_error"]
        assert not results[1].done and results[1].info["is_action_valid"]
        with pytest.raises(ProcessLookupError):
            os.kill(hung_pid, 0)  # killed and reaped: no zombie left
        assert venv.reset(_tasks({}, 2))[0][1]["pid"] != hung_pid
        assert venv.step(["go", "go"])[0].observation == "at 1"


def test_worker_that_cannot_build_envs_raises_env_error():
    spec = EnvSpec(**{**COUNTING.__dict__, "make": make_broken})
    venv = VectorEnv(spec, {}, 2, num_workers=1)
    with pytest.raises(EnvError, match="could not build its environments: EnvError: no data"):
        venv.reset(_tasks({}, 2))
    with pytest.raises(EnvError, match="shut down"):
        venv.reset(_tasks({}, 2))
    venv.close()


def make_broken(options: dict[str, Any]) -> CountingEnv:
    raise EnvError("no data")


def test_unpicklable_make_is_rejected():
    spec = EnvSpec(**{**COUNTING.__dict__, "make": lambda options: CountingEnv(options)})
    with pytest.raises(TypeError, match="picklable"):
        VectorEnv(spec, {}, 2, num_workers=1)
