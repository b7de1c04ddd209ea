"""`HouseholdEnv`: the `Env` protocol around the household `World`.

Episode rules (ALFWorld's): reward 1.0 on the step the goal becomes true, and the
episode ends there (``info["won"] = True``); otherwise it ends, lost, after
``config.max_steps`` steps. The training reward scale (10 per win) and the invalid-action
penalty live in the `EnvSpec`, not here. Every step counts, including ones that answer
"Nothing happens.".
"""

from __future__ import annotations

from typing import Any

from sdar.envs.base import EnvError, StepResult, Task
from sdar.envs.household.engine import World
from sdar.envs.household.expert import expert_action, expert_plan
from sdar.envs.household.generator import generate
from sdar.envs.household.presets import HouseholdConfig


class HouseholdEnv:
    """One household episode at a time; deterministic in the `Task` it is reset to."""

    def __init__(self, config: HouseholdConfig) -> None:
        self.config = config
        self.world: World | None = None
        self.task: Task | None = None
        self.steps = 0
        self.done = False

    def reset(self, task: Task) -> tuple[str, dict[str, Any]]:
        if task.task_type not in self.config.task_types:
            raise EnvError(
                f"task {task.task_id!r} has task_type {task.task_type!r}, which this "
                f"household env does not serve; use one of {', '.join(self.config.task_types)} "
                "or widen the task_types option"
            )
        layout = generate(task.task_type, task.seed, self.config)
        self.world = World(layout, self.config.command_style)
        self.task = task
        self.steps = 0
        self.done = False
        info = self._info(won=False, valid=True)
        info["goal"] = layout.goal.text
        if self.config.expert_plan:
            info["expert_plan"] = expert_plan(layout, self.config.command_style)
        return self.world.intro(), info

    def step(self, action: str) -> StepResult:
        world = self._live_world()
        feedback, executed = world.execute(action)
        self.steps += 1
        won = executed and world.goal_reached()
        self.done = won or self.steps >= self.config.max_steps
        return StepResult(
            observation=feedback,
            reward=1.0 if won else 0.0,
            done=self.done,
            info=self._info(won=won, valid=executed),
        )

    def expert_action(self) -> str | None:
        if self.world is None or self.done:
            return None
        return expert_action(self.world)

    def close(self) -> None:
        self.world = None

    def _live_world(self) -> World:
        if self.world is None:
            raise EnvError("HouseholdEnv.step called before reset(task); call reset first")
        if self.done:
            raise EnvError("the episode is over; call reset(task) before stepping again")
        return self.world

    def _info(self, *, won: bool, valid: bool) -> dict[str, Any]:
        assert self.world is not None and self.task is not None
        return {
            "won": won,
            "admissible_actions": self.world.admissible(),
            "task_type": self.task.task_type,
            "is_action_valid": valid,
        }
