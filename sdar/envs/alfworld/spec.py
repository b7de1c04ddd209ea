"""`SPEC`: the real ALFWorld family (TextWorld games, json_2.1.1) as the rollout sees it.

Options (a plain dict, parsed by `parse_options`): ``data_dir``, ``split`` (train pool,
default "train"), ``eval_split`` (panel, default "valid_seen"), ``task_types`` (subset of
the six), ``max_steps`` (default 50) and ``expert_plan`` (plan the walkthrough at reset,
default true). An unknown key is a ValueError naming it.

Task pools:

* ``train_tasks(options, seed, n)``: seeded draws from the train split (shuffled passes,
  so a batch repeats a game only when ``n`` exceeds the split).
* ``eval_tasks(options, n)``: the first ``n`` games of the fixed panel of the eval split
  (types interleaved, each sorted by relative path), cycling when ``n`` is larger.

Importing this module needs neither ``alfworld`` nor ``textworld``; building an env does,
and raises one `EnvError` saying what to install when they are missing.
"""

from __future__ import annotations

from typing import Any

from sdar.envs.alfworld.env import AlfworldEnv
from sdar.envs.alfworld.games import (
    TASK_TYPES,
    discover_games,
    draw_tasks,
    panel_tasks,
    resolve_data_dir,
)
from sdar.envs.alfworld.options import parse_options
from sdar.envs.base import EnvSpec, Task, check_task_count
from sdar.envs.projection import authors_project_action, project_action
from sdar.envs.prompting import alfred_prompt


def make(options: dict[str, Any]) -> AlfworldEnv:
    """Build one ALFWorld env (ValueError on bad options, EnvError on a missing package)."""
    return AlfworldEnv(parse_options(options))


def train_tasks(options: dict[str, Any], seed: int, n: int) -> list[Task]:
    """``n`` seeded draws from the train split (``options["split"]``)."""
    check_task_count(n)
    config = parse_options(options)
    games = discover_games(resolve_data_dir(config.data_dir), config.split, config.task_types)
    return draw_tasks(games, seed, n)


def eval_tasks(options: dict[str, Any], n: int) -> list[Task]:
    """The first ``n`` games of the fixed panel of ``options["eval_split"]``."""
    check_task_count(n)
    config = parse_options(options)
    games = discover_games(resolve_data_dir(config.data_dir), config.eval_split, config.task_types)
    return panel_tasks(games, n)


SPEC = EnvSpec(
    name="alfworld",
    description="Real ALFWorld text games (TextWorld PDDL, json_2.1.1): six household task types.",
    make=make,
    prompt=alfred_prompt,
    project=project_action,
    project_authors=authors_project_action,
    task_types=TASK_TYPES,
    train_tasks=train_tasks,
    eval_tasks=eval_tasks,
    stop_strings=("</action>",),
    success_reward=10.0,
    invalid_penalty=0.1,
    max_steps=50,
)
