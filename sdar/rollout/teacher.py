"""The teacher's token-level context: privileged text + step prompt + the student's ids.

SDAR_SPEC 4.4 describes the authors' recipe: decode the student prompt with special
tokens, prepend ``"[Privileged Skill Information]\\n" + skills + "\\n\\n"``, re-tokenise,
then keep the last ``max_prompt_length`` tokens, which cuts the skills first. That is
``truncation="left"`` here, used by the paper presets. Our default differs in one
deliberate way (SDAR_SPEC 7 #8), ``truncation="history"``: the teacher has its own
budget, and when the prompt is too long the history window is shortened (k = H, H-1,
..., 0), never the skills. If even k = 0 does not fit, the sample is marked ``dropped``:
it leaves the distillation term but stays in the RL term.

Steps of `build_teacher_context` (the ``# step N`` comments match):
1. tokenise the privileged block once (placement ``prefix``: these ids go in front);
2. for k = H..0: render the step messages with k history pairs, place the privileged
   text, apply the chat template with the generation prompt, tokenise without extra
   special tokens;
3. the first k whose prompt fits the budget wins; otherwise the sample is dropped
   (``left``: k = H always, and a prompt over budget keeps its last tokens);
4. the student's response ids are appended as they are: never decoded, never re-encoded.

The student prompt (`student_prompt_ids`) never carries privileged text, unless the
caller built its messages with ``skill_prompt_messages`` (Skill-GRPO).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sdar.skills.teacher_prompt import PLACEMENTS, privileged_block, teacher_messages

TRUNCATIONS = ("history", "left")


@dataclass(frozen=True)
class TeacherContext:
    """One teacher sample. ``prompt_ids`` is empty when ``dropped``.

    ``skill_tokens``: length of the privileged block in tokens (tokenised alone);
    ``history_used``: the history window k of the prompt that fit; ``shortened``: it fit
    only with k < H; ``dropped``: nothing fit, the sample is left out of distillation;
    ``left_cut``: tokens removed from the front (``truncation="left"`` only).
    """

    prompt_ids: list[int]
    response_ids: list[int]
    skill_tokens: int
    history_used: int
    shortened: bool
    dropped: bool
    left_cut: int = 0


def _encode(tokenizer: Any, text: str) -> list[int]:
    return list(tokenizer.encode(text, add_special_tokens=False))


def student_prompt_ids(
    tokenizer: Any,
    messages: Sequence[dict[str, str]],
    chat_template_kwargs: dict[str, Any] | None = None,
) -> list[int]:
    """Chat template with the generation prompt, tokenised without extra special tokens."""
    text = tokenizer.apply_chat_template(
        list(messages),
        tokenize=False,
        add_generation_prompt=True,
        **(chat_template_kwargs or {}),
    )
    return _encode(tokenizer, text)


def build_teacher_context(
    tokenizer: Any,
    render_messages: Callable[[int], list[dict[str, str]]],
    history_length: int,
    privileged_text: str,
    response_ids: list[int],
    *,
    placement: str = "prefix",
    max_prompt_tokens: int,
    chat_template_kwargs: dict[str, Any] | None = None,
    truncation: str = "history",
) -> TeacherContext:
    """The teacher prompt ids for one step sample, within ``max_prompt_tokens``.

    ``render_messages(k)`` returns the student's step messages with k history pairs.
    ``truncation``: ``history`` (shorten the history, never the skills) or ``left`` (the
    authors': keep the last ``max_prompt_tokens`` tokens of the full prompt).
    """
    if truncation not in TRUNCATIONS:
        raise ValueError(
            f"teacher.truncation: unknown {truncation!r}; valid: {', '.join(TRUNCATIONS)}"
        )
    if placement not in PLACEMENTS:
        raise ValueError(
            f"teacher.placement: unknown {placement!r}; valid: {', '.join(PLACEMENTS)}"
        )
    if history_length < 0:
        raise ValueError(f"history_length: must be >= 0, got {history_length}")
    if max_prompt_tokens <= 0:
        raise ValueError(f"teacher.max_prompt_tokens: must be > 0, got {max_prompt_tokens}")
    # step 1
    block_ids = _encode(tokenizer, privileged_block(privileged_text))
    prefix_ids = block_ids if placement == "prefix" else []
    # step 2
    if truncation == "left":
        _, messages = teacher_messages(render_messages(history_length), privileged_text, placement)
        ids = prefix_ids + student_prompt_ids(tokenizer, messages, chat_template_kwargs)
        cut = max(len(ids) - max_prompt_tokens, 0)
        return TeacherContext(
            prompt_ids=ids[cut:],
            response_ids=list(response_ids),
            skill_tokens=len(block_ids),
            history_used=history_length,
            shortened=False,
            dropped=False,
            left_cut=cut,
        )
    for k in range(history_length, -1, -1):
        raw_prefix, messages = teacher_messages(render_messages(k), privileged_text, placement)
        assert bool(raw_prefix) == bool(prefix_ids), "prefix placement and prefix ids disagree"
        ids = prefix_ids + student_prompt_ids(tokenizer, messages, chat_template_kwargs)
        # step 3
        if len(ids) <= max_prompt_tokens:
            return TeacherContext(
                prompt_ids=ids,
                response_ids=list(response_ids),  # step 4
                skill_tokens=len(block_ids),
                history_used=k,
                shortened=k < history_length,
                dropped=False,
            )
    return TeacherContext(
        prompt_ids=[],
        response_ids=list(response_ids),
        skill_tokens=len(block_ids),
        history_used=0,
        shortened=False,
        dropped=True,
    )


def teacher_stats(contexts: Sequence[TeacherContext]) -> dict[str, float]:
    """Batch metrics: mean skill tokens, mean prompt tokens of the kept samples, and the
    shares shortened and dropped (SDAR_SPEC 4.4 asks to log truncation)."""
    if not contexts:
        raise ValueError("teacher_stats: no teacher contexts given")
    n = len(contexts)
    kept = [c for c in contexts if not c.dropped]
    return {
        "teacher/skill_tokens": sum(c.skill_tokens for c in contexts) / n,
        "teacher/prompt_tokens": (sum(len(c.prompt_ids) for c in kept) / len(kept))
        if kept
        else 0.0,
        "teacher/shortened_ratio": sum(c.shortened for c in contexts) / n,
        "teacher/dropped_ratio": sum(c.dropped for c in contexts) / n,
        "teacher/left_cut_ratio": sum(c.left_cut > 0 for c in contexts) / n,
        "teacher/left_cut_tokens": sum(c.left_cut for c in contexts) / n,
    }
