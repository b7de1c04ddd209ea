"""Search-QA action projection: model text -> ``(action, valid)`` (SDAR_SPEC 1.3).

The action is the first complete ``<search>...</search>`` block, else the first complete
``<answer>...</answer>`` block, looked for in the text cut after the first ``</search>``
(or, with none, after the first ``</answer>``), and returned re-wrapped with its content stripped:
``<search>query</search>`` or ``<answer>text</answer>``. With neither, the action is ""
(the environment answers it with a format reminder, and the turn is spent).

The response is invalid when it has no such block, when it opens both a ``<search>`` and
an ``<answer>`` tag, or when it opens either tag more than once (tags are matched without
regard to case). An invalid response with a block still sends that block, as the authors'
projection does. No ``<think>`` block is required, and the admissible list is ignored
(Search-QA has none).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_BLOCK = {
    tag: re.compile(f"<{tag}>(.*?)</{tag}>", re.IGNORECASE | re.DOTALL)
    for tag in ("search", "answer")
}
_OPEN = {tag: re.compile(f"<{tag}>", re.IGNORECASE) for tag in ("search", "answer")}
_CLOSE = {tag: re.compile(f"</{tag}>", re.IGNORECASE) for tag in ("search", "answer")}


def search_project(
    text: str, admissible: Sequence[str] | None = None, *, think: bool = True
) -> tuple[str, bool]:
    """``(action, valid)`` for one response (rules in the module docstring).

    >>> search_project("<think>need facts</think><search> capital of France </search>")
    ('<search>capital of France</search>', True)
    >>> search_project("<search>a</search><answer>b</answer>")
    ('<search>a</search>', False)
    >>> search_project("Paris")
    ('', False)
    """
    close = _CLOSE["search"].search(text) or _CLOSE["answer"].search(text)
    head = text[: close.end()] if close else text
    action = ""
    for tag in ("search", "answer"):
        match = _BLOCK[tag].search(head)
        if match:
            action = f"<{tag}>{match.group(1).strip()}</{tag}>"
            break
    opened = {tag: len(_OPEN[tag].findall(text)) for tag in ("search", "answer")}
    valid = bool(action) and not (opened["search"] and opened["answer"])
    valid = valid and opened["search"] <= 1 and opened["answer"] <= 1
    return action, valid
