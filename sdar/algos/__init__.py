"""sdar.algos: pure tensor functions for the RL and self-distillation objectives.

Every function takes tensors, masks, floats and strings (never configs), returns a
tensor or ``(loss, metrics)`` with detached 0-dim metrics, and documents its equation,
source and shapes. See docs/algorithms.md.
"""

from sdar.algos.advantages import grpo_advantages, rlsd_advantages, rlsd_lambda
from sdar.algos.distill import (
    GATES_NEEDING_ENTROPY,
    distill_divergence,
    sdar_loss,
    skill_sd_loss,
)
from sdar.algos.kl import entropy_from_logits, kl_penalty, logprobs_from_logits
from sdar.algos.masks import agg_loss, agg_units
from sdar.algos.ppo import ppo_clip_loss
from sdar.algos.registry import (
    ADVANTAGE_ESTIMATORS,
    DIVERGENCES,
    GATES,
    KL_KINDS,
    get_advantage_estimator,
    get_divergence,
    get_gate,
    get_kl_kind,
    lookup,
)

__all__ = [
    "ADVANTAGE_ESTIMATORS",
    "DIVERGENCES",
    "GATES",
    "GATES_NEEDING_ENTROPY",
    "KL_KINDS",
    "agg_loss",
    "agg_units",
    "distill_divergence",
    "entropy_from_logits",
    "get_advantage_estimator",
    "get_divergence",
    "get_gate",
    "get_kl_kind",
    "grpo_advantages",
    "kl_penalty",
    "logprobs_from_logits",
    "lookup",
    "ppo_clip_loss",
    "rlsd_advantages",
    "rlsd_lambda",
    "sdar_loss",
    "skill_sd_loss",
]
