"""Score responses whose prompts share a token prefix, running each shared prefix once.

Many scoring prompts start with the same tokens (the teacher's privileged block placed
before the chat template, the G identical first-turn prompts of a group). Here the
key/value cache of a shared prefix is computed once and every row of a micro-batch is
scored on top of it; the log-probs are those of `sdar.models.logprobs.score` on the full
sequences, up to floating-point reordering.

Layout of one micro-batch (notation: ``S`` shared prefix tokens, ``B`` rows, ``P`` longest
suffix, ``T`` longest response)::

    cache      [s0 s1 ... s(S-1)]                 computed once, repeated to B rows
    input_ids  [pad pad q0 q1 | r0 r1 r2 pad]     `collate` of the suffixes and responses
    attention  [1 1 ... 1 | 0 0 1 1 | 1 1 1 0]    [B, S + P + T]: prefix, then the batch mask
    positions  S + (cumsum(batch mask) - 1)

The left pads sit between the prefix and the suffix: masked out of attention and skipped
by the positions, so every row sees exactly ``prefix + suffix + response``. Every suffix
keeps at least one token, so the logit that predicts the first response token comes from
this forward (``logits_to_keep = T + 1``, as in `response_logprobs`).

Grouping (`shared_prefix_groups`) works on token ids only: prompts are sorted, and the
longest common prefixes of sorted neighbours form a trie whose cut points are chosen to
minimise the tokens run through the model plus a fixed cost per group.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from transformers import DynamicCache, PreTrainedModel

from sdar.models.generate import cache_kwarg
from sdar.models.logprobs import _micro_batches, collate, logprobs_of_logits, score

MIN_PREFIX = 16
"""Shortest shared prefix worth a cached forward of its own."""
GROUP_COST = 64
"""Tokens a group must save to pay for its extra forwards (the prefix pass, its own
micro-batches)."""
_MAX_DEPTH = 64


@dataclass(frozen=True)
class PrefixGroup:
    """Prompts ``indices`` that all start with the same ``prefix_len`` tokens."""

    prefix_len: int
    indices: list[int]


def _lcp(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def shared_prefix_groups(
    prompts: list[list[int]], *, min_prefix: int = MIN_PREFIX, group_cost: int = GROUP_COST
) -> tuple[list[PrefixGroup], list[int]]:
    """Split prompt indices into groups with a shared prefix and the rest (scored plainly).

    A group of ``n >= 2`` prompts sharing ``m >= min_prefix`` tokens costs
    ``group_cost + m + sum(len_i - m)`` tokens; a plain prompt costs ``len_i``. Each range of
    sorted prompts takes the cheapest of: all plain, one group at the range's common prefix,
    or a split where that common prefix ends (recursively). ``m`` is capped at the shortest
    prompt's length - 1, so every suffix keeps a token.
    """
    order = sorted(range(len(prompts)), key=lambda i: prompts[i])
    lcps = [_lcp(prompts[a], prompts[b]) for a, b in zip(order, order[1:], strict=False)]

    def solve(lo: int, hi: int, depth: int) -> tuple[int, list[PrefixGroup], list[int]]:
        members = order[lo:hi]
        plain = sum(len(prompts[i]) for i in members)
        best = (plain, [], list(members))
        if hi - lo < 2:
            return best
        raw = min(lcps[lo : hi - 1])
        m = min(raw, min(len(prompts[i]) for i in members) - 1)
        if m >= min_prefix:
            one = group_cost + plain - (len(members) - 1) * m
            if one < best[0]:
                best = (one, [PrefixGroup(m, list(members))], [])
        cuts = [j + 1 for j in range(lo, hi - 1) if lcps[j] == raw]
        if depth < _MAX_DEPTH and len(cuts) < hi - lo - 1:  # else the split is all plain
            cost, groups, rest = 0, [], []
            for a, b in zip([lo, *cuts], [*cuts, hi], strict=True):
                c, g, r = solve(a, b, depth + 1)
                cost, groups, rest = cost + c, groups + g, rest + r
            if cost < best[0]:
                best = (cost, groups, rest)
        return best

    if not prompts:
        return [], []
    _, groups, rest = solve(0, len(order), 0)
    return groups, sorted(rest)


def _prefix_cache(model: PreTrainedModel, prefix_ids: list[int], device: str | torch.device):
    """The key/value cache of one prefix, ``[1, heads, S, head_dim]`` per layer."""
    ids = torch.tensor([prefix_ids], dtype=torch.long, device=device)
    cache = DynamicCache(config=model.config)
    model(input_ids=ids, use_cache=True, logits_to_keep=1, **{cache_kwarg(model): cache})
    return cache


def score_with_shared_prefix(
    model: PreTrainedModel,
    prefix_ids: list[int],
    suffixes: list[list[int]],
    responses: list[list[int]],
    *,
    pad_id: int,
    token_budget: int = 16384,
    temperature: float = 1.0,
    with_entropy: bool = False,
    device: str | torch.device = "cpu",
) -> tuple[list[torch.Tensor], list[torch.Tensor] | None]:
    """Log-probs (and entropies) of ``prefix_ids + suffixes[i] -> responses[i]``, no gradients.

    The prefix runs once; micro-batches (``rows * (S + P + T) <= token_budget``) reuse its
    cache. Every suffix needs at least one token. Returns what `score` returns on the full
    prompts: per sample a float32 CPU tensor ``[len(response)]``, in input order.
    """
    if len(suffixes) != len(responses):
        raise ValueError(f"score: {len(suffixes)} suffixes but {len(responses)} responses")
    if not prefix_ids:
        raise ValueError("score_with_shared_prefix: empty prefix; use score()")
    if temperature <= 0:
        raise ValueError(f"temperature: expected > 0, got {temperature}")
    shared = len(prefix_ids)
    logps: list[torch.Tensor | None] = [None] * len(suffixes)
    ents: list[torch.Tensor | None] = [None] * len(suffixes)
    name = cache_kwarg(model)
    with torch.inference_mode():
        prefix_cache = _prefix_cache(model, prefix_ids, device)
        for group in _micro_batches(suffixes, responses, token_budget, shared=shared):
            batch = collate(
                [suffixes[i] for i in group], [responses[i] for i in group], pad_id, device
            )
            rows, width_r = batch.response_mask.shape
            cache = copy.deepcopy(prefix_cache)  # the forward appends to it
            cache.batch_repeat_interleave(rows)
            ones = torch.ones(rows, shared, dtype=batch.attention_mask.dtype, device=device)
            out = model(
                input_ids=batch.input_ids,
                attention_mask=torch.cat([ones, batch.attention_mask], dim=1),  # [B, S+P+T]
                position_ids=batch.position_ids + shared,
                use_cache=True,
                logits_to_keep=width_r + 1,
                **{name: cache},
            )
            lp, ent = logprobs_of_logits(out.logits, batch, temperature, with_entropy)
            for row, i in enumerate(group):
                n = len(responses[i])
                logps[i] = lp[row, :n].cpu()
                if ent is not None:
                    ents[i] = ent[row, :n].cpu()
    return logps, (ents if with_entropy else None)


def score_grouped(
    model: PreTrainedModel,
    prompts: list[list[int]],
    responses: list[list[int]],
    *,
    pad_id: int,
    token_budget: int = 16384,
    temperature: float = 1.0,
    with_entropy: bool = False,
    device: str | torch.device = "cpu",
) -> tuple[list[torch.Tensor], list[torch.Tensor] | None, float]:
    """`score` with shared prefixes cached (`shared_prefix_groups`), results in input order.

    Returns ``(logprobs, entropies or None, cached_ratio)``; ``cached_ratio`` is the share
    of prompt tokens served from a prefix cache instead of being run per row.
    """
    if len(prompts) != len(responses):
        raise ValueError(f"score: {len(prompts)} prompts but {len(responses)} responses")
    groups, rest = shared_prefix_groups(prompts)
    kw = dict(
        pad_id=pad_id,
        token_budget=token_budget,
        temperature=temperature,
        with_entropy=with_entropy,
        device=device,
    )
    logps: list[torch.Tensor | None] = [None] * len(prompts)
    ents: list[torch.Tensor | None] = [None] * len(prompts)
    parts = [
        (
            g.indices,
            *score_with_shared_prefix(
                model,
                prompts[g.indices[0]][: g.prefix_len],
                [prompts[i][g.prefix_len :] for i in g.indices],
                [responses[i] for i in g.indices],
                **kw,
            ),
        )
        for g in groups
    ]
    if rest:
        parts.append(
            (rest, *score(model, [prompts[i] for i in rest], [responses[i] for i in rest], **kw))
        )
    for indices, lp, ent in parts:
        for j, i in enumerate(indices):
            logps[i] = lp[j]
            if ent is not None:
                ents[i] = ent[j]
    total = sum(len(p) for p in prompts)
    saved = sum((len(g.indices) - 1) * g.prefix_len for g in groups)
    return logps, (ents if with_entropy else None), (saved / total if total else 0.0)
