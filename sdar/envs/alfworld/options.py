"""Options of the ALFWorld family, parsed from the plain dict the rollout passes around."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from sdar.envs.alfworld.games import SPLITS, TASK_TYPES


@dataclass(frozen=True)
class AlfworldOptions:
    """ALFWorld options; every field has a default, so ``{}`` is a valid options dict."""

    data_dir: str | None = None
    """Folder holding ``json_2.1.1/<split>``; None: ``$ALFWORLD_DATA``, else ~/.cache/alfworld."""
    split: str = "train"
    """Split ``train_tasks`` draws from."""
    eval_split: str = "valid_seen"
    """Split of the evaluation panel (``eval_tasks``); valid_seen is in-distribution."""
    task_types: tuple[str, ...] = TASK_TYPES
    """Task types kept in both pools (a subset of the six)."""
    max_steps: int = 50
    """Episode length cap: the step that reaches it ends the episode (done=True)."""
    expert_plan: bool = False
    """Put TextWorld's walkthrough in the reset info (``info["expert_plan"]``), for the
    walkthrough agent and the teacher's ``expert_plan`` text. Planning takes 0.01 s for
    most games but minutes for a few, so it is off by default: `expert_action` then plans
    on first use. Either way a game's plan is computed once and cached (``plan_cache``)."""
    plan_cache: str | None = None
    """Folder of the on-disk plan cache; None: ``$XDG_CACHE_HOME/sdar/alfworld-plans``."""


def parse_options(options: Mapping[str, Any] | None) -> AlfworldOptions:
    """Validate a dict of ALFWorld options; ValueError lists every problem at once."""
    options = dict(options or {})
    known = {f.name for f in fields(AlfworldOptions)}
    errors = [
        f"unknown ALFWorld option {key!r} (valid: {', '.join(sorted(known))})"
        for key in options
        if key not in known
    ]
    data_dir = options.get("data_dir")
    if data_dir is not None and not isinstance(data_dir, (str, os.PathLike)):
        errors.append(f"data_dir: expected a path string or None, got {data_dir!r}")
    for key in ("split", "eval_split"):
        value = options.get(key, getattr(AlfworldOptions, key))
        if value not in SPLITS:
            errors.append(f"{key}: expected one of {', '.join(SPLITS)}, got {value!r}")
    task_types = options.get("task_types", TASK_TYPES)
    if isinstance(task_types, str) or not isinstance(task_types, (list, tuple)) or not task_types:
        errors.append(f"task_types: expected a non-empty list of task types, got {task_types!r}")
        task_types = TASK_TYPES
    unknown_types = [t for t in task_types if t not in TASK_TYPES]
    if unknown_types:
        errors.append(f"task_types: unknown {unknown_types}; valid: {', '.join(TASK_TYPES)}")
    max_steps = options.get("max_steps", AlfworldOptions.max_steps)
    if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1:
        errors.append(f"max_steps: expected an integer >= 1, got {max_steps!r}")
    expert_plan = options.get("expert_plan", AlfworldOptions.expert_plan)
    if not isinstance(expert_plan, bool):
        errors.append(f"expert_plan: expected true or false, got {expert_plan!r}")
    plan_cache = options.get("plan_cache")
    if plan_cache is not None and not isinstance(plan_cache, (str, os.PathLike)):
        errors.append(f"plan_cache: expected a folder path or None, got {plan_cache!r}")
    if errors:
        raise ValueError("invalid ALFWorld options:\n  " + "\n  ".join(errors))
    return AlfworldOptions(
        data_dir=None if data_dir is None else os.fspath(data_dir),
        split=options.get("split", AlfworldOptions.split),
        eval_split=options.get("eval_split", AlfworldOptions.eval_split),
        task_types=tuple(task_types),
        max_steps=max_steps,
        expert_plan=expert_plan,
        plan_cache=None if plan_cache is None else os.fspath(plan_cache),
    )
