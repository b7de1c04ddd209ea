"""Search-QA step prompt (SDAR_SPEC 1.2, in our own words).

Layout of the user message:

* a role sentence and ``Your question: <question>``;
* from the second step on: how many steps were taken, then the history window, one line
  per past step, ``Step k: <search>query</search> <information>...</information>``
  (the action, then what the search engine returned for it);
* the instruction: reason inside ``<think></think>`` (``think=True``), then either search
  with ``<search> query </search>`` or answer, briefly, inside ``<answer> </answer>``.

The rollout's history pairs are (observation before the step, action); the result of
action k is the observation before step k+1, or the current observation for the last
pair, so the window shows each action next to its own result.
"""

from __future__ import annotations

from collections.abc import Sequence

ROLE = "You are an expert agent answering a question step by step with a search engine."
HISTORY_INTRO = (
    "Before this step you took {n} step(s). Below is the interaction history: your past "
    "search queries are wrapped in <search> </search>, and the results the search engine "
    "returned for them in <information> </information>."
)
CHOICES = (
    "Then do exactly one of the following, not both:\n"
    "(1) if you are missing knowledge, call the search engine by writing "
    "<search> your query </search>;\n"
    "(2) if you know enough to answer with confidence, write only the final answer, "
    "without explanation, inside <answer> </answer>, for example <answer>Beijing</answer>."
)
THINK = "Now it is your turn. First reason about the question inside <think> </think>."
NO_THINK = "Now it is your turn."


def format_history(history: Sequence[tuple[str, str]], observation: str, step: int) -> str:
    """One ``Step k: <action> <result>`` line per pair (see the module docstring).

    >>> print(format_history([("Q?", "<search>x</search>")], "<information>Doc 1</information>", 1))
    Step 1: <search>x</search> <information>Doc 1</information>
    """
    first = step - len(history) + 1
    results = [obs for obs, _ in history[1:]] + [observation]
    return "\n".join(
        f"Step {first + i}: {action} {result}".rstrip()
        for i, ((_, action), result) in enumerate(zip(history, results, strict=True))
    )


def search_prompt(
    *,
    goal: str,
    observation: str,
    admissible: Sequence[str] | None,
    history: Sequence[tuple[str, str]],
    step: int,
    think: bool,
) -> str:
    """The step prompt (a `PromptFn`); ``goal`` is the question, ``admissible`` unused."""
    if step < 0 or len(history) > step:
        raise ValueError(
            f"step={step} with {len(history)} history pairs: step must be >= 0 and at "
            "least the number of history pairs"
        )
    parts = [ROLE, f"Your question: {goal}"]
    if step > 0:
        parts.append(HISTORY_INTRO.format(n=step))
        if history:
            parts.append(format_history(history, observation, step))
        elif observation:
            parts.append(f"Latest result:\n{observation}")
    parts.append(f"{THINK if think else NO_THINK}\n{CHOICES}")
    return "\n\n".join(parts)
