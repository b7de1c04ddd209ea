"""Token-in/token-out batched sampling with a KV cache (nanochat's engine, for HF models).

Prompts are token ids and so are the results: the returned ids are exactly the sampled ids,
which become training data unchanged (no decode + re-encode). Text is decoded only to detect
stop strings and to hand the env a string.

Algorithm, per batch of length-sorted prompts:

1. Prefill the left-padded prompts ``[b, P]`` with ``attention_mask`` and
   ``position_ids = cumsum(mask) - 1``, keeping only the last position's logits. Shared work is
   done once (`_prefill`): the common prefix of the batch (chat template, instructions) is
   prefilled as one row and its KV cache expanded; identical prompts (the G rollouts of a group
   on their first turn) are prefilled once and their cache rows copied.
2. Each step: scale logits by ``1 / temperature``, record ``log softmax`` of the sampled id,
   truncate (top-k, then top-p) and sample with the caller's ``torch.Generator``, or, given
   per-prompt ``seeds``, with noise drawn per row from ``(seed, position)`` alone
   (`seeded_choice`), so a prompt's response does not depend on the rest of the batch.
3. A row finishes on an eos id, on a stop string completed by its newest token (the token is
   kept, nothing after it) or at ``max_new_tokens``. Finished rows leave the batch: the KV cache,
   mask and positions are index-selected down to the live rows, so no work is spent on them.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch
from transformers import DynamicCache, PreTrainedModel, PreTrainedTokenizerBase


@dataclass(frozen=True)
class SamplingParams:
    """How to sample one response per prompt.

    Attributes:
        max_new_tokens: hard cap on sampled tokens per prompt.
        temperature: logits are divided by it; the recorded logprobs use the same scaling.
        top_p: nucleus sampling mass in (0, 1]; 1.0 disables it.
        top_k: keep the k most likely tokens; 0 disables it.
        stop_strings: generation ends right after the token that completes one of them.
        greedy: argmax instead of sampling (temperature still scales the recorded logprobs).
    """

    max_new_tokens: int = 512
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    stop_strings: tuple[str, ...] = ()
    greedy: bool = False

    def __post_init__(self) -> None:
        errors = []
        if self.max_new_tokens < 1:
            errors.append(f"max_new_tokens: expected >= 1, got {self.max_new_tokens}")
        if self.temperature <= 0:
            errors.append(f"temperature: expected > 0 (use greedy=True), got {self.temperature}")
        if not 0 < self.top_p <= 1:
            errors.append(f"top_p: expected in (0, 1], got {self.top_p}")
        if self.top_k < 0:
            errors.append(f"top_k: expected >= 0 (0 disables it), got {self.top_k}")
        if any(not s for s in self.stop_strings):
            errors.append("stop_strings: empty strings are not allowed")
        if errors:
            raise ValueError("; ".join(errors))


@dataclass
class Generation:
    """Sampled responses, in prompt order.

    Attributes:
        ids: ``[N][T_i]`` sampled token ids (stop/eos token included, nothing after it).
        logprobs: ``[N][T_i]`` log-prob of each sampled id under the temperature-scaled
            (untruncated) distribution, as computed at sampling time.
        finished: ``[N]`` True when ended by eos or a stop string, False when cut at
            ``max_new_tokens``.
        texts: ``[N]`` decoded ``ids`` without special tokens (eos), for the env.
    """

    ids: list[list[int]]
    logprobs: list[list[float]]
    finished: list[bool]
    texts: list[str]


def cache_kwarg(model: torch.nn.Module) -> str:
    """Name of the KV-cache argument of ``model.forward``: ``cache`` (transformers >= 5.x)
    or ``past_key_values`` (older releases)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    params = inspect.signature(base.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def eos_token_ids(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """The tokenizer's eos id plus any eos ids of the model's generation config."""
    ids = {tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set()
    gen = getattr(model, "generation_config", None)
    extra = getattr(gen, "eos_token_id", None) if gen is not None else None
    if extra is not None:
        ids.update([extra] if isinstance(extra, int) else extra)
    return sorted(ids)


def stop_candidates(
    tokenizer: PreTrainedTokenizerBase, stop_strings: Iterable[str]
) -> frozenset[int]:
    """Ids whose text contains the last character of some stop string.

    A stop string can only be completed by such a token, so only those steps pay for decoding.
    Printable ASCII characters appear verbatim in the raw token strings of byte-level BPE,
    SentencePiece and word-level vocabularies (or as a ``<0xNN>`` byte-fallback piece), so the
    vocabulary is scanned without decoding it; other characters fall back to decoding each id.
    """
    last_chars = {s[-1] for s in stop_strings}
    if not last_chars:
        return frozenset()
    vocab = max(len(tokenizer), max(tokenizer.get_vocab().values()) + 1)
    if all(c.isascii() and c.isprintable() and not c.isspace() for c in last_chars):
        pieces = tokenizer.convert_ids_to_tokens(list(range(vocab)))
        needles = last_chars | {f"<0x{ord(c):02X}>" for c in last_chars}
    else:
        pieces = tokenizer.batch_decode([[i] for i in range(vocab)])
        needles = last_chars
    return frozenset(
        i for i, piece in enumerate(pieces) if piece and any(n in piece for n in needles)
    )


_MASK64 = (1 << 64) - 1
_MASK63 = (1 << 63) - 1


def _splitmix64(x: int) -> int:
    """One splitmix64 step on a 64-bit unsigned integer (Steele, Lea & Flood 2014)."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def mix_seed(*values: int) -> int:
    """A deterministic 63-bit seed from any Python ints (negative or wider than 64 bits).

    Each value is fed to a splitmix64 chain as a header (its sign and number of 64-bit limbs)
    followed by the limbs of its magnitude, so distinct tuples give unrelated seeds. The same
    in every process and Python version (no ``hash()``); usable by ``torch.Generator``.
    """
    h = _splitmix64(len(values))
    for value in values:
        value = int(value)
        magnitude = abs(value)
        limbs = [magnitude & _MASK64]
        magnitude >>= 64
        while magnitude:
            limbs.append(magnitude & _MASK64)
            magnitude >>= 64
        h = _splitmix64(h ^ ((len(limbs) << 1) | (value < 0)))
        for limb in limbs:
            h = _splitmix64(h ^ limb)
    return h & _MASK63


def seeded_choice(probs: torch.Tensor, row_seeds: Sequence[int], step: int) -> torch.Tensor:
    """One id per row of ``probs [b, V]``, drawn with noise from ``(row seed, step)`` only.

    Exponential race (Gumbel-max): row i draws ``u ~ U(0, 1)^V`` from a ``torch.Generator``
    seeded with ``mix_seed(row_seeds[i], step)`` and picks ``argmax(probs / -log(u))``, an
    exact sample of ``probs`` (zero-probability ids never win). The choice depends on the
    row's own probabilities and seed, not on the batch around it; the noise depends on the
    device type (CPU and CUDA generators differ).
    """
    if len(row_seeds) != probs.shape[0]:
        raise ValueError(f"seeded_choice: {len(row_seeds)} seeds for {probs.shape[0]} rows")
    gen = torch.Generator(device=probs.device)
    noise = torch.empty(probs.shape, dtype=torch.float32, device=probs.device)
    for row, seed in enumerate(row_seeds):
        gen.manual_seed(mix_seed(seed, step))
        torch.rand(probs.shape[-1], generator=gen, out=noise[row])
    tiny = torch.finfo(torch.float32).tiny
    exp = -torch.log(noise.clamp_(min=tiny, max=1.0 - torch.finfo(torch.float32).eps))
    return (probs.float() / exp).argmax(dim=-1)


def sample_next(
    logits: torch.Tensor,
    params: SamplingParams,
    generator: torch.Generator,
    row_seeds: Sequence[int] | None = None,
    step: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample one token per row.

    Args:
        logits: ``[b, V]`` next-token logits.
        generator: the randomness when ``row_seeds`` is None (``torch.multinomial``).
        row_seeds: one seed per row: sample with `seeded_choice` at position ``step``
            instead, so a row's token depends only on its logits, its seed and ``step``.
        step: the response position being sampled (used with ``row_seeds``).

    Returns:
        ``(ids [b], logprobs [b])``: logprobs under ``log_softmax(logits / temperature)``.
    """
    scaled = logits.float() / params.temperature
    logp = torch.log_softmax(scaled, dim=-1)
    if params.greedy:
        ids = scaled.argmax(dim=-1)
        return ids, logp.gather(-1, ids[:, None]).squeeze(-1)
    trunc = scaled
    if params.top_k > 0 and params.top_k < trunc.shape[-1]:
        kth = torch.topk(trunc, params.top_k, dim=-1).values[:, -1:]
        trunc = trunc.masked_fill(trunc < kth, float("-inf"))
    if params.top_p < 1.0:
        sorted_logits, order = torch.sort(trunc, dim=-1, descending=True)
        cum = torch.softmax(sorted_logits, dim=-1).cumsum(dim=-1)
        # drop a token when the mass before it already reaches top_p (the top-1 always stays)
        drop_sorted = (cum - torch.softmax(sorted_logits, dim=-1)) >= params.top_p
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        trunc = trunc.masked_fill(drop, float("-inf"))
    probs = logp.exp() if trunc is scaled else torch.softmax(trunc, dim=-1)
    if row_seeds is None:
        ids = torch.multinomial(probs, 1, generator=generator).squeeze(-1)
    else:
        ids = seeded_choice(probs, row_seeds, step)
    return ids, logp.gather(-1, ids[:, None]).squeeze(-1)


def _left_pad(
    prompts: list[list[int]], pad_id: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(input_ids [b, P], attention_mask [b, P])`` with prompts right-aligned."""
    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for row, prompt in enumerate(prompts):
        ids[row, width - len(prompt) :] = torch.tensor(prompt, dtype=torch.long)
        mask[row, width - len(prompt) :] = 1
    return ids.to(device), mask.to(device)


def _hits_stop(
    tokenizer: PreTrainedTokenizerBase, new_ids: list[int], stops: tuple[str, ...], tail: int
) -> bool:
    """Whether the decoded last ``tail`` new tokens contain a stop string."""
    text = tokenizer.decode(new_ids[-tail:])
    return any(s in text for s in stops)


@dataclass(frozen=True)
class _Stop:
    """When a row ends: an eos id, or a stop string completed by a candidate token."""

    eos: frozenset[int]
    candidates: frozenset[int]
    strings: tuple[str, ...]
    tail: int  # decode this many newest tokens to look for a stop string


@dataclass
class _Rows:
    """Per-prompt outputs of one batch, filled as rows sample tokens."""

    ids: list[list[int]]
    logprobs: list[list[float]]
    finished: list[bool]


def _record(
    rows: _Rows,
    live: list[int],
    tokens: list[int],
    logprobs: list[float],
    stop: _Stop,
    tokenizer: PreTrainedTokenizerBase,
) -> list[int]:
    """Append one sampled token per live row; return the positions (in ``live``) still running."""
    keep = []
    for j, (row, tok, lp) in enumerate(zip(live, tokens, logprobs, strict=True)):
        rows.ids[row].append(tok)
        rows.logprobs[row].append(lp)
        if tok in stop.eos or (
            tok in stop.candidates and _hits_stop(tokenizer, rows.ids[row], stop.strings, stop.tail)
        ):
            rows.finished[row] = True
        else:
            keep.append(j)
    return keep


MIN_SHARED_PREFIX = 8
"""A common prefix shorter than this is not worth a separate forward pass."""


def _prefill(
    model: PreTrainedModel,
    prompts: list[list[int]],
    pad_id: int,
    kv: DynamicCache,
    share: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Fill ``kv`` with the prompts; returns ``(last logits [n, V], mask [n, W], next
    positions [n, 1])``.

    With ``share``: (a) the longest common prefix of all prompts (kept at least one token
    short of the shortest prompt) is run once as a single row and its cache expanded to every
    row; (b) the remaining suffixes are deduplicated, run once each, and their cache rows and
    logits index-copied to the duplicates. The suffixes are left-padded after the shared
    prefix, so a row's mask reads ``[1]*K + [0]*pad + [1]*len(suffix)``; positions count only
    the unmasked tokens, so every row sees the same positions as in a plain prefill.
    """
    device = next(model.parameters()).device
    cache = {cache_kwarg(model): kv}
    k = 0
    if share and len(prompts) > 1:
        k = min(len(os.path.commonprefix(prompts)), min(len(p) for p in prompts) - 1)
        k = k if k >= MIN_SHARED_PREFIX else 0
    suffixes = [tuple(p[k:]) for p in prompts]
    first: dict[tuple[int, ...], int] = {}
    if share:
        for s in suffixes:
            first.setdefault(s, len(first))
        expand = [first[s] for s in suffixes]
        unique = [list(s) for s in first]
    else:
        expand, unique = list(range(len(prompts))), [list(s) for s in suffixes]
    if k:
        prefix = torch.tensor([prompts[0][:k]], dtype=torch.long, device=device)
        model(
            input_ids=prefix,
            position_ids=torch.arange(k, device=device)[None],
            use_cache=True,
            logits_to_keep=1,
            **cache,
        )
        kv.batch_select_indices(torch.zeros(len(unique), dtype=torch.long, device=device))
    ids, suffix_mask = _left_pad(unique, pad_id, device)
    mask = torch.cat([suffix_mask.new_ones((len(unique), k)), suffix_mask], dim=-1)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)[:, k:]
    out = model(
        input_ids=ids,
        attention_mask=mask,
        position_ids=positions,
        use_cache=True,
        logits_to_keep=1,
        **cache,
    )
    logits, next_pos = out.logits[:, -1], positions[:, -1:] + 1
    if len(unique) < len(prompts):
        idx = torch.tensor(expand, dtype=torch.long, device=device)
        kv.batch_select_indices(idx)
        logits, mask, next_pos = logits[idx], mask[idx], next_pos[idx]
    return logits, mask, next_pos


def _generate_batch(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: list[list[int]],
    params: SamplingParams,
    generator: torch.Generator,
    stop: _Stop,
    share: bool = True,
    seeds: Sequence[int] | None = None,
) -> _Rows:
    """Sample responses for one batch of prompts (steps 1-3 of the module docstring);
    ``seeds[j]`` (if given) is prompt j's seed, kept aligned with the live rows."""
    device = next(model.parameters()).device
    n = len(prompts)
    rows = _Rows([[] for _ in range(n)], [[] for _ in range(n)], [False] * n)
    kv = DynamicCache(config=model.config)  # filled in place by each forward
    cache = {cache_kwarg(model): kv}
    # step 1: prefill, logits of the last position only
    logits, mask, next_pos = _prefill(model, prompts, tokenizer.pad_token_id, kv, share)
    live = list(range(n))
    for step in range(params.max_new_tokens):
        # step 2: sample
        row_seeds = None if seeds is None else [seeds[row] for row in live]
        tokens, logprobs = sample_next(logits, params, generator, row_seeds, step)
        # step 3: retire finished rows
        keep = _record(rows, live, tokens.tolist(), logprobs.tolist(), stop, tokenizer)
        if not keep or step == params.max_new_tokens - 1:
            break
        if len(keep) < len(live):
            idx = torch.tensor(keep, device=device)
            kv.batch_select_indices(idx)
            mask, next_pos, tokens = mask[idx], next_pos[idx], tokens[idx]
            live = [live[j] for j in keep]
        mask = torch.cat([mask, mask.new_ones((len(live), 1))], dim=-1)
        out = model(
            input_ids=tokens[:, None],
            attention_mask=mask,
            position_ids=next_pos,
            use_cache=True,
            **cache,
        )
        logits = out.logits[:, -1]
        next_pos = next_pos + 1
    return rows


def generate(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: list[list[int]],
    params: SamplingParams,
    *,
    generator: torch.Generator,
    batch_size: int = 64,
    eos_ids: Iterable[int] | None = None,
    share_prefill: bool = True,
    seeds: Sequence[int] | None = None,
) -> Generation:
    """Sample one response per prompt, token ids in and token ids out.

    Prompts are sorted by length (longest first) into batches of ``batch_size`` to reduce
    padding; results come back in input order. Randomness comes only from ``generator``
    (on the model's device), so the same generator state gives the same samples; or, with
    ``seeds``, from the seeds alone (`seeded_choice`).

    Args:
        prompts: ``[N][P_i]`` prompt token ids (non-empty).
        eos_ids: ids that end a response; default `eos_token_ids`; ``()`` disables eos.
        share_prefill: prefill a batch's common prefix and its identical prompts once
            (`_prefill`); False prefills every row on its own (for comparison).
        seeds: one int per prompt; the token of prompt i at response position t then
            depends only on ``(seeds[i], t)`` and that prompt's logits, not on the batch
            (its size, order, other prompts, ``batch_size`` or ``share_prefill``), up to
            float rounding of the logits in a padded batch. ``generator`` is then unused.

    Returns:
        `Generation` with ``ids``/``logprobs`` ``[N][T_i]``, ``T_i <= params.max_new_tokens``.
    """
    if any(len(p) == 0 for p in prompts):
        raise ValueError("generate: every prompt needs at least one token")
    if tokenizer.pad_token_id is None:
        raise ValueError("generate: tokenizer has no pad token; load it with load_policy")
    if seeds is not None and len(seeds) != len(prompts):
        raise ValueError(f"generate: {len(seeds)} seeds for {len(prompts)} prompts")
    eos = frozenset(eos_token_ids(model, tokenizer) if eos_ids is None else eos_ids)
    stops = tuple(params.stop_strings)
    tail = max((len(s) for s in stops), default=0) + 2
    stop = _Stop(eos, stop_candidates(tokenizer, stops), stops, tail)
    order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]))
    results: dict[int, tuple[list[int], list[float], bool]] = {}
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                chunk = order[start : start + batch_size]
                rows = _generate_batch(
                    model,
                    tokenizer,
                    [prompts[i] for i in chunk],
                    params,
                    generator,
                    stop,
                    share_prefill,
                    None if seeds is None else [seeds[i] for i in chunk],
                )
                for j, i in enumerate(chunk):
                    results[i] = (rows.ids[j], rows.logprobs[j], rows.finished[j])
    finally:
        model.train(was_training)
    ids = [results[i][0] for i in range(len(prompts))]
    return Generation(
        ids=ids,
        logprobs=[results[i][1] for i in range(len(prompts))],
        finished=[results[i][2] for i in range(len(prompts))],
        texts=tokenizer.batch_decode(ids, skip_special_tokens=True),
    )
