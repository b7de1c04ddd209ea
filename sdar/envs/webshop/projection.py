"""WebShop action projection: the shared tag rules, a 20-character fallback, and
``search[...]`` accepted for the ``search[<your query>]`` placeholder.

A response is valid when it is well formed (`sdar.envs.projection`) and its action is
either ``search[<non-empty query>]`` while the available actions offer a search, or
one of the listed ``click[...]`` actions. Invalid responses still step the shop with
their action text (or their last 20 characters, verl-agent's WebShop value), which the
shop answers by changing nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from sdar.envs.projection import authors_project_action, normalize_action, project_action
from sdar.envs.webshop.engine import SEARCH_ACTION, parse_action

FALLBACK_CHARS = 20


def webshop_project(
    text: str, admissible: Sequence[str] | None, *, think: bool
) -> tuple[str, bool]:
    """``(action, valid)`` for a model response (rules in the module docstring)."""
    action, well_formed = project_action(text, None, think=think, fallback_chars=FALLBACK_CHARS)
    if not well_formed or admissible is None:
        return action, well_formed
    parsed = parse_action(action)
    if parsed is not None and parsed[0] == "search":
        return action, bool(parsed[1]) and SEARCH_ACTION in admissible
    return action, action in {normalize_action(a) for a in admissible}


def webshop_project_authors(
    text: str, admissible: Sequence[str] | None, *, think: bool
) -> tuple[str, bool]:
    """The authors' rule (SDAR_SPEC 1.3; no check against the available actions)."""
    return authors_project_action(text, admissible, think=think, fallback_chars=FALLBACK_CHARS)
