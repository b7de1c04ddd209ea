"""`SPEC`: the household family as the rollout sees it.

Options (a plain dict; see `presets` for the table): ``preset`` ("tiny", "small",
"standard"; default "standard"), ``receptacles``, ``distractors``, ``max_steps``,
``task_types`` (subset of the six ALFWorld types), ``command_style`` ("put"/"move").

Task pools:

* ``train_tasks(options, seed, n)``: a seeded draw of ``n`` tasks, balanced over the
  allowed task types (each block of ``len(task_types)`` tasks has every type once, in
  shuffled order); environment seeds lie in ``[0, EVAL_SEED_BASE)``.
* ``eval_tasks(options, n)``: the fixed panel: task ``i`` has type
  ``task_types[i % len(task_types)]`` and seed ``EVAL_SEED_BASE + i``, so the first ``n``
  tasks are the same on every machine and never overlap training seeds.

``SPEC.max_steps`` is the default preset's cap (50); an env built with other options
ends its episodes at its own ``max_steps`` (done=True), which the rollout follows.
"""

from __future__ import annotations

import random
from typing import Any

from sdar.envs.base import EnvSpec, Task, check_task_count
from sdar.envs.household.env import HouseholdEnv
from sdar.envs.household.presets import DEFAULT_PRESET, PRESETS, parse_options
from sdar.envs.household.projection import household_project, household_project_authors
from sdar.envs.household.prompt import household_prompt
from sdar.envs.household.vocab import TASK_TYPES

EVAL_SEED_BASE = 1_000_000_000


def make(options: dict[str, Any]) -> HouseholdEnv:
    """Build one household env from an options dict (ValueError on bad options)."""
    return HouseholdEnv(parse_options(options))


def _task(task_type: str, seed: int, preset: str) -> Task:
    return Task(
        task_id=f"household/{task_type}/{seed}",
        task_type=task_type,
        seed=seed,
        data_source="household",
        extra={"preset": preset},
    )


def train_tasks(options: dict[str, Any], seed: int, n: int) -> list[Task]:
    """``n`` training tasks drawn with ``seed``, balanced over task types."""
    check_task_count(n)
    config = parse_options(options)
    rng = random.Random(f"household-train:{seed}")
    tasks: list[Task] = []
    while len(tasks) < n:
        block = list(config.task_types)
        rng.shuffle(block)
        for task_type in block[: n - len(tasks)]:
            tasks.append(_task(task_type, rng.randrange(EVAL_SEED_BASE), config.preset))
    return tasks


def eval_tasks(options: dict[str, Any], n: int) -> list[Task]:
    """The fixed evaluation panel (same tasks, same order, on every machine)."""
    check_task_count(n)
    config = parse_options(options)
    types = config.task_types
    return [_task(types[i % len(types)], EVAL_SEED_BASE + i, config.preset) for i in range(n)]


SPEC = EnvSpec(
    name="household",
    description=(
        "Procedural ALFWorld-style household: ALFWorld's six task types, grammar and "
        "feedback text, generated from seeds in pure Python (presets tiny/small/standard)."
    ),
    make=make,
    prompt=household_prompt,
    project=household_project,
    project_authors=household_project_authors,
    task_types=TASK_TYPES,
    train_tasks=train_tasks,
    eval_tasks=eval_tasks,
    stop_strings=("</action>",),
    success_reward=10.0,
    invalid_penalty=0.1,
    max_steps=PRESETS[DEFAULT_PRESET].max_steps,
)
