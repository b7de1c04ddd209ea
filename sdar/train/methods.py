"""The methods compared in the paper, as structural switches over one training loop.

Numeric hyperparameters (lambda, beta, clip...) live in the config; a method only says
which terms exist. SDAR_SPEC sections 3.4 and 3.7.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Method:
    name: str
    summary: str
    trains: bool = True
    pg: bool = True
    """The PPO-clip policy-gradient term (off for opsd)."""
    distill: str | None = None
    """None, "sdar" (gated sampled-token term; also opsd and grpo_opsd) or "skill_sd"."""
    rlsd: bool = False
    """Re-weight GRPO advantages per token with the teacher (RLSD)."""
    student_skills: bool = False
    """The student prompt carries the privileged text (Skill-GRPO, Skill-Prompt)."""

    @property
    def needs_teacher(self) -> bool:
        return self.distill is not None or self.rlsd


METHODS: dict[str, Method] = {
    "grpo": Method("grpo", "GRPO: PPO-clip with group-normalised advantages, KL and entropy"),
    "sdar": Method(
        "sdar", "GRPO + lambda * sigmoid-gated sampled-token self-distillation", distill="sdar"
    ),
    "opsd": Method(
        "opsd",
        "the SDAR term alone (policy-gradient term off), KL and entropy kept",
        pg=False,
        distill="sdar",
    ),
    "grpo_opsd": Method(
        "grpo_opsd", "GRPO + the SDAR term with a constant gate (beta = 0)", distill="sdar"
    ),
    "skill_grpo": Method(
        "skill_grpo", "GRPO with the skills in the student's own prompt", student_skills=True
    ),
    "skill_sd": Method(
        "skill_sd", "GRPO + importance-weighted k3 reverse KL to the teacher", distill="skill_sd"
    ),
    "rlsd": Method("rlsd", "GRPO with advantages re-weighted per token by the teacher", rlsd=True),
    "vanilla": Method("vanilla", "evaluation only: the base model without skills", trains=False),
    "skill_prompt": Method(
        "skill_prompt",
        "evaluation only: the base model with skills",
        trains=False,
        student_skills=True,
    ),
}


def get_method(name: str) -> Method:
    try:
        return METHODS[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r}; valid: {', '.join(METHODS)}") from None
