"""Rollout records: token ids as generated, one sample per environment step.

Notation: a training step plays B tasks x G rollouts; a trajectory of length L gives L
step-samples (SDAR_SPEC 1.1). Each sample keeps the prompt ids it was generated from and
the exact sampled response ids; nothing is decoded and re-encoded for training.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sdar.envs.base import Task


@dataclass
class PromptState:
    """What the step prompt was rendered from, so it can be re-rendered (teacher, SFT)."""

    goal: str
    observation: str
    admissible: list[str] | None
    history: list[tuple[str, str]]
    """The (observation, action) window shown, oldest first (length <= history_length)."""
    step: int


@dataclass
class StepSample:
    group: int
    """GRPO group id: samples of the same task share it."""
    traj: int
    """Trajectory id, unique in the batch."""
    step: int
    task: Task
    state: PromptState
    prompt_ids: list[int]
    response_ids: list[int]
    sample_logprobs: list[float]
    """Log-probs at sampling time (temperature-scaled); informative only."""
    text: str
    action: str
    valid: bool
    env_reward: float
    done: bool
    privileged: str = ""
    """Text the teacher (or, for Skill-GRPO, the student) was shown."""
    score: float = 0.0
    """Episode reward broadcast to the step, minus the invalid-action penalty."""


@dataclass
class Trajectory:
    group: int
    traj: int
    task: Task
    samples: list[StepSample] = field(default_factory=list)
    won: bool = False
    error: str | None = None
    """Set when the episode was ended by a crashed or hung environment worker."""
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def length(self) -> int:
        return len(self.samples)

    @property
    def valid_ratio(self) -> float:
        return sum(s.valid for s in self.samples) / max(len(self.samples), 1)
