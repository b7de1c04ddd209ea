"""Per-token KL estimators, entropy and log-probs from logits.

Notation: B sequences, T response tokens, V vocabulary size.

KL estimators follow Schulman, "Approximating KL divergence" (2020,
http://joschu.net/blog/kl-approx.html). With log r = log π_ref(y) − log π_θ(y) for a
token sampled from π_θ, each is a one-sample estimate of KL(π_θ‖π_ref):

    k1 = −log r = log π_θ − log π_ref
    k2 = ½ (log r)²                              (alias ``mse``)
    k3 = exp(log r) − log r − 1                  (unbiased, always ≥ 0)
    low_var_kl = clamp(k3, −10, 10)              (SDAR_SPEC 2.2, the one SDAR uses)
    abs = |log π_θ − log π_ref|

log r is clamped to ±20 before ``exp`` so k3 stays finite for any finite input; k3 is
exact for |log r| ≤ 20 (exp(20) ≈ 4.9e8).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from sdar.algos.masks import check_float, check_float_pair, check_ndim, check_shape, choose

_MAX_LOG_RATIO = 20.0
_LOW_VAR_KL_BOUND = 10.0


def _k1(logprobs: Tensor, ref_logprobs: Tensor) -> Tensor:
    return logprobs - ref_logprobs


def _abs(logprobs: Tensor, ref_logprobs: Tensor) -> Tensor:
    return (logprobs - ref_logprobs).abs()


def _k2(logprobs: Tensor, ref_logprobs: Tensor) -> Tensor:
    return 0.5 * (logprobs - ref_logprobs) ** 2


def _k3(logprobs: Tensor, ref_logprobs: Tensor) -> Tensor:
    log_r = (ref_logprobs - logprobs).clamp(-_MAX_LOG_RATIO, _MAX_LOG_RATIO)
    return torch.exp(log_r) - log_r - 1.0


def _low_var_kl(logprobs: Tensor, ref_logprobs: Tensor) -> Tensor:
    return _k3(logprobs, ref_logprobs).clamp(-_LOW_VAR_KL_BOUND, _LOW_VAR_KL_BOUND)


KL_KINDS: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "k1": _k1,
    "k2": _k2,
    "k3": _k3,
    "low_var_kl": _low_var_kl,
    "abs": _abs,
    "mse": _k2,
}


def kl_penalty(logprobs: Tensor, ref_logprobs: Tensor, kind: str) -> Tensor:
    """Per-token KL(π_θ‖π_ref) estimate of the named ``kind`` (see the module docstring).

    Shapes: logprobs, ref_logprobs [B, T] -> [B, T]. Unmasked: aggregate with
    ``agg_loss(kl, mask)``. Gradient flows through both inputs; pass a reference without
    grad (it is frozen, SDAR_SPEC 2.2).
    """
    fn = "kl_penalty"
    estimate = choose(fn, "kind", kind, KL_KINDS)
    logprobs = check_float(fn, "logprobs", logprobs)
    ref_logprobs = check_float_pair(fn, "ref_logprobs", ref_logprobs, "logprobs", logprobs)
    return estimate(logprobs, ref_logprobs)


def entropy_from_logits(logits: Tensor) -> Tensor:
    """Per-token entropy of softmax(logits) over the full vocabulary (SDAR_SPEC 2.3).

    H = −Σ_v p_v log p_v = logsumexp(z) − Σ_v p_v z_v,   p = softmax(z)

    Only one [B, T, V] temporary is created (p); Σ_v p_v z_v is a batched
    [1, V] @ [V, 1] matrix product, so the product p·z is never materialised. The
    result keeps the logits' dtype: upcast bf16 logits first if precision matters.
    Logits must be finite (a −inf logit gives 0·(−inf) = NaN). Differentiable.

    Shapes: logits [B, T, V] -> [B, T].
    """
    logits = check_float("entropy_from_logits", "logits", logits)
    check_ndim("entropy_from_logits", "logits", logits, 3, "[B, T, V]")
    probs = torch.softmax(logits, dim=-1)  # (B, T, V)
    expected_logit = (probs.unsqueeze(-2) @ logits.unsqueeze(-1)).squeeze(-1).squeeze(-1)
    return torch.logsumexp(logits, dim=-1) - expected_logit


def logprobs_from_logits(logits: Tensor, ids: Tensor) -> Tensor:
    """Log-probability of the given token ids: log softmax(z)[y] = z_y − logsumexp(z).

    Gathers z_y and subtracts logsumexp instead of building a full [B, T, V]
    log_softmax copy. Differentiable through ``logits``.

    Shapes: logits [B, T, V], ids [B, T] integer -> [B, T] in the logits' dtype.
    """
    fn = "logprobs_from_logits"
    logits = check_float(fn, "logits", logits)
    check_ndim(fn, "logits", logits, 3, "[B, T, V]")
    if not isinstance(ids, Tensor) or ids.is_floating_point() or ids.is_complex():
        raise ValueError(f"{fn}: ids must be an integer tensor of token ids")
    check_shape(fn, "ids", ids, logits.shape[:-1], "logits without the vocab dim")
    picked = logits.gather(-1, ids.long().unsqueeze(-1)).squeeze(-1)  # (B, T)
    return picked - torch.logsumexp(logits, dim=-1)
