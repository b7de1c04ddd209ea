"""Self-distillation terms: the SDAR gated loss, its gate variants, Skill-SD and the
full-distribution divergences of the ablation.

Notation: B sequences, T response tokens, V vocabulary; ``logprobs`` = log π_θ(y_t|s_t)
of the sampled tokens under the current policy, ``teacher_logprobs`` = log π_T(y_t|s_t^+)
from the same weights with the skill text prepended (SDAR_SPEC 3.1). The teacher is
always treated as a constant.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from sdar.algos.masks import (
    AGG_MODES,
    check_float,
    check_float_pair,
    check_mask,
    check_ndim,
    choose,
    masked_mean,
    masked_std,
    zero_masked,
)

GateFn = Callable[[Tensor, Tensor | None, Tensor, float], Tensor]


def _minmax(x: Tensor, mask: Tensor) -> Tensor:
    """Min–max normalise x to [0, 1] over the masked tokens; a constant x maps to 0."""
    valid = mask > 0
    lo = torch.where(valid, x, torch.full_like(x, math.inf)).amin()
    hi = torch.where(valid, x, torch.full_like(x, -math.inf)).amax()
    span = hi - lo
    scaled = (x - lo) / torch.where(span > 0, span, torch.ones_like(span))
    return torch.where(valid & (span > 0), scaled, torch.zeros_like(x)).clamp(0.0, 1.0)


def _need_entropy(fn: str, entropy: Tensor | None) -> Tensor:
    if entropy is None:
        raise ValueError(f"{fn}: this gate needs entropy, a (B, T) tensor; got None")
    return entropy


def gap_gate(gap: Tensor, entropy: Tensor | None, mask: Tensor, beta: float) -> Tensor:
    """g = σ(β·Δ): the SDAR gate (SDAR_SPEC 3.4)."""
    return torch.sigmoid(beta * gap)


def entropy_gate(gap: Tensor, entropy: Tensor | None, mask: Tensor, beta: float) -> Tensor:
    """g = σ(β·h), h the student's entropy; always ≥ ½ (SDAR_SPEC 3.6 #2)."""
    return torch.sigmoid(beta * _need_entropy("entropy_gate", entropy))


def soft_or_gate(gap: Tensor, entropy: Tensor | None, mask: Tensor, beta: float) -> Tensor:
    """g = σ(β·[1 − (1 − h̃)(1 − Δ̃)]), h̃ and Δ̃ min–max normalised over the masked tokens.

    SDAR_SPEC 3.6 #3 and 7 #13. The score lies in [0, 1], so g ∈ [½, σ(β)].
    """
    entropy = _need_entropy("soft_or_gate", entropy)
    score = 1.0 - (1.0 - _minmax(entropy, mask)) * (1.0 - _minmax(gap, mask))
    return torch.sigmoid(beta * score)


def constant_gate(gap: Tensor, entropy: Tensor | None, mask: Tensor, beta: float) -> Tensor:
    """g = 1 on every token: the ungated sampled-token term, for ablations."""
    return torch.ones_like(gap)


GATES: dict[str, GateFn] = {
    "gap": gap_gate,
    "entropy": entropy_gate,
    "soft_or": soft_or_gate,
    "none": constant_gate,
}
GATES_NEEDING_ENTROPY = ("entropy", "soft_or")


