"""One real ALFWorld text game at a time, played through TextWorld's PDDL backend.

The official ``game.tw-pddl`` files are loaded directly into ``textworld``'s
``PddlEnv`` (the engine alfworld's ``AlfredTWEnv`` builds on), wrapped in alfworld's
``AlfredDemangler`` so objects read "mug 1", "countertop 2". We skip ``AlfredTWEnv``
itself: it wants a YAML-shaped config, scans whole splits on construction and always
attaches the handcoded expert, which stalls on json_2.1.1 games (``put`` vs ``move``).

Episode rules: reward 1.0 on the step that wins (``info["won"]``, from TextWorld), and
the episode ends there; otherwise it ends, lost, at ``max_steps``. An action that is not
in the admissible list is still sent (TextWorld answers "Nothing happens.") and gives
``is_action_valid=False``.

Expert: TextWorld's walkthrough, a fast-downward plan from the initial state. It is
computed only when someone needs it: at reset with option ``expert_plan=True`` (exposed
as ``info["expert_plan"]``), else at the first `AlfworldEnv.expert_action`; planning a
few games takes minutes, so plans are cached on disk by game file (`plans`).
``expert_action`` follows the plan while the agent does; after any deviation it replans
from the current state with the same planner.
"""

from __future__ import annotations

import importlib
import logging
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from sdar.envs.alfworld.games import DATA_HELP, GAMES_FOLDER, resolve_data_dir
from sdar.envs.alfworld.memo import MemoisedTextWorld
from sdar.envs.alfworld.options import AlfworldOptions
from sdar.envs.alfworld.plans import default_cache_dir, load_plan, store_plan
from sdar.envs.base import EnvError, StepResult, Task

logger = logging.getLogger(__name__)

INSTALL_HELP = (
    "The real ALFWorld environment needs the optional packages alfworld 0.4.2 and "
    "textworld[pddl] 1.7.0: run  pip install 'sdar[alfworld]'  (it compiles the "
    "fast-downward planner, so a C++ compiler and cmake must be present)."
)
_BANNER = re.compile(r"^\s*-= Welcome to TextWorld, ALFRED! =-\s*")
_GOAL = re.compile(r"Your task is to: (.+)")


def load_backend() -> SimpleNamespace:
    """Import textworld's PDDL engine and alfworld's demangler, or raise one EnvError."""
    try:
        textworld = importlib.import_module("textworld")
        pddl = importlib.import_module("textworld.envs.pddl")
        alfred = importlib.import_module("alfworld.agents.environment.alfred_tw_env")
        importlib.import_module("fast_downward")
    except ImportError as exc:
        raise EnvError(f"{INSTALL_HELP} (import failed: {exc})") from None
    return SimpleNamespace(
        EnvInfos=textworld.EnvInfos, PddlEnv=pddl.PddlEnv, Demangler=alfred.AlfredDemangler
    )


