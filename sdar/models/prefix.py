"""Score responses whose prompts share token prefixes, running each shared prefix once.

Many scoring prompts start with the same tokens (the teacher's privileged block placed
before the chat template, the G identical first-turn prompts of a group). Here the
key/value states of each distinct prefix are computed once, in batched forwards, and the
rest of every prompt and its response are scored on top of them; the log-probs are those
of `sdar.models.logprobs.score` on the full sequences, up to floating-point reordering.

Layout of one micro-batch (notation: ``B`` rows, ``S`` longest prefix among the rows, ``P``
longest suffix, ``T`` longest response); rows of different prefixes (or none) mix::

    cache      [pad s0 s1 ... ]                    each row's prefix states, left-padded to S
    input_ids  [pad pad q0 q1 | r0 r1 r2 pad]      `collate` of the suffixes and responses
    attention  [0 1 ... 1 | 0 0 1 1 | 1 1 1 0]     [B, S + P + T]: prefix mask, batch mask
    positions  len(prefix) + (cumsum(batch mask) - 1)

Pads (before the prefix, and between prefix and suffix) are masked out of attention and
skipped by the positions, so every row sees exactly ``prefix + suffix + response``. Every
suffix keeps at least one token, so the logit that predicts the first response token comes
from this forward (``logits_to_keep = T + 1``, as in `response_logprobs`).

Grouping (`shared_prefix_groups`) works on token ids only: prompts are sorted, and the
longest common prefixes of sorted neighbours form a trie whose cut points are chosen to
minimise the tokens run through the model plus a fixed cost per group.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import DynamicCache, PreTrainedModel

from sdar.models.generate import cache_kwarg
from sdar.models.logprobs import _micro_batches, collate, logprobs_of_logits

MIN_PREFIX = 16
"""Shortest shared prefix worth a cached forward of its own."""
GROUP_COST = 64
"""Tokens a group must save to pay for its own prefix row and the copies of its states."""
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


def _prefix_states(
    model: PreTrainedModel, prefixes: list[list[int]], token_budget: int, device: str | torch.device
) -> list[list[tuple[torch.Tensor, torch.Tensor]]]:
    """Key/value states of every prefix, per layer ``(keys, values)`` of ``[heads, S, dim]``.

    Prefixes run in left-padded micro-batches; each row's states are cut to its own tokens.
    """
    name = cache_kwarg(model)
    states: list[list[tuple[torch.Tensor, torch.Tensor]]] = [[] for _ in prefixes]
    for group in _micro_batches(prefixes, [[] for _ in prefixes], token_budget):
        batch = collate([prefixes[i] for i in group], [[] for _ in group], 0, device)
        cache = DynamicCache(config=model.config)
        model(
            input_ids=batch.input_ids,
            attention_mask=batch.attention_mask,
            position_ids=batch.position_ids,
            use_cache=True,
            logits_to_keep=1,
            **{name: cache},
        )
        for row, i in enumerate(group):
            n = len(prefixes[i])
            states[i] = [(x.keys[row, :, -n:], x.values[row, :, -n:]) for x in cache.layers]
    return states


def _stack_states(
    states: list[list[tuple[torch.Tensor, torch.Tensor]]],
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per layer ``(keys, values)`` of ``[N + 1, heads, S, dim]``: every prefix right-aligned
    (left-padded to the longest, ``S``) and a last all-zero row for rows without a prefix."""
    width = max(s[0][0].shape[1] for s in states)
    stacked = []
    for layer, (k0, v0) in enumerate(states[0]):
        keys = k0.new_zeros(len(states) + 1, k0.shape[0], width, k0.shape[-1])
        values = v0.new_zeros(len(states) + 1, v0.shape[0], width, v0.shape[-1])
        for row, s in enumerate(states):
            k, v = s[layer]
            keys[row, :, width - k.shape[1] :] = k
            values[row, :, width - v.shape[1] :] = v
        stacked.append((keys, values))
    return stacked


