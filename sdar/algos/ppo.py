"""PPO clipped surrogate with dual clip, the policy-gradient term of every method.

Schulman et al. 2017 (arXiv 1707.06347, eq. 7) for the clipped surrogate; Ye et al. 2020
(arXiv 1912.09729, eq. 5) for the dual clip; SDAR_SPEC 2.1 for the exact form run by the
SDAR code (verl ``compute_policy_loss`` with ``clip_ratio_c``).
"""

from __future__ import annotations

import torch
from torch import Tensor

from sdar.algos.masks import (
    AGG_MODES,
    broadcast_advantages,
    check_float,
    check_float_pair,
    check_mask,
    check_ndim,
    choose,
    masked_mean,
    zero_masked,
)

# exp(20) ≈ 4.9e8 is far past any clip range; the clamp only keeps exp finite so that
# a ratio on the inactive side of a min/max cannot turn its zero gradient into 0·inf.
_MAX_LOG_RATIO = 20.0


def ppo_clip_loss(
    logprobs: Tensor,
    old_logprobs: Tensor,
    advantages: Tensor,
    mask: Tensor,
    clip_low: float = 0.2,
    clip_high: float = 0.2,
    dual_clip: float | None = 3.0,
    agg: str = "token-mean",
) -> tuple[Tensor, dict[str, Tensor]]:
    """Dual-clip PPO policy loss (SDAR_SPEC 2.1).

    r_t     = exp(log π_θ(y_t) − log π_old(y_t))          (log-ratio clamped to ±20)
    ℓ1      = −A_t · r_t
    ℓ2      = −A_t · clip(r_t, 1 − clip_low, 1 + clip_high)
    ℓ_clip  = max(ℓ1, ℓ2)
    ℓ_t     = min(ℓ_clip, −c · A_t)   if A_t < 0   (dual clip, c = dual_clip > 1)
            = ℓ_clip                  otherwise
    L       = agg(ℓ, m)

    Shapes: logprobs, old_logprobs, mask [B, T]; advantages [B] (broadcast over T) or
    [B, T]. Gradient flows through ``logprobs`` only.

    Returns:
        (loss, metrics). Metrics are detached 0-dim tensors, token means over the mask:
        ``pg_clipfrac`` share of tokens where the ε-clip is active (ℓ2 > ℓ1);
        ``pg_clipfrac_lower`` share where the dual clip is active (A < 0, ℓ_clip > −cA);
        ``ppo_kl`` approximate KL(π_old‖π_θ) = mean(log π_old − log π_θ);
        ``pg_loss`` the loss value.
    """
    fn = "ppo_clip_loss"
    reduce = choose(fn, "agg", agg, AGG_MODES)
    logprobs = check_float(fn, "logprobs", logprobs)
    check_ndim(fn, "logprobs", logprobs, 2, "[B, T]")
    old_logprobs = check_float_pair(fn, "old_logprobs", old_logprobs, "logprobs", logprobs)
    adv = broadcast_advantages(fn, advantages, "logprobs", logprobs).detach()
    mask = check_mask(fn, mask, "logprobs", logprobs)
    if not 0.0 <= clip_low < 1.0:
        raise ValueError(f"{fn}: clip_low must be in [0, 1), got {clip_low}")
    if clip_high < 0.0:
        raise ValueError(f"{fn}: clip_high must be >= 0, got {clip_high}")
    if dual_clip is not None and not dual_clip > 1.0:
        raise ValueError(f"{fn}: dual_clip must be > 1 (or None to disable), got {dual_clip}")

    logprobs, old_logprobs, adv = zero_masked(mask, logprobs, old_logprobs.detach(), adv)
    log_ratio = logprobs - old_logprobs  # (B, T)
    ratio = torch.exp(log_ratio.clamp(-_MAX_LOG_RATIO, _MAX_LOG_RATIO))
    loss_unclipped = -adv * ratio
    loss_clipped = -adv * ratio.clamp(1.0 - clip_low, 1.0 + clip_high)
    loss_clip = torch.maximum(loss_unclipped, loss_clipped)
    per_token = loss_clip
    dual_active = torch.zeros_like(loss_clip, dtype=torch.bool)
    if dual_clip is not None:
        loss_cap = -dual_clip * adv
        negative = adv < 0
        dual_active = negative & (loss_clip > loss_cap)
        per_token = torch.where(negative, torch.minimum(loss_clip, loss_cap), loss_clip)

    loss = reduce(per_token, mask)
    with torch.no_grad():
        metrics = {
            "pg_clipfrac": masked_mean((loss_clipped > loss_unclipped).to(mask.dtype), mask),
            "pg_clipfrac_lower": masked_mean(dual_active.to(mask.dtype), mask),
            "ppo_kl": masked_mean(-log_ratio, mask),
            "pg_loss": loss.detach(),
        }
    return loss, metrics