class AlfworldEnv:
    """An `Env` over ALFWorld's TextWorld games (module docstring for the rules)."""

    def __init__(self, options: AlfworldOptions) -> None:
        self.options = options
        self.data_dir = resolve_data_dir(options.data_dir)
        backend = load_backend()
        # No "walkthrough" extra: TextWorld would plan at every reset; we plan lazily.
        infos = backend.EnvInfos(won=True, admissible_commands=True)
        self.plan_cache = (
            Path(options.plan_cache).expanduser() if options.plan_cache else default_cache_dir()
        )
        try:
            self._tw = MemoisedTextWorld(backend.Demangler(backend.PddlEnv(infos), shuffle=False))
        except (ImportError, RuntimeError, OSError) as exc:
            raise EnvError(
                f"could not start TextWorld's PDDL engine: {exc}. {INSTALL_HELP}"
            ) from exc
        self._game_file: Path | None = None
        self._task: Task | None = None
        self._admissible: list[str] = []
        self._steps = 0
        self._done = True
        self._plan: list[str] | None = None
        self._plan_pos = 0
        self._goal = ""

    def game_path(self, task: Task) -> Path:
        """The task's game file: ``extra["game_file"]``, else ``task_id`` under the data dir."""
        candidates = [self.data_dir / GAMES_FOLDER / task.task_id]
        if "game_file" in task.extra:
            candidates.insert(0, Path(task.extra["game_file"]))
        for path in candidates:
            if path.is_file():
                return path
        raise EnvError(
            f"ALFWorld game for task {task.task_id!r} not found (looked at "
            f"{', '.join(str(p) for p in candidates)}). {DATA_HELP}"
        )

    def reset(self, task: Task) -> tuple[str, dict[str, Any]]:
        path = self.game_path(task)
        try:
            if path != self._game_file:  # reloading the same game would translate it twice
                self._game_file = None
                self._tw.load(str(path))
                self._game_file = path
            state = self._tw.reset()
        except Exception as exc:  # TextWorld/TatSu/fast-downward raise many kinds
            raise EnvError(
                f"could not load ALFWorld game {path}: {type(exc).__name__}: {exc}"
            ) from exc
        self._task = task
        self._steps = 0
        self._done = False
        self._plan = self._initial_plan() if self.options.expert_plan else None
        self._plan_pos = 0
        observation = _BANNER.sub("", state.feedback)
        match = _GOAL.search(observation)
        self._goal = match.group(1).strip() if match else ""
        info = self._info(state, valid=True)
        if self._plan is not None:
            info["expert_plan"] = list(self._plan)
        return observation, info

    def step(self, action: str) -> StepResult:
        if self._task is None or self._done:
            raise EnvError("AlfworldEnv.step called on a finished episode; call reset(task) first")
        action = action.strip()
        valid = action in self._admissible
        try:
            state, _, _ = self._tw.step(action)
        except Exception as exc:  # keep TextWorld internals out of the caller's traceback
            raise EnvError(
                f"ALFWorld step {action!r} failed in {self._task.task_id}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        self._steps += 1
        self._advance_plan(action, valid)
        won = bool(state["won"])
        self._done = won or self._steps >= self.options.max_steps
        return StepResult(
            observation=state.feedback,
            reward=1.0 if won else 0.0,
            done=self._done,
            info=self._info(state, valid=valid),
        )

    def expert_action(self) -> str | None:
        """Next walkthrough step; replans from the current state after a deviation."""
        if self._task is None or self._done:
            return None
        if self._plan is None and self._steps == 0:
            self._plan, self._plan_pos = self._initial_plan(), 0
        elif self._plan is None or self._plan_pos >= len(self._plan):
            self._plan, self._plan_pos = self._replan(), 0
        return self._plan[self._plan_pos] if self._plan else None

    def _replan(self) -> list[str]:
        """A fresh plan from the current state (best effort: no plan, no expert)."""
        assert self._task is not None
        try:
            return [str(a) for a in self._tw._pddl_state.replan(self._tw._entity_infos)]
        except Exception as exc:  # fast-downward and TextWorld raise many kinds
            logger.warning("ALFWorld replanning failed in %s: %s", self._task.task_id, exc)
            return []

    def _initial_plan(self) -> list[str]:
        """The walkthrough from the initial state (call right after reset): cached on disk."""
        assert self._game_file is not None
        plan = load_plan(self.plan_cache, self._game_file)
        if plan is None:
            plan = self._replan()
            if plan:
                store_plan(self.plan_cache, self._game_file, plan)
        return plan

    def close(self) -> None:
        self._task = None
        self._done = True

    def _advance_plan(self, action: str, valid: bool) -> None:
        on_plan = self._plan is not None and self._plan_pos < len(self._plan)
        if on_plan and valid and action == self._plan[self._plan_pos]:
            self._plan_pos += 1
        else:
            self._plan = None  # replan lazily at the next expert_action()

    def _info(self, state: Any, *, valid: bool) -> dict[str, Any]:
        self._admissible = [c for c in state["admissible_commands"] or [] if c != "help"]
        assert self._task is not None
        return {
            "won": bool(state["won"]),
            "admissible_actions": list(self._admissible),
            "task_type": self._task.task_type,
            "is_action_valid": valid,
            "goal": self._goal,
        }
