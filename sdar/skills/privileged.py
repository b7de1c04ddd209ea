"""Privileged context: what the teacher sees that the student does not.

Kinds, combined in the order given:

* ``skills`` -- the retrieved skill text (SDAR's default);
* ``expert_plan`` -- the actions a scripted expert takes from the current state
  (``env.expert_action()`` rolled forward), for envs that have an oracle;
* ``gold_answer`` -- the reference answers (Search-QA), OPSD-style privileged answers.

Text in, text out: no torch, no tokenizer.
"""

from __future__ import annotations

from collections.abc import Sequence

PRIVILEGED_KINDS = ("skills", "expert_plan", "gold_answer")


def build_privileged_text(
    kinds: Sequence[str],
    *,
    retrieval_text: str,
    expert_plan: list[str] | None,
    gold_answers: list[str] | None,
) -> str:
    """Join the chosen kinds' material into one text, sections split by a blank line.

    An empty ``retrieval_text`` (strategy ``none``) adds nothing. A kind whose material is
    missing raises ``ValueError`` saying which environment feature it needs.
    """
    unknown = [k for k in kinds if k not in PRIVILEGED_KINDS]
    if unknown:
        raise ValueError(
            f"teacher.privileged: unknown kinds {unknown}; valid: {', '.join(PRIVILEGED_KINDS)}"
        )
    if len(set(kinds)) != len(kinds):
        raise ValueError(f"teacher.privileged: each kind may appear once, got {list(kinds)}")
    sections: list[str] = []
    for kind in kinds:
        if kind == "skills":
            if retrieval_text:
                sections.append(retrieval_text)
        elif kind == "expert_plan":
            if not expert_plan:
                raise ValueError(
                    "teacher.privileged includes 'expert_plan', but this task has no expert "
                    "plan (the environment has no scripted expert); remove 'expert_plan' or "
                    "use an environment whose expert_action() returns actions"
                )
            steps = "\n".join(f"{i}. {a}" for i, a in enumerate(expert_plan, start=1))
            sections.append(f"Expert plan from the current state:\n{steps}")
        elif not gold_answers:
            raise ValueError(
                "teacher.privileged includes 'gold_answer', but this task has no gold answers "
                "(only question-answering environments such as searchqa provide them); "
                "remove 'gold_answer' for this environment"
            )
        else:
            sections.append("Reference answer: " + " | ".join(gold_answers))
    return "\n\n".join(sections)