def sdar_loss(
    logprobs: Tensor,
    teacher_logprobs: Tensor,
    mask: Tensor,
    beta: float = 5.0,
    gate: str = "gap",
    entropy: Tensor | None = None,
    agg: str = "token-mean",
) -> tuple[Tensor, dict[str, Tensor]]:
    """SDAR gated self-distillation loss (SDAR_SPEC 3.4; paper arXiv 2605.15155, Sec. 3).

    Δ_t = sg(log π_T(y_t)) − sg(log π_θ(y_t))              (teacher gap)
    g_t = sg(σ(β · score_t))                                (gate, score = Δ_t for "gap")
    ℓ_t = g_t · (sg(log π_T(y_t)) − log π_θ(y_t))
    L   = agg(ℓ, m)                                          (token-mean: Σ m ℓ / Σ m)

    Gradient (P1): ∂L/∂ log π_θ(y_t) = −g_t m_t / Σ m for token-mean, so every sampled
    token is pushed up with weight g_t ∈ (0, 1). β = 0 gives g = ½ everywhere (the
    GRPO+OPSD baseline, SDAR_SPEC 3.7).

    Args:
        logprobs: (B, T) current-policy log-probs of the sampled tokens (with grad).
        teacher_logprobs: (B, T) teacher log-probs of the same tokens (detached here).
        mask: (B, T) response mask.
        beta: gate sharpness β.
        gate: "gap" (default), "entropy", "soft_or" or "none" (constant 1); see `GATES`.
        entropy: (B, T) student entropy h_t, required by the "entropy" and "soft_or" gates.
        agg: aggregation mode, see `agg_loss`.

    Returns:
        (loss, metrics), metrics detached masked statistics: ``gate_mean``,
        ``gate_active_ratio`` (share of tokens with g > ½), ``gap_mean``, ``gap_std``
        (population std), ``loss``.
    """
    fn = "sdar_loss"
    gate_fn = choose(fn, "gate", gate, GATES)
    reduce = choose(fn, "agg", agg, AGG_MODES)
    logprobs = check_float(fn, "logprobs", logprobs)
    check_ndim(fn, "logprobs", logprobs, 2, "[B, T]")
    teacher_logprobs = check_float_pair(
        fn, "teacher_logprobs", teacher_logprobs, "logprobs", logprobs
    )
    mask = check_mask(fn, mask, "logprobs", logprobs)
    if gate in GATES_NEEDING_ENTROPY:
        if entropy is None:
            raise ValueError(f"{fn}: gate {gate!r} needs entropy, a (B, T) tensor; got None")
        entropy = check_float_pair(fn, "entropy", entropy, "logprobs", logprobs).detach()

    logprobs, teacher = zero_masked(mask, logprobs, teacher_logprobs.detach())
    if entropy is not None:
        (entropy,) = zero_masked(mask, entropy)
    gap = teacher - logprobs.detach()  # (B, T)
    g = gate_fn(gap, entropy, mask, beta).detach()  # (B, T)
    loss = reduce(g * (teacher - logprobs), mask)
    with torch.no_grad():
        metrics = {
            "gate_mean": masked_mean(g, mask),
            "gate_active_ratio": masked_mean((g > 0.5).to(mask.dtype), mask),
            "gap_mean": masked_mean(gap, mask),
            "gap_std": masked_std(gap, mask),
            "loss": loss.detach(),
        }
    return loss, metrics


def skill_sd_loss(
    logprobs: Tensor,
    old_logprobs: Tensor,
    teacher_logprobs: Tensor,
    mask: Tensor,
    agg: str = "token-mean",
) -> tuple[Tensor, dict[str, Tensor]]:
    """Skill-SD importance-weighted k3 loss (arXiv 2604.10674, as in SDAR_SPEC 3.7).

    ℓ_t  = log π_θ(y_t) − sg(log π_T(y_t))
    k3_t = exp(min(−ℓ_t, 20)) − 1 + ℓ_t
    ρ_t  = exp(min(log π_θ(y_t) − log π_old(y_t), 10))      (NOT detached)
    L    = agg(ρ · k3, m)

    Since ρ carries gradient, ∂(ρ k3)/∂ log π_θ = ρ_t · ℓ_t (while both clamps are
    inactive): the importance-weighted REINFORCE gradient of the reverse KL.

    Shapes: all [B, T]. Metrics (detached, masked token means): ``kl_mean`` (k3),
    ``ratio_mean`` (ρ), ``gap_mean`` (log π_T − log π_θ), ``loss``.
    """
    fn = "skill_sd_loss"
    reduce = choose(fn, "agg", agg, AGG_MODES)
    logprobs = check_float(fn, "logprobs", logprobs)
    check_ndim(fn, "logprobs", logprobs, 2, "[B, T]")
    old_logprobs = check_float_pair(fn, "old_logprobs", old_logprobs, "logprobs", logprobs)
    teacher_logprobs = check_float_pair(
        fn, "teacher_logprobs", teacher_logprobs, "logprobs", logprobs
    )
    mask = check_mask(fn, mask, "logprobs", logprobs)

    logprobs, old, teacher = zero_masked(
        mask, logprobs, old_logprobs.detach(), teacher_logprobs.detach()
    )
    log_ratio = logprobs - teacher  # ℓ_t, (B, T)
    k3 = torch.exp((-log_ratio).clamp(max=20.0)) - 1.0 + log_ratio
    rho = torch.exp((logprobs - old).clamp(max=10.0))
    loss = reduce(rho * k3, mask)
    with torch.no_grad():
        metrics = {
            "kl_mean": masked_mean(k3, mask),
            "ratio_mean": masked_mean(rho, mask),
            "gap_mean": masked_mean(-log_ratio, mask),
            "loss": loss.detach(),
        }
    return loss, metrics


# Divergences between the student (s) and teacher (t) token distributions, given their
# log-probs and probabilities on a support (positions outside have p = 0 exactly).
DivergenceFn = Callable[[Tensor, Tensor, Tensor, Tensor], Tensor]


