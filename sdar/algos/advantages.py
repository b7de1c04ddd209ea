"""Advantage estimators: GRPO group normalisation and the RLSD token re-weighting.

Notation: N step-samples, B = N rows of T response tokens, G groups.

GRPO (Shao et al. 2024, arXiv 2402.03300, eq. 3 outcome supervision; SDAR_SPEC 1.4)
normalises each sample's scalar score within its group: in SDAR a group is every
step-sample of the 8 trajectories of one task (one ``uid``), so long trajectories
contribute more entries to the statistics. The scalar advantage is then copied onto every
response token of the sample (γ = λ_GAE = 1, no critic).

RLSD (arXiv 2604.03128; SDAR_SPEC 3.7) replaces the GRPO advantage by a token-level one
whose magnitude is modulated by the teacher's log-ratio over the rollout policy.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import torch
from torch import Tensor

from sdar.algos.masks import (
    broadcast_advantages,
    check_float,
    check_float_pair,
    check_mask,
    check_ndim,
    zero_masked,
)


def _group_index(fn: str, group_ids: Sequence[Hashable] | Tensor, n: int) -> Tensor:
    """Map arbitrary hashable ids to dense group indices 0..G-1, shape (N,)."""
    if isinstance(group_ids, Tensor):
        if group_ids.dim() != 1 or group_ids.is_floating_point() or group_ids.is_complex():
            raise ValueError(
                f"{fn}: group_ids tensor has shape {tuple(group_ids.shape)} and dtype "
                f"{group_ids.dtype}, expected a 1-D integer tensor"
            )
        index = torch.unique(group_ids, return_inverse=True)[1]
    else:
        slots: dict[Hashable, int] = {}
        index = torch.tensor([slots.setdefault(g, len(slots)) for g in group_ids], dtype=torch.long)
    if index.numel() != n:
        raise ValueError(f"{fn}: group_ids has {index.numel()} entries, expected {n} like rewards")
    return index


def grpo_advantages(
    rewards: Tensor,
    group_ids: Sequence[Hashable] | Tensor,
    norm_by_std: bool = True,
    eps: float = 1e-6,
) -> Tensor:
    """GRPO outcome advantages, normalised within each group (SDAR_SPEC 1.4).

    A_i = (s_i − mean_g(s)) / (std_g(s) + eps)   with the unbiased (N_g − 1) std,
    A_i = s_i − mean_g(s)                        when ``norm_by_std`` is False.

    A group of one sample, or whose scores are all equal, gets A = 0 (not NaN). Note that
    verl instead uses mean 0 and std 1 for a singleton group, giving A = s_i / (1 + eps);
    a sample with no peers has no baseline, so we give it no learning signal.

    Args:
        rewards: (N,) float scores s_i, one per step-sample.
        group_ids: N ids (ints, strings, any hashable, or a 1-D integer tensor); samples
            with equal ids form one group.
        norm_by_std: divide by the group std (GRPO) or only centre (Dr. GRPO style).
        eps: added to the std.

    Returns:
        (N,) advantages, same dtype and device as ``rewards``.
    """
    fn = "grpo_advantages"
    rewards = check_float(fn, "rewards", rewards)
    check_ndim(fn, "rewards", rewards, 1, "[N]")
    n = rewards.shape[0]
    index = _group_index(fn, group_ids, n).to(rewards.device)  # (N,)
    groups = int(index.max()) + 1 if n > 0 else 0

    zeros = rewards.new_zeros(groups)
    count = zeros.index_add(0, index, torch.ones_like(rewards))  # (G,)
    mean = zeros.index_add(0, index, rewards) / count.clamp_min(1.0)  # (G,)
    centred = rewards - mean[index]  # (N,)
    hi = zeros.scatter_reduce(0, index, rewards, "amax", include_self=False)
    lo = zeros.scatter_reduce(0, index, rewards, "amin", include_self=False)
    # Exact test on the raw scores: a rounded mean would leave tiny non-zero residuals.
    informative = (count > 1) & (hi > lo)  # (G,)

    advantages = centred
    if norm_by_std:
        var = zeros.index_add(0, index, centred**2) / (count - 1.0).clamp_min(1.0)
        advantages = centred / (var.sqrt()[index] + eps)
    return torch.where(informative[index], advantages, torch.zeros_like(advantages))


def rlsd_lambda(step: int, lam0: float = 0.5, decay_steps: int = 100) -> float:
    """RLSD mixing weight λ_k = λ_0 · (1 − k/K) for k < K, else 0 (SDAR_SPEC 3.7)."""
    if step < 0:
        raise ValueError(f"rlsd_lambda: step must be >= 0, got {step}")
    if decay_steps <= 0:
        raise ValueError(f"rlsd_lambda: decay_steps must be > 0, got {decay_steps}")
    return lam0 * max(0.0, 1.0 - step / decay_steps)


def rlsd_advantages(
    advantages: Tensor,
    teacher_logprobs: Tensor,
    old_logprobs: Tensor,
    mask: Tensor,
    lam: float,
    clip: float = 0.2,
) -> Tensor:
    """RLSD token advantages (arXiv 2604.03128, as in SDAR_SPEC 3.7).

    Δ_t = log π_T(y_t|s_t^+) − log π_old(y_t|s_t)            (no gradient)
    w_t = clip(exp(sign(A) · Δ_t), 1 − clip, 1 + clip)       (w_t = 1 where sign(A) = 0)
    Â_t = A · ((1 − λ) + λ · w_t),   Â_t = 0 where m_t = 0

    Args:
        advantages: (B,) sequence advantages or (B, T) token advantages A.
        teacher_logprobs: (B, T) teacher log-probs of the sampled tokens.
        old_logprobs: (B, T) rollout-policy log-probs of the same tokens.
        mask: (B, T) response mask.
        lam: mixing weight λ in [0, 1], usually ``rlsd_lambda(step)``.
        clip: ε_w, the multiplier stays in [1 − clip, 1 + clip]; 0 <= clip < 1.

    Returns:
        (B, T) detached token advantages.
    """
    fn = "rlsd_advantages"
    teacher_logprobs = check_float(fn, "teacher_logprobs", teacher_logprobs)
    check_ndim(fn, "teacher_logprobs", teacher_logprobs, 2, "[B, T]")
    old_logprobs = check_float_pair(
        fn, "old_logprobs", old_logprobs, "teacher_logprobs", teacher_logprobs
    )
    mask = check_mask(fn, mask, "teacher_logprobs", teacher_logprobs)
    adv = broadcast_advantages(fn, advantages, "teacher_logprobs", teacher_logprobs)
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"{fn}: lam must be in [0, 1], got {lam}")
    if not 0.0 <= clip < 1.0:
        raise ValueError(f"{fn}: clip must be in [0, 1), got {clip}")

    adv, teacher, old = zero_masked(
        mask, adv.detach(), teacher_logprobs.detach(), old_logprobs.detach()
    )
    gap = teacher - old  # (B, T)
    # exp may overflow to inf for huge gaps; the clamp brings it back to 1 + clip.
    weight = torch.exp(torch.sign(adv) * gap).clamp(1.0 - clip, 1.0 + clip)
    weight = torch.where(adv == 0, torch.ones_like(weight), weight)
    shaped = adv * ((1.0 - lam) + lam * weight)
    return torch.where(mask > 0, shaped, torch.zeros_like(shaped))
