"""Turn a model's text into an environment action: ``(action, valid)``.

Shared by every tag-based environment family (household, ALFWorld, shop). The rules
follow SDAR_SPEC 1.3 ("what counts as invalid"). A response is **valid** only if:

1. it holds exactly one complete ``<action>...</action>`` block (tag names are
   case-insensitive; a second opening or closing tag, nested or not, makes it invalid);
2. with ``think=True``, a complete ``<think>...</think>`` block closes before the
   ``<action>`` block opens;
3. it contains no CJK character anywhere;
4. when an admissible list is given, the normalised action is in it (normalisation:
   strip, collapse runs of whitespace incl. newlines to one space, lower-case).

**Invalid responses still produce a step.** The returned action is the best candidate:
the (normalised) text of the last ``<action>`` block, or of an unclosed one, when there
is one; otherwise the normalised last ``fallback_chars`` characters of the response.
The environment runs that text; a command it cannot execute answers "Nothing happens."
and changes nothing (the no-op), so a malformed response costs a step and the
invalid-action penalty but never crashes the rollout. A well-formed admissible action
with a format fault (say, no think block) is executed as written, with ``valid=False``,
matching the reference implementation.

The closing ``</action>`` must be present in ``text``: rollouts that stop generation on
the stop string keep it in the decoded response.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

# CJK Unified Ideographs (+ extension A, compatibility), CJK punctuation, kana, Hangul,
# full-width forms.
_CJK = re.compile(
    "[\u3000-\u303f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]"
)


def normalize_action(text: str) -> str:
    """``"  Go   to\\nCabinet 1 " -> "go to cabinet 1"``.

    >>> normalize_action("  Go   to\\nCabinet 1 ")
    'go to cabinet 1'
    """
    return " ".join(text.lower().split())


def contains_cjk(text: str) -> bool:
    """True if ``text`` has any Chinese, Japanese or Korean character.

    >>> contains_cjk("go to 柜子 1"), contains_cjk("go to cabinet 1")
    (True, False)
    """
    return _CJK.search(text) is not None


def _tags(text: str, tag: str) -> tuple[list[int], list[int]]:
    """Start offsets of the opening and of the closing ``tag`` markers."""
    opens = [m.start() for m in re.finditer(f"<{tag}>", text, re.IGNORECASE)]
    closes = [m.start() for m in re.finditer(f"</{tag}>", text, re.IGNORECASE)]
    return opens, closes


def extract_blocks(text: str, tag: str) -> list[str]:
    """Contents of every complete, non-nested ``<tag>...</tag>`` block, in order.

    >>> extract_blocks("<a>x</a> y <a> z </a>", "a")
    ['x', ' z ']
    """
    pattern = re.compile(f"<{tag}>((?:(?!<{tag}>).)*?)</{tag}>", re.IGNORECASE | re.DOTALL)
    return pattern.findall(text)


def _candidate(text: str, fallback_chars: int) -> str:
    blocks = extract_blocks(text, "action")
    if blocks:
        return normalize_action(blocks[-1])
    opens, _ = _tags(text, "action")
    if opens:  # unclosed block: take what follows the last opening tag
        return normalize_action(text[opens[-1] + len("<action>") :])
    return normalize_action(text[-fallback_chars:]) if fallback_chars > 0 else ""


def _well_formed(text: str, think: bool) -> bool:
    opens, closes = _tags(text, "action")
    if len(opens) != 1 or len(closes) != 1 or closes[0] < opens[0]:
        return False
    if not think:
        return True
    think_opens, think_closes = _tags(text, "think")
    # Some <think> closes before <action> iff one closes between the first <think> and
    # <action>: one pass over the closing tags, linear even for thousands of tags.
    return bool(think_opens) and any(think_opens[0] < c < opens[0] for c in think_closes)


def project_action(
    text: str,
    admissible: Sequence[str] | None,
    *,
    think: bool,
    fallback_chars: int = 30,
) -> tuple[str, bool]:
    """Extract ``(action, valid)`` from a model response (rules in the module docstring).

    >>> project_action("<think>fridge first</think><action>Open  Fridge 1</action>",
    ...                ["open fridge 1", "look"], think=True)
    ('open fridge 1', True)
    >>> project_action("open fridge 1", ["open fridge 1"], think=False)
    ('open fridge 1', False)
    """
    action = _candidate(text, fallback_chars)
    if contains_cjk(text) or not _well_formed(text, think) or not action:
        return action, False
    if admissible is not None and action not in {normalize_action(a) for a in admissible}:
        return action, False
    return action, True


# The authors' CJK test (SDAR_SPEC 1.3): CJK Unified Ideographs only.
_AUTHORS_CJK = re.compile("[\u4e00-\u9fff]")


def authors_project_action(
    text: str,
    admissible: Sequence[str] | None,
    *,
    think: bool,
    fallback_chars: int = 30,
) -> tuple[str, bool]:
    """The authors' rule (SDAR_SPEC 1.3, ``projection="authors"``): invalid iff there is no
    ``<action>...</action>`` pair, or (with ``think``) no ``<think>...</think>`` pair, or
    any character in U+4E00-U+9FFF. Neither admissibility nor tag order is checked: the
    world answers an unknown command with "Nothing happens.". The action is the text
    between the first ``<action>`` and the first ``</action>`` after it, lower-cased and
    stripped; without a pair, the last ``fallback_chars`` characters.

    >>> authors_project_action("<action>Fly To Moon</action>", ["look"], think=False)
    ('fly to moon', True)
    >>> authors_project_action("<action>look</action><think>late</think>", None, think=True)
    ('look', True)
    >>> authors_project_action("<think>x</think> Look", None, think=True)
    ('<think>x</think> look', False)
    """
    lower = text.lower()
    start = lower.find("<action>")
    end = lower.find("</action>", start + len("<action>")) if start >= 0 else -1
    if start < 0 or end < 0:
        tail = text[-fallback_chars:] if fallback_chars > 0 else ""
        return normalize_action(tail), False
    action = text[start + len("<action>") : end].strip().lower()
    valid = _AUTHORS_CJK.search(text) is None
    if think:
        t_start = lower.find("<think>")
        valid = valid and t_start >= 0 and lower.find("</think>", t_start) >= 0
    return action, valid
