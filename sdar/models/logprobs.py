"""Per-token log-probs (and entropies) of given responses under a causal LM.

Layout of a `Batch` (notation: ``B`` rows, ``P`` longest prompt, ``T`` longest response,
``L = P + T``)::

    [pad pad p0 p1 p2 | r0 r1 r2 pad]     prompts left-padded, responses right-padded,
    [pad p0 p1 p2 p3  | r0 r1 pad pad]    so every response starts at column P = prompt_len

Logits are computed only for columns ``P-1 .. L-2`` (those that predict response tokens) via
``logits_to_keep``, so the ``[B, L, V]`` logits tensor is never built. Log-probs use the
temperature-scaled distribution ``log_softmax(logits / temperature)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import PreTrainedModel

from sdar.algos import entropy_from_logits, logprobs_from_logits


@dataclass
class Batch:
    """A scoring batch; see the module docstring for the layout.

    Attributes:
        input_ids: ``[B, L]`` prompt then response ids, pad elsewhere.
        attention_mask: ``[B, L]`` 1 on real tokens.
        position_ids: ``[B, L]`` ``cumsum(attention_mask) - 1`` (0 on left pads).
        response_mask: ``[B, T]`` 1 on real response tokens.
        prompt_len: ``P``, the column where every response starts.
    """

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    position_ids: torch.Tensor
    response_mask: torch.Tensor
    prompt_len: int

    @property
    def responses(self) -> torch.Tensor:
        """``[B, T]`` response ids (pad where ``response_mask`` is 0)."""
        return self.input_ids[:, self.prompt_len :]


def collate(
    prompts: list[list[int]],
    responses: list[list[int]],
    pad_id: int,
    device: str | torch.device = "cpu",
) -> Batch:
    """Pack prompts (left-padded) and responses (right-padded) into one `Batch`."""
    if len(prompts) != len(responses):
        raise ValueError(f"collate: {len(prompts)} prompts but {len(responses)} responses")
    if any(len(p) == 0 for p in prompts):
        raise ValueError("collate: every prompt needs at least one token")
    width_p = max(len(p) for p in prompts)
    width_r = max(len(r) for r in responses)
    ids = torch.full((len(prompts), width_p + width_r), pad_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, (prompt, response) in enumerate(zip(prompts, responses, strict=True)):
        start, end = width_p - len(prompt), width_p + len(response)
        ids[row, start:end] = torch.tensor(prompt + response, dtype=torch.long)
        mask[row, start:end] = 1
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    return Batch(
        input_ids=ids.to(device),
        attention_mask=mask.to(device),
        position_ids=positions.to(device),
        response_mask=mask[:, width_p:].to(device),
        prompt_len=width_p,
    )


def response_logprobs(
    model: PreTrainedModel,
    batch: Batch,
    *,
    temperature: float = 1.0,
    with_entropy: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Differentiable log π(y_t | x, y_<t) of every response token.

    Returns:
        ``(logprobs [B, T], entropy [B, T] or None)`` in float32, zero where
        ``response_mask`` is 0 (so padded positions get zero gradient).
    """
    if temperature <= 0:
        raise ValueError(f"temperature: expected > 0, got {temperature}")
    width_r = batch.response_mask.shape[1]
    if width_r == 0:
        empty = batch.response_mask.float()
        return empty, (empty.clone() if with_entropy else None)
    out = model(
        input_ids=batch.input_ids,
        attention_mask=batch.attention_mask,
        position_ids=batch.position_ids,
        use_cache=False,
        logits_to_keep=width_r + 1,
    )
    return logprobs_of_logits(out.logits, batch, temperature, with_entropy)


def logprobs_of_logits(
    logits: torch.Tensor, batch: Batch, temperature: float, with_entropy: bool
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Response log-probs (and entropies) from the logits of the last ``T + 1`` columns."""
    # columns P-1 .. L-2 predict the response tokens at P .. L-1
    # at least fp32 (bf16 logits are upcast; a float64 model stays float64 for exact tests)
    logits = logits[:, :-1]
    logits = logits.to(torch.promote_types(logits.dtype, torch.float32)) / temperature  # [B, T, V]
    mask = batch.response_mask.to(logits.dtype)
    logprobs = logprobs_from_logits(logits, batch.responses) * mask
    entropy = entropy_from_logits(logits) * mask if with_entropy else None
    return logprobs, entropy


def _micro_batches(
    prompts: list[list[int]], responses: list[list[int]], token_budget: int, shared: int = 0
) -> list[list[int]]:
    """Length-sorted index groups whose padded size ``rows * (S + P + T)`` fits ``token_budget``
    (``S = shared``: tokens of a cached prefix every row attends to, 0 without one).

    A single sample longer than the budget gets a micro-batch of its own.
    """
    order = sorted(range(len(prompts)), key=lambda i: -(len(prompts[i]) + len(responses[i])))
    groups: list[list[int]] = []
    width_p = width_r = 0
    for i in order:
        new_p = max(width_p, len(prompts[i]))
        new_r = max(width_r, len(responses[i]))
        if groups and (len(groups[-1]) + 1) * (shared + new_p + new_r) <= token_budget:
            groups[-1].append(i)
            width_p, width_r = new_p, new_r
        else:
            groups.append([i])
            width_p, width_r = len(prompts[i]), len(responses[i])
    return groups


def score(
    model: PreTrainedModel,
    prompts: list[list[int]],
    responses: list[list[int]],
    *,
    pad_id: int,
    token_budget: int = 16384,
    temperature: float = 1.0,
    with_entropy: bool = False,
    device: str | torch.device = "cpu",
) -> tuple[list[torch.Tensor], list[torch.Tensor] | None]:
    """Log-probs (and entropies) of many responses, without gradients.

    Micro-batches are length-sorted and sized by `_micro_batches`; results are in input order.

    Returns:
        ``(logprobs, entropies or None)``: per sample a float32 CPU tensor ``[len(response)]``.
    """
    if len(prompts) != len(responses):
        raise ValueError(f"score: {len(prompts)} prompts but {len(responses)} responses")
    logps: list[torch.Tensor | None] = [None] * len(prompts)
    ents: list[torch.Tensor | None] = [None] * len(prompts)
    with torch.no_grad():  # not inference_mode: FSDP reuses its buffers in training
        for group in _micro_batches(prompts, responses, token_budget):
            batch = collate(
                [prompts[i] for i in group], [responses[i] for i in group], pad_id, device
            )
            lp, ent = response_logprobs(
                model, batch, temperature=temperature, with_entropy=with_entropy
            )
            for row, i in enumerate(group):
                n = len(responses[i])
                logps[i] = lp[row, :n].cpu()
                if ent is not None:
                    ents[i] = ent[row, :n].cpu()
    return logps, (ents if with_entropy else None)
