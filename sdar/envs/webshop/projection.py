"""WebShop action projection: the shared tag rules, a 20-character fallback, and
``search[...]`` accepted for the ``search[<your query>]`` placeholder.

A response is valid when it is well formed (`sdar.envs.projection`) and its action is
either ``search[<non-empty query>]`` while the available actions offer a search, or
one of the listed ``click[...]`` actions (compared as the shop reads clicks: case and
white space ignored); parsed actions come back in canonical form (``click[buy now]``).
Invalid responses still step the shop with their action text (or their last 20
characters, verl-agent's WebShop value), which the shop answers by changing nothing.
`webshop_project_authors` is the authors' rule (``env.projection=authors``): format only.
"""

from __future__ import annotations

from collections.abc import Sequence

from sdar.envs.projection import authors_project_action, project_action
from sdar.envs.webshop.engine import SEARCH_ACTION, parse_action, resolve_click

FALLBACK_CHARS = 20


def webshop_project(
    text: str, admissible: Sequence[str] | None, *, think: bool
) -> tuple[str, bool]:
    """``(action, valid)`` for a model response (rules in the module docstring)."""
    action, well_formed = project_action(text, None, think=think, fallback_chars=FALLBACK_CHARS)
    return _check(action, well_formed, admissible)


def webshop_project_authors(
    text: str, admissible: Sequence[str] | None, *, think: bool
) -> tuple[str, bool]:
    """The authors' rule (no admissibility check, SDAR_SPEC 1.3), 20-character fallback."""
    action, valid = authors_project_action(
        text, admissible, think=think, fallback_chars=FALLBACK_CHARS
    )
    parsed = parse_action(action)
    return (f"{parsed[0]}[{parsed[1]}]" if parsed else action), valid


def _check(action: str, well_formed: bool, admissible: Sequence[str] | None) -> tuple[str, bool]:
    parsed = parse_action(action)
    if parsed is not None:
        action = f"{parsed[0]}[{parsed[1]}]"
    if not well_formed or admissible is None:
        return action, well_formed
    if parsed is None:
        return action, False
    if parsed[0] == "search":
        return action, bool(parsed[1]) and SEARCH_ACTION in admissible
    clicks = [
        a[len("click[") : -1] for a in admissible if a.startswith("click[") and a.endswith("]")
    ]
    return action, resolve_click(parsed[1], clicks) is not None
