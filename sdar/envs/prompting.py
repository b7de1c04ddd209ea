"""Step prompts for tag-based text environments (SDAR_SPEC 1.2, in our own words).

A step prompt is one user message built from the episode state:

* a role sentence (for ALFWorld-style worlds: `ALFRED_ROLE`);
* the task: ``Your task is to: <goal>`` (left out when the observation already carries
  that exact sentence, as ALFWorld's first observation does);
* from the second step on: ``Prior to this step you took N step(s).`` and the history
  window, one line per (observation, action) pair, numbered by absolute step:
  ``[Observation k: '<obs>', Action k: '<action>']``;
* ``You are now at step N+1`` with the current observation;
* the admissible actions, each quoted, joined by a newline and a space (the authors'
  layout), with ``help`` removed;
* the output instruction: reason inside ``<think></think>`` then answer with exactly one
  admissible action inside ``<action></action>`` (``think=True``), or answer only
  inside ``<action></action>`` (``think=False``).

``compact=True`` leaves out the role sentence and the output instruction: the state only
(task, history, observation, admissible list). It is meant for models built from scratch
(the CPU quickstart's word-level model), which gain nothing from the boilerplate and learn
faster from prompts less than half as long; pretrained models keep the full prompt.

`render_step_prompt` is the generic renderer; `alfred_prompt` fixes the ALFRED role
and matches `sdar.envs.base.PromptFn`, so families can use it as their ``prompt``.
"""

from __future__ import annotations

from collections.abc import Sequence

ALFRED_ROLE = (
    "You are an expert agent acting in ALFRED, a text-based embodied household "
    "environment. You move between receptacles, open and close them, pick objects up, "
    "put them down, and clean, heat, cool or switch things on to finish the task."
)
THINK_INSTRUCTION = (
    "Now choose your next action. First think step by step about the current situation "
    "and what to do next, and write that reasoning inside <think> </think> tags. Then "
    "write exactly one action from the admissible list inside <action> </action> tags."
)
ACTION_ONLY_INSTRUCTION = (
    "Now choose your next action. Reply with exactly one action from the admissible list "
    "inside <action> </action> tags, and nothing else."
)


def format_admissible(admissible: Sequence[str]) -> str:
    """Each action quoted, joined by ``"\\n "`` as the authors' prompts do; ``help`` dropped.

    >>> format_admissible(["look", "help", "go to desk 1"])
    "'look'\\n 'go to desk 1'"
    """
    return "\n ".join(f"'{a}'" for a in admissible if a.strip().lower() != "help")


def format_history(history: Sequence[tuple[str, str]], step: int) -> str:
    """One ``[Observation k: '...', Action k: '...']`` line per pair, oldest first.

    The pairs are the last ``len(history)`` of ``step`` steps, so the first is step
    ``step - len(history) + 1``.

    >>> format_history([("You see a desk 1.", "go to desk 1")], step=3)
    "[Observation 3: 'You see a desk 1.', Action 3: 'go to desk 1']"
    """
    first = step - len(history) + 1
    return "\n".join(
        f"[Observation {first + i}: '{obs}', Action {first + i}: '{act}']"
        for i, (obs, act) in enumerate(history)
    )


def render_step_prompt(
    *,
    role: str,
    goal: str,
    observation: str,
    admissible: Sequence[str] | None,
    history: Sequence[tuple[str, str]],
    step: int,
    think: bool,
    compact: bool = False,
) -> str:
    """Build the step prompt (layout in the module docstring)."""
    if step < 0 or len(history) > step:
        raise ValueError(
            f"step={step} with {len(history)} history pairs: step must be >= 0 and at "
            "least the number of history pairs (pass the memory window of past steps)"
        )
    parts = [] if compact else [role]
    task_line = f"Your task is to: {goal}"
    if task_line not in observation:
        parts.append(task_line)
    if step > 0:
        parts.append(f"Prior to this step you took {step} step(s).")
        if history:
            parts.append(
                f"Here are the last {len(history)} observation(s) and the action(s) you "
                f"took after each:\n{format_history(history, step)}"
            )
        parts.append(f"You are now at step {step + 1}. Your current observation is:\n{observation}")
    else:
        parts.append(f"Your current observation is:\n{observation}")
    if admissible is not None:
        parts.append(f"Your admissible actions now are: [{format_admissible(admissible)}].")
    if not compact:
        parts.append(THINK_INSTRUCTION if think else ACTION_ONLY_INSTRUCTION)
    return "\n\n".join(parts)


def alfred_prompt(
    *,
    goal: str,
    observation: str,
    admissible: Sequence[str] | None,
    history: Sequence[tuple[str, str]],
    step: int,
    think: bool,
    compact: bool = False,
) -> str:
    """`render_step_prompt` with the ALFRED role sentence (a `PromptFn`)."""
    return render_step_prompt(
        role=ALFRED_ROLE,
        goal=goal,
        observation=observation,
        admissible=admissible,
        history=history,
        step=step,
        think=think,
        compact=compact,
    )
