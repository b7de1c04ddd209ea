"""Household action projection: the generic tag projection, 30-character fallback.

Invalid responses fall back to their last 30 characters (SDAR_SPEC 1.3, ALFWorld's
value); the world answers anything it cannot run with "Nothing happens." and no change.
"""

from __future__ import annotations

from collections.abc import Sequence

from sdar.envs.projection import authors_project_action, project_action


def household_project(
    text: str, admissible: Sequence[str] | None, *, think: bool
) -> tuple[str, bool]:
    """``(action, valid)`` for a model response; see `sdar.envs.projection`."""
    return project_action(text, admissible, think=think, fallback_chars=30)


def household_project_authors(
    text: str, admissible: Sequence[str] | None, *, think: bool
) -> tuple[str, bool]:
    """The authors' rule (no admissibility check); see `authors_project_action`."""
    return authors_project_action(text, admissible, think=think, fallback_chars=30)
