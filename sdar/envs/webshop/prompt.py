"""WebShop step prompt (SDAR_SPEC 1.2): the shared layout with a shopping role sentence.

Task instruction, step count, the last H (observation, action) pairs, the current page
and the available actions, then the think/action instruction. As in verl-agent, a prompt
with history longer than `MAX_PROMPT_CHARS` characters is rendered without the history.
"""

from __future__ import annotations

from collections.abc import Sequence

from sdar.envs.prompting import render_step_prompt

WEBSHOP_ROLE = (
    "You are an expert shopping agent in WebShop, a simulated online store. You search "
    "for products, open their pages, choose the options the instruction asks for and buy "
    "the one product that matches it."
)
MAX_PROMPT_CHARS = 13_000


def webshop_prompt(
    *,
    goal: str,
    observation: str,
    admissible: Sequence[str] | None,
    history: Sequence[tuple[str, str]],
    step: int,
    think: bool,
) -> str:
    """`render_step_prompt` with `WEBSHOP_ROLE` (a `PromptFn`); long prompts drop history."""
    prompt = render_step_prompt(
        role=WEBSHOP_ROLE,
        goal=goal,
        observation=observation,
        admissible=admissible,
        history=history,
        step=step,
        think=think,
    )
    if len(prompt) <= MAX_PROMPT_CHARS or step == 0:
        return prompt
    return render_step_prompt(
        role=WEBSHOP_ROLE,
        goal=goal,
        observation=observation,
        admissible=admissible,
        history=(),
        step=0,
        think=think,
    )