def reverse_kl(logp_s: Tensor, logp_t: Tensor, p_s: Tensor, p_t: Tensor) -> Tensor:
    """KL(p_s‖p_t) = Σ_v p_s (log p_s − log p_t); mode-seeking."""
    return (p_s * (logp_s - logp_t)).sum(-1)


def forward_kl(logp_s: Tensor, logp_t: Tensor, p_s: Tensor, p_t: Tensor) -> Tensor:
    """KL(p_t‖p_s) = Σ_v p_t (log p_t − log p_s); mass-covering."""
    return (p_t * (logp_t - logp_s)).sum(-1)


def jsd(logp_s: Tensor, logp_t: Tensor, p_s: Tensor, p_t: Tensor) -> Tensor:
    """½ KL(p_s‖M) + ½ KL(p_t‖M), M = ½(p_s + p_t); bounded by log 2."""
    logp_m = torch.logaddexp(logp_s, logp_t) - math.log(2.0)
    return 0.5 * (p_s * (logp_s - logp_m)).sum(-1) + 0.5 * (p_t * (logp_t - logp_m)).sum(-1)


DIVERGENCES: dict[str, DivergenceFn] = {
    "reverse_kl": reverse_kl,
    "forward_kl": forward_kl,
    "jsd": jsd,
}


def _log_probs_on(logits: Tensor, support: Tensor | None) -> tuple[Tensor, Tensor]:
    """(log p, p) of softmax(logits) renormalised over ``support`` (all of V if None).

    Outside the support p is exactly 0 while log p stays finite (logits − logsumexp over
    the support), so p·log p terms are 0 there and no 0·inf reaches the forward or
    backward pass.
    """
    if support is None:
        logp = torch.log_softmax(logits, dim=-1)
        return logp, logp.exp()
    masked = torch.where(support, logits, torch.full_like(logits, -math.inf))
    logp = logits - torch.logsumexp(masked, dim=-1, keepdim=True)
    return logp, torch.where(support, logp.exp(), torch.zeros_like(logp))


def distill_divergence(
    student_logits: Tensor,
    teacher_logits: Tensor,
    mask: Tensor,
    kind: str,
    topk: int | None = None,
) -> Tensor:
    """Per-token divergence between student and teacher distributions (SDAR_SPEC 3.8).

    kind "reverse_kl": Σ p_S log(p_S/p_T); "forward_kl": Σ p_T log(p_T/p_S);
    "jsd": ½ KL(p_S‖M) + ½ KL(p_T‖M), M = ½(p_S + p_T).

    With ``topk=None`` the sums run over the full vocabulary. With ``topk=k`` both
    distributions are restricted to the union of the student's and the teacher's top-k
    token sets (per position, at most 2k tokens) and renormalised there. The teacher is
    detached: gradient flows through ``student_logits`` only (the top-k selection
    itself is piecewise constant). The caller applies a gate, aggregates and weights.

    Shapes: student_logits, teacher_logits [B, T, V], mask [B, T] -> [B, T], 0 where
    mask is 0.
    """
    fn = "distill_divergence"
    divergence = choose(fn, "kind", kind, DIVERGENCES)
    student_logits = check_float(fn, "student_logits", student_logits)
    check_ndim(fn, "student_logits", student_logits, 3, "[B, T, V]")
    teacher_logits = check_float_pair(
        fn, "teacher_logits", teacher_logits, "student_logits", student_logits
    )
    mask = check_mask(fn, mask, "student_logits[..., 0]", student_logits[..., 0])
    vocab = student_logits.shape[-1]
    if topk is not None and not (isinstance(topk, int) and 1 <= topk <= vocab):
        raise ValueError(f"{fn}: topk must be an int in [1, {vocab}] or None, got {topk!r}")

    # Zero the logits of masked positions so inf/NaN padding cannot reach the gradient.
    student_logits, teacher_logits = zero_masked(
        mask.unsqueeze(-1), student_logits, teacher_logits.detach()
    )
    support = None
    if topk is not None:
        top = torch.cat(
            [
                student_logits.detach().topk(topk, dim=-1).indices,
                teacher_logits.topk(topk, dim=-1).indices,
            ],
            dim=-1,
        )  # (B, T, 2k)
        support = torch.zeros_like(student_logits, dtype=torch.bool).scatter_(-1, top, True)
    logp_s, p_s = _log_probs_on(student_logits, support)
    logp_t, p_t = _log_probs_on(teacher_logits, support)
    per_token = divergence(logp_s, logp_t, p_s, p_t)  # (B, T)
    return torch.where(mask > 0, per_token, torch.zeros_like(per_token))