def score_on_prefixes(
    model: PreTrainedModel,
    prefixes: list[list[int]],
    owners: list[int],
    suffixes: list[list[int]],
    responses: list[list[int]],
    *,
    pad_id: int,
    token_budget: int = 16384,
    temperature: float = 1.0,
    with_entropy: bool = False,
    device: str | torch.device = "cpu",
) -> tuple[list[torch.Tensor], list[torch.Tensor] | None]:
    """Log-probs of ``prefixes[owners[i]] + suffixes[i] -> responses[i]`` (``owners[i] = -1``:
    no prefix), without gradients; the same as `score` on the full prompts.

    Each prefix runs once; micro-batches (``rows * (S + P + T) <= token_budget``) mix rows of
    any prefixes on a cache of their prefix states, left-padded to the longest (module
    docstring). Every suffix needs at least one token.

    Returns:
        ``(logprobs, entropies or None)``: per sample a float32 CPU tensor ``[len(response)]``.
    """
    if not len(owners) == len(suffixes) == len(responses):
        raise ValueError(
            f"score: {len(owners)} owners, {len(suffixes)} suffixes, {len(responses)} responses"
        )
    if any(not p for p in prefixes):
        raise ValueError("score_on_prefixes: empty prefix; use owner -1 for no prefix")
    if temperature <= 0:
        raise ValueError(f"temperature: expected > 0, got {temperature}")
    logps: list[torch.Tensor | None] = [None] * len(suffixes)
    ents: list[torch.Tensor | None] = [None] * len(suffixes)
    name = cache_kwarg(model)
    width = [len(prefixes[o]) if o >= 0 else 0 for o in owners]
    full = [[0] * w + s for w, s in zip(width, suffixes, strict=True)]  # lengths for batching
    with torch.no_grad():  # not inference_mode: FSDP reuses its buffers in training
        stacked = (
            _stack_states(_prefix_states(model, prefixes, token_budget, device)) if prefixes else []
        )
        for group in _micro_batches(full, responses, token_budget):
            batch = collate(
                [suffixes[i] for i in group], [responses[i] for i in group], pad_id, device
            )
            width_r = batch.response_mask.shape[1]
            shared = torch.tensor([width[i] for i in group], device=device)  # [B]
            wide = int(shared.max())
            kwargs = {}
            mask, positions = batch.attention_mask, batch.position_ids
            if wide > 0:
                cols = torch.arange(wide, device=device)
                prefix_mask = (cols[None, :] >= wide - shared[:, None]).to(mask.dtype)  # [B, S]
                mask = torch.cat([prefix_mask, mask], dim=1)  # [B, S + P + T]
                positions = positions + shared[:, None]
                rows_of = [owners[i] if owners[i] >= 0 else len(prefixes) for i in group]
                index = torch.tensor(rows_of, device=device)
                kwargs[name] = DynamicCache(
                    ddp_cache_data=[
                        (
                            k[:, :, -wide:].index_select(0, index),
                            v[:, :, -wide:].index_select(0, index),
                        )
                        for k, v in stacked
                    ],
                    config=model.config,
                )
            out = model(
                input_ids=batch.input_ids,
                attention_mask=mask,
                position_ids=positions,
                use_cache=wide > 0,
                logits_to_keep=width_r + 1,
                **kwargs,
            )
            lp, ent = logprobs_of_logits(out.logits, batch, temperature, with_entropy)
            for row, i in enumerate(group):
                n = len(responses[i])
                logps[i] = lp[row, :n].cpu()
                if ent is not None:
                    ents[i] = ent[row, :n].cpu()
    return logps, (ents if with_entropy else None)


def score_with_shared_prefix(
    model: PreTrainedModel,
    prefix_ids: list[int],
    suffixes: list[list[int]],
    responses: list[list[int]],
    **kw: object,
) -> tuple[list[torch.Tensor], list[torch.Tensor] | None]:
    """`score_on_prefixes` with one prefix shared by every row."""
    if not prefix_ids:
        raise ValueError("score_with_shared_prefix: empty prefix; use score()")
    return score_on_prefixes(model, [prefix_ids], [0] * len(suffixes), suffixes, responses, **kw)


def score_grouped(
    model: PreTrainedModel,
    prompts: list[list[int]],
    responses: list[list[int]],
    **kw: object,
) -> tuple[list[torch.Tensor], list[torch.Tensor] | None, float]:
    """`score` with shared prefixes cached (`shared_prefix_groups`), results in input order.

    Returns ``(logprobs, entropies or None, cached_ratio)``; ``cached_ratio`` is the share
    of prompt tokens served from a prefix cache instead of being run per row. Models with
    sliding-window layers are scored without a cache (``cached_ratio`` 0).
    """
    if len(prompts) != len(responses):
        raise ValueError(f"score: {len(prompts)} prompts but {len(responses)} responses")
    # a sliding-window layer keeps only its window of the prefix: cut prefixes are not shared
    sliding = any(DynamicCache(config=model.config).is_sliding)
    groups = [] if sliding else shared_prefix_groups(prompts)[0]
    owners = [-1] * len(prompts)
    for g, group in enumerate(groups):
        for i in group.indices:
            owners[i] = g
    prefixes = [prompts[g.indices[0]][: g.prefix_len] for g in groups]
    suffixes = [
        p[len(prefixes[o]) :] if o >= 0 else p for p, o in zip(prompts, owners, strict=True)
    ]
    logps, ents = score_on_prefixes(model, prefixes, owners, suffixes, responses, **kw)
    total = sum(len(p) for p in prompts)
    saved = sum((len(g.indices) - 1) * g.prefix_len for g in groups)
    return logps, ents, (saved / total if total else 0.0)
