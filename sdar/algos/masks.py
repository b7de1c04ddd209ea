"""Response masks, masked reductions and the input checks shared by `sdar.algos`.

Notation: ``B`` sequences (step-samples) of ``T`` response tokens. ``mask`` is [B, T],
1 (or True) on valid response tokens and 0 on padding, prompt and observation tokens.

Aggregation modes (SDAR_SPEC 2.4; names follow verl's ``loss_agg_mode``):

* ``token-mean``: Σ_{b,t} m·x / Σ_{b,t} m, one weight per valid token of the batch.
* ``seq-mean-token-mean``: mean over sequences of (Σ_t m·x / Σ_t m).
* ``seq-mean-token-sum``: mean over sequences of Σ_t m·x.

The sequence modes average over sequences that have at least one valid token, so an
all-padding row does not dilute the mean. Every mode returns 0 for an all-zero mask.
Masked positions are selected with ``torch.where``, so inf or NaN under mask 0 never
reaches the result; the losses also zero their masked inputs first (`zero_masked`), so
padding cannot reach a gradient either.

All input errors raise ``ValueError`` naming the function, the argument and what was
expected. The checks look at shapes and dtypes only, never at values, so they cost no
device synchronisation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeVar

import torch
from torch import Tensor

V = TypeVar("V")


def check_tensor(fn: str, name: str, x: object) -> Tensor:
    """Return ``x`` if it is a tensor, else raise ValueError naming ``fn`` and ``name``."""
    if not isinstance(x, Tensor):
        raise ValueError(f"{fn}: {name} must be a torch.Tensor, got {type(x).__name__}")
    return x


def check_float(fn: str, name: str, x: object) -> Tensor:
    """Check that ``x`` is a floating-point tensor (log-probs, logits, advantages)."""
    x = check_tensor(fn, name, x)
    if not x.is_floating_point():
        raise ValueError(
            f"{fn}: {name} has dtype {x.dtype}, expected a floating-point tensor "
            f"(cast with .float())"
        )
    return x


def check_shape(fn: str, name: str, x: Tensor, shape: torch.Size, like: str) -> None:
    """Check ``x.shape == shape``; ``like`` names the argument that fixed ``shape``."""
    if x.shape != shape:
        raise ValueError(
            f"{fn}: {name} has shape {tuple(x.shape)}, expected {tuple(shape)} like {like}"
        )


def check_ndim(fn: str, name: str, x: Tensor, ndim: int, layout: str) -> None:
    """Check the number of dimensions; ``layout`` is the expected notation, e.g. "[B, T]"."""
    if x.dim() != ndim:
        raise ValueError(f"{fn}: {name} has shape {tuple(x.shape)}, expected {ndim} dims {layout}")


def check_float_pair(fn: str, name: str, x: object, ref_name: str, ref: Tensor) -> Tensor:
    """Check that ``x`` is a float tensor with the shape of ``ref``."""
    x = check_float(fn, name, x)
    check_shape(fn, name, x, ref.shape, ref_name)
    return x


def check_mask(fn: str, mask: object, like_name: str, like: Tensor) -> Tensor:
    """Validate a [B, T] mask (bool, integer or float) and return it as ``like``'s float dtype."""
    mask = check_tensor(fn, "mask", mask)
    if mask.is_complex():
        raise ValueError(f"{fn}: mask has dtype {mask.dtype}, expected bool or float")
    check_shape(fn, "mask", mask, like.shape, like_name)
    dtype = like.dtype if like.is_floating_point() else torch.float32
    return mask.to(dtype)


def broadcast_advantages(fn: str, advantages: object, like_name: str, like: Tensor) -> Tensor:
    """Validate (B,) or (B, T) advantages and broadcast them to ``like``'s (B, T) shape."""
    advantages = check_float(fn, "advantages", advantages)
    batch = like.shape[0]
    if advantages.shape == like.shape:
        return advantages
    if advantages.shape == (batch,):
        return advantages.unsqueeze(-1).expand_as(like)
    raise ValueError(
        f"{fn}: advantages has shape {tuple(advantages.shape)}, expected ({batch},) or "
        f"{tuple(like.shape)} like {like_name}"
    )


def choose(fn: str, arg: str, name: object, table: Mapping[str, V]) -> V:
    """Look ``name`` up in ``table``; unknown names raise ValueError listing the valid ones."""
    if not isinstance(name, str) or name not in table:
        raise ValueError(f"{fn}: unknown {arg} {name!r}; expected one of {sorted(table)}")
    return table[name]


