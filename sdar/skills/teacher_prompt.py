"""The teacher's prompt at text level: where the privileged text goes.

Placements (SDAR_SPEC 4.4, 7 #7):

* ``prefix`` -- the authors' layout: the raw string ``SKILL_HEADER + text + "\\n\\n"`` in
  front of the chat-templated prompt, outside any role (before its first special token);
* ``system`` -- the same block at the start of the system message, created if absent
  (a created system message replaces the template's default system turn);
* ``user`` -- the same block at the start of the current user message, before the task.

`skill_prompt_messages` is the Skill-GRPO / Skill-Prompt injection: the block goes in
front of the student's own observation. Text in, text out: no tokenizer here.
"""

from __future__ import annotations

from collections.abc import Sequence

SKILL_HEADER = "[Privileged Skill Information]\n"
PLACEMENTS = ("prefix", "system", "user")

Message = dict[str, str]


def privileged_block(text: str) -> str:
    """``SKILL_HEADER + text + "\\n\\n"``; empty when there is no text."""
    return f"{SKILL_HEADER}{text}\n\n" if text else ""


def _last_user_index(messages: Sequence[Message]) -> int:
    for i in range(len(messages) - 1, -1, -1):
        if messages[i].get("role") == "user":
            return i
    raise ValueError(
        f"step messages have no user message (roles: {[m.get('role') for m in messages]}); "
        "the step prompt must be a user message"
    )


def _prepend_to(messages: Sequence[Message], index: int, block: str) -> list[Message]:
    out = [dict(m) for m in messages]
    out[index]["content"] = block + out[index]["content"]
    return out


def teacher_messages(
    messages: Sequence[Message], text: str, placement: str = "prefix"
) -> tuple[str, list[Message]]:
    """Returns ``(raw_prefix, messages)`` for the teacher; the input is not modified.

    ``raw_prefix`` is non-empty only for ``prefix``: the caller puts it (as ids) in front
    of the chat-templated messages. With an empty ``text`` the teacher sees exactly the
    student's prompt.
    """
    if placement not in PLACEMENTS:
        raise ValueError(
            f"teacher.placement: unknown {placement!r}; valid: {', '.join(PLACEMENTS)}"
        )
    block = privileged_block(text)
    if not block:
        return "", [dict(m) for m in messages]
    if placement == "prefix":
        return block, [dict(m) for m in messages]
    if placement == "user":
        return "", _prepend_to(messages, _last_user_index(messages), block)
    if messages and messages[0].get("role") == "system":
        return "", _prepend_to(messages, 0, block)
    return "", [{"role": "system", "content": block.rstrip("\n")}, *(dict(m) for m in messages)]


def skill_prompt_messages(messages: Sequence[Message], text: str) -> list[Message]:
    """Skill-GRPO / Skill-Prompt: the student's observation (last user message) is
    prefixed with ``SKILL_HEADER + text + "\\n\\n"``; unchanged when ``text`` is empty."""
    block = privileged_block(text)
    if not block:
        return [dict(m) for m in messages]
    return _prepend_to(messages, _last_user_index(messages), block)
