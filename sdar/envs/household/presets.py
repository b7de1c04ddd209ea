"""Difficulty presets and option parsing for the household world.

Options arrive as a plain dict (from YAML). ``preset`` picks a row of `PRESETS`; every
other key overrides one field of it. Unknown keys and bad values raise `ValueError`
naming the key and the fix.

=========  ===========  ===========  =========  ===========================================
preset     receptacles  distractors  max_steps  meant for
=========  ===========  ===========  =========  ===========================================
tiny       5            2            15         CPU quickstarts with a small model
small      10           6            30         short GPU runs, curriculum start
standard   22           16           50         ALFWorld-sized rooms (ALFWorld's step cap)
=========  ===========  ===========  =========  ===========================================

``receptacles`` is the room size; the generator always adds the receptacles a task
needs, so a tiny room may hold one or two more than asked. ``distractors`` counts the
objects placed besides the task's own. ``command_style`` chooses how placement is
listed among the admissible actions: ``"put"`` (``put O in/on R``, ALFWorld json_2.1.1,
the games in shared/data) or ``"move"`` (``move O to R``, json_2.1.2+); both spellings
are always understood.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any

from sdar.envs.household.vocab import TASK_TYPES


@dataclass(frozen=True)
class HouseholdConfig:
    """Resolved household options.

    Fields:
        preset: name of the preset the other fields started from.
        receptacles: number of receptacles in the room (at least the task's needs).
        distractors: number of objects placed besides the task's target objects.
        max_steps: episode length cap; the episode ends (lost) after this many steps.
        task_types: task types to draw from, a subset of the six ALFWorld types.
        command_style: "put" (``put O in/on R``) or "move" (``move O to R``).
        expert_plan: put the expert's plan in the reset info (it costs microseconds
            here; the option exists because ALFWorld's costs minutes for some games).
    """

    preset: str
    receptacles: int
    distractors: int
    max_steps: int
    task_types: tuple[str, ...] = TASK_TYPES
    command_style: str = "put"
    expert_plan: bool = True


PRESETS = MappingProxyType(
    {
        "tiny": HouseholdConfig("tiny", receptacles=5, distractors=2, max_steps=15),
        "small": HouseholdConfig("small", receptacles=10, distractors=6, max_steps=30),
        "standard": HouseholdConfig("standard", receptacles=22, distractors=16, max_steps=50),
    }
)
DEFAULT_PRESET = "standard"
OPTION_KEYS = (
    "preset",
    "receptacles",
    "distractors",
    "max_steps",
    "task_types",
    "command_style",
    "expert_plan",
)


def _check_int(key: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"household option {key}: expected an integer >= {low}, got {value!r}")
    return value


def _check_task_types(value: Any) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, (list, tuple)) or not value:
        raise ValueError(
            f"household option task_types: expected a non-empty list of task types, "
            f"got {value!r}; valid types: {', '.join(TASK_TYPES)}"
        )
    unknown = [t for t in value if t not in TASK_TYPES]
    if unknown:
        raise ValueError(
            f"household option task_types: unknown task type(s) {unknown}; "
            f"valid types: {', '.join(TASK_TYPES)}"
        )
    # Keep the canonical order so the same subset always gives the same task draws.
    return tuple(t for t in TASK_TYPES if t in value)


def parse_options(options: Mapping[str, Any] | None) -> HouseholdConfig:
    """Resolve an options dict into a `HouseholdConfig` (raises ValueError on bad input)."""
    options = dict(options or {})
    unknown = sorted(set(options) - set(OPTION_KEYS))
    if unknown:
        raise ValueError(
            f"unknown household option(s) {unknown}; valid options: {', '.join(OPTION_KEYS)}"
        )
    name = options.pop("preset", DEFAULT_PRESET)
    if name not in PRESETS:
        raise ValueError(
            f"household option preset: unknown preset {name!r}; valid presets: {', '.join(PRESETS)}"
        )
    fields: dict[str, Any] = {}
    for key in ("receptacles", "distractors", "max_steps"):
        if key in options:
            fields[key] = _check_int(key, options[key], 0 if key == "distractors" else 1)
    if "task_types" in options:
        fields["task_types"] = _check_task_types(options["task_types"])
    if "command_style" in options:
        style = options["command_style"]
        if style not in ("put", "move"):
            raise ValueError(
                f"household option command_style: expected 'put' or 'move', got {style!r}"
            )
        fields["command_style"] = style
    if "expert_plan" in options:
        if not isinstance(options["expert_plan"], bool):
            raise ValueError(
                f"household option expert_plan: expected true or false, "
                f"got {options['expert_plan']!r}"
            )
        fields["expert_plan"] = options["expert_plan"]
    return replace(PRESETS[name], **fields)
