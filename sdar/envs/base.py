"""The agent-environment interface every `sdar` environment implements.

Environments are text in, text out: no torch, no tokenizer. An environment family
(household, alfworld, and later shop and searchqa) is described by one `EnvSpec`,
which bundles the world with its prompt template, its action projection and its task
pools, so the rollout code never dispatches on environment names.

Contract:

* ``env.reset(task)`` puts the world in the task's initial state (deterministic in
  ``task``) and returns ``(observation, info)``.
* ``env.step(action)`` returns a `StepResult`. ``info`` always carries the keys in
  `INFO_KEYS`: ``won`` (bool), ``admissible_actions`` (list of str, or None where the
  environment has no such list), ``task_type`` (str), ``is_action_valid`` (bool: the
  action did something / was admissible).
* ``env.expert_action()`` returns the next action of a scripted oracle that solves the
  task from the current state (None when it has none); it feeds behaviour cloning and
  the "expert plan" privileged context.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

INFO_KEYS = ("won", "admissible_actions", "task_type", "is_action_valid")

ALFRED_TASK_TYPES = (
    "pick_and_place_simple",
    "look_at_obj_in_light",
    "pick_clean_then_place_in_recep",
    "pick_heat_then_place_in_recep",
    "pick_cool_then_place_in_recep",
    "pick_two_obj_and_place",
)
"""ALFWorld's six task types, shared by the household world and the real games."""


def check_task_count(n: int) -> None:
    """Task pools take a plain non-negative integer count."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"number of tasks must be an integer >= 0, got {n!r}")


class EnvError(RuntimeError):
    """An environment could not be built or stepped; the message says what to do."""


@dataclass(frozen=True)
class Task:
    """One task an environment can be reset to.

    ``task_id`` is unique inside its family (a generator seed rendered as text, a game
    file path, a question id). ``seed`` is the environment seed used for reset: the G
    rollouts of one GRPO group share the same Task and therefore the identical initial
    state. ``data_source`` names the dataset a task comes from (Search-QA routing);
    ``extra`` holds family-specific, JSON-serialisable details (gold answers, game path).
    """

    task_id: str
    task_type: str
    seed: int = 0
    data_source: str = ""
    extra: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True)
class StepResult:
    observation: str
    reward: float
    done: bool
    info: dict[str, Any]


@runtime_checkable
class Env(Protocol):
    """A single text environment instance (one episode at a time)."""

    def reset(self, task: Task) -> tuple[str, dict[str, Any]]: ...

    def step(self, action: str) -> StepResult: ...

    def expert_action(self) -> str | None: ...

    def close(self) -> None: ...


class PromptFn(Protocol):
    """Builds the step prompt (a user message) from the episode state.

    ``history`` holds the last ``history_length`` (observation, action) pairs, oldest
    first; ``step`` is the number of steps already taken. ``think`` selects the variant
    with a ``<think></think>`` block before the ``<action></action>`` answer.
    """

    def __call__(
        self,
        *,
        goal: str,
        observation: str,
        admissible: Sequence[str] | None,
        history: Sequence[tuple[str, str]],
        step: int,
        think: bool,
    ) -> str: ...


class ProjectFn(Protocol):
    """Turns model text into ``(action, valid)``.

    Invalid outputs (no action block, several actions, an action outside the admissible
    set, a missing think block when ``think`` is on) give ``valid=False`` and the
    environment's no-op action text, so the step is still taken.
    """

    def __call__(
        self, text: str, admissible: Sequence[str] | None, *, think: bool
    ) -> tuple[str, bool]: ...


def reward_on_win(final_info: dict[str, Any], success_reward: float) -> float:
    """R = success_reward if the episode was won, else 0 (ALFWorld, Search-QA, WebShop)."""
    return success_reward * float(bool(final_info.get("won", False)))


@dataclass(frozen=True)
class EnvSpec:
    """Everything the rollout needs to know about one environment family.

    ``make(options)`` builds one Env from a plain dict of family options (difficulty,
    data dir, split...). It must be a module-level function so worker processes can
    pickle it. ``train_tasks(options, seed, n)`` draws n training tasks;
    ``eval_tasks(options, n)`` returns the fixed evaluation panel: the same tasks in the
    same order on every machine.

    Rewards belong to the environment (SDAR_SPEC 1.3): ``info["won"]`` at the last step is
    the family's success rule, ``episode_reward(final_info, success_reward)`` turns the
    last step's info into the episode reward R (default ``success_reward * won``), and
    ``invalid_penalty`` is subtracted on every step the projection marked invalid.
    ``episode_metrics`` names extra numeric keys of the last step's info (WebShop's
    ``score``) that training and evaluation average and log.
    """

    name: str
    description: str
    make: Callable[[dict[str, Any]], Env]
    prompt: PromptFn
    project: ProjectFn
    task_types: tuple[str, ...]
    train_tasks: Callable[[dict[str, Any], int, int], list[Task]]
    eval_tasks: Callable[[dict[str, Any], int], list[Task]]
    stop_strings: tuple[str, ...] = ("</action>",)
    success_reward: float = 10.0
    invalid_penalty: float = 0.1
    max_steps: int = 50
    episode_reward: Callable[[dict[str, Any], float], float] = reward_on_win
    episode_metrics: tuple[str, ...] = ()
    project_authors: ProjectFn | None = None
    """The projection under the authors' invalid-action rule (``env.projection=authors``:
    no admissibility check, SDAR_SPEC 1.3); None when ``project`` already is that rule."""