def zero_masked(mask: Tensor, *tensors: Tensor) -> tuple[Tensor, ...]:
    """Replace the masked-out entries of each [B, T] tensor by 0.

    Losses call this first, so padding garbage (even inf or NaN) can change neither the
    loss nor any gradient: a NaN behind a ``where`` still poisons the backward pass.
    """
    valid = mask > 0
    return tuple(torch.where(valid, x, torch.zeros_like(x)) for x in tensors)


def _masked(values: Tensor, mask: Tensor) -> Tensor:
    # where, not multiply: 0 * inf would be NaN.
    return torch.where(mask > 0, values * mask, torch.zeros_like(values))


def _token_mean(values: Tensor, mask: Tensor) -> Tensor:
    return _masked(values, mask).sum() / mask.sum().clamp_min(1.0)


def _seq_mean(per_seq: Tensor, mask: Tensor) -> Tensor:
    """Mean of per-sequence values [B] over the sequences with any valid token."""
    has_tokens = (mask.sum(dim=-1) > 0).to(per_seq.dtype)  # (B,)
    return (per_seq * has_tokens).sum() / has_tokens.sum().clamp_min(1.0)


def _seq_mean_token_mean(values: Tensor, mask: Tensor) -> Tensor:
    per_seq = _masked(values, mask).sum(dim=-1) / mask.sum(dim=-1).clamp_min(1.0)  # (B,)
    return _seq_mean(per_seq, mask)


def _seq_mean_token_sum(values: Tensor, mask: Tensor) -> Tensor:
    return _seq_mean(_masked(values, mask).sum(dim=-1), mask)


AGG_MODES: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "token-mean": _token_mean,
    "seq-mean-token-mean": _seq_mean_token_mean,
    "seq-mean-token-sum": _seq_mean_token_sum,
}


def agg_units(mask: Tensor, agg: str = "token-mean") -> Tensor:
    """The count an aggregation divides by: valid tokens (``token-mean``) or sequences
    with at least one valid token (the ``seq-mean`` modes). 0-dim float tensor.

    With micro-batches, ``agg_loss(x_k, m_k) * agg_units(m_k) / agg_units(m)`` summed over
    the micro-batches k of a mini-batch equals ``agg_loss(x, m)`` of the whole mini-batch:
    every token (or sequence) weighs the same whatever the micro-batch layout.
    """
    fn = "agg_units"
    choose(fn, "agg", agg, AGG_MODES)
    mask = check_tensor(fn, "mask", mask)
    check_ndim(fn, "mask", mask, 2, "[B, T]")
    dtype = mask.dtype if mask.is_floating_point() else torch.float32
    if agg == "token-mean":
        return (mask > 0).sum().to(dtype)
    return ((mask > 0).sum(dim=-1) > 0).sum().to(dtype)


def masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    """Token mean Σ m·x / Σ m of [B, T] values; 0 when the mask is empty. No checks."""
    return _token_mean(values, mask)


def masked_std(values: Tensor, mask: Tensor) -> Tensor:
    """Population standard deviation of the masked values (a metric). No checks."""
    mean = _token_mean(values, mask)
    return _token_mean((values - mean) ** 2, mask).sqrt()


def agg_loss(values: Tensor, mask: Tensor, agg: str = "token-mean") -> Tensor:
    """Reduce per-token values to a scalar loss with the named aggregation (SDAR_SPEC 2.4).

    Shapes: values [B, T] float, mask [B, T] (bool or float, 1 = valid) -> 0-dim tensor.

    ``token-mean``      L = Σ_{b,t} m_bt x_bt / Σ_{b,t} m_bt
    ``seq-mean-token-mean``  L = 1/B' Σ_b (Σ_t m_bt x_bt / Σ_t m_bt)
    ``seq-mean-token-sum``   L = 1/B' Σ_b Σ_t m_bt x_bt

    B' counts the sequences with at least one valid token. An empty mask gives 0.
    """
    fn = "agg_loss"
    reduce = choose(fn, "agg", agg, AGG_MODES)
    values = check_float(fn, "values", values)
    check_ndim(fn, "values", values, 2, "[B, T]")
    mask = check_mask(fn, mask, "values", values)
    return reduce(values, mask)
