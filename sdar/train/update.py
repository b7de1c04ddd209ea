"""The actor update: mini-batches of step-samples, micro-batches with accumulation.

Per mini-batch (SDAR_SPEC section 2):

    L = c_pg * L_PG + c_KL * L_KL - c_ent * H + L_extra

where L_extra is lambda * L_SDAR (sdar, opsd, grpo_opsd) or lambda_SD * L_SD (skill_sd),
and RLSD replaces the advantage by its token re-weighting instead of adding a term.

Every term is aggregated over the whole mini-batch (``algo.loss_agg_mode``): a
micro-batch k adds ``agg(x_k, m_k) * units(m_k) / units(m)``, where ``units`` counts the
valid tokens (token-mean) or non-empty rows (seq-mean modes) of the term's mask over the
micro-batch and the mini-batch. So the accumulated gradient equals the gradient of the
mini-batch in one pass, whatever the micro-batch size or the length sorting (dividing
each micro-batch's mean by the number of micro-batches would let tokens of short
micro-batches weigh more). Gradients are clipped to ``grad_clip``; a step with a
non-finite norm is skipped. Forward and backward run under the policy's autocast (bf16
compute on fp32 master weights where the device supports it).
"""

from __future__ import annotations

import contextlib
import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

import torch

from sdar import algos
from sdar.models.logprobs import Batch, collate, response_logprobs
from sdar.rollout.types import StepSample
from sdar.train.config import AlgoConfig, OptimConfig
from sdar.train.dist import DistContext, total_norm
from sdar.train.methods import Method
from sdar.train.scoring import Scores


@dataclass
class UpdateInputs:
    """Everything the update needs for the samples of this rank's shard."""

    samples: list[StepSample]
    scores: Scores
    advantages: torch.Tensor
    """[N] per-sample GRPO advantages."""
    rlsd_lambda: float = 0.0
    fused_old: list[torch.Tensor | None] | None = None
    """Filled by the update when ``scores.old`` is None: each sample's log-probs from the
    update's forward, detached (float32, CPU), which then become ``scores.old``."""


@dataclass(frozen=True)
class Units:
    """Denominators of one mini-batch: what each term's aggregation divides by."""

    all: float
    """Valid tokens (token-mean) or non-empty rows (seq-mean) over every sample."""
    teacher: float
    """The same over the samples whose teacher context was kept (distillation terms)."""

    @staticmethod
    def of(samples: list[StepSample], teacher_ok: list[bool] | None, agg: str) -> Units:
        def count(s: StepSample) -> int:
            n = len(s.response_ids)
            return n if agg == "token-mean" else int(n > 0)

        ok = teacher_ok or [False] * len(samples)
        return Units(
            all=float(sum(count(s) for s in samples)),
            teacher=float(sum(count(s) for s, good in zip(samples, ok, strict=True) if good)),
        )


def pad_rows(rows: list[torch.Tensor], like: torch.Tensor) -> torch.Tensor:
    """List of 1-D tensors -> [B, T] zero-padded on the right, with the width, dtype and
    device of ``like`` ([B, T] log-probs)."""
    out = torch.zeros(len(rows), like.shape[1], dtype=like.dtype)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return out.to(like.device)


def _response_logits(m, b: Batch, temperature: float) -> torch.Tensor:
    """Full-vocabulary logits [B, T, V] on the response positions (divergence ablations)."""
    out = m(
        input_ids=b.input_ids, attention_mask=b.attention_mask, position_ids=b.position_ids
    ).logits
    t = b.response_mask.shape[1]
    logits = out[:, b.prompt_len - 1 : b.prompt_len - 1 + t]
    return logits.to(torch.promote_types(logits.dtype, torch.float32)) / temperature


def _weighted(term: torch.Tensor, mask: torch.Tensor, agg: str, total: float) -> torch.Tensor:
    """This micro-batch's share of a mini-batch aggregate (see the module docstring)."""
    if total <= 0:
        return torch.zeros((), device=term.device)
    return term * (algos.agg_units(mask, agg) / total)


def micro_loss(
    model,
    idx: list[int],
    inputs: UpdateInputs,
    method: Method,
    algo: AlgoConfig,
    units: Units,
    *,
    pad_id: int,
    device: torch.device,
    temperature: float,
    teacher_model=None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """This micro-batch's contribution to the mini-batch loss, and its metrics
    (per-micro-batch token means, weighted by the caller)."""
    samples = [inputs.samples[i] for i in idx]
    sc = inputs.scores
    agg = algo.loss_agg_mode
    batch = collate(
        [s.prompt_ids for s in samples], [s.response_ids for s in samples], pad_id, device
    )
    need_ent = algo.entropy_coef > 0 or algo.gate in algos.GATES_NEEDING_ENTROPY
    lp, ent = response_logprobs(model, batch, temperature=temperature, with_entropy=need_ent)
    mask = batch.response_mask.to(lp.dtype)
    if sc.old is None:  # one optimizer step: the old policy is this forward's
        old = lp.detach()
        if inputs.fused_old is not None:
            for j, i in enumerate(idx):
                n = len(samples[j].response_ids)
                inputs.fused_old[i] = old[j, :n].float().cpu()
    else:
        old = pad_rows([sc.old[i] for i in idx], lp)
    adv = inputs.advantages[idx].to(device)
    metrics: dict[str, torch.Tensor] = {}
    teacher = ok_mask = None
    if sc.teacher is not None:
        ok = torch.tensor([sc.teacher_ok[i] for i in idx], dtype=torch.bool, device=device)
        ok_mask = mask * ok[:, None].to(lp.dtype)
        # Where the teacher context was dropped, teacher := old gives a neutral RLSD weight.
        scored = pad_rows([sc.teacher[i] for i in idx], lp)
        teacher = torch.where(ok[:, None], scored, old)
    if method.rlsd:
        adv = algos.rlsd_advantages(
            adv, teacher, old, mask, lam=inputs.rlsd_lambda, clip=algo.rlsd_clip
        )
    loss = torch.zeros((), device=device)
    if method.pg:
        pg, m = algos.ppo_clip_loss(
            lp,
            old,
            adv,
            mask,
            clip_low=algo.clip_low,
            clip_high=algo.clip_high,
            dual_clip=algo.dual_clip,
            agg=agg,
        )
        loss = loss + _weighted(pg, mask, agg, units.all)
        metrics.update({f"actor/{k}": v for k, v in m.items()})
    if algo.kl_coef > 0 and sc.ref is not None:
        ref = pad_rows([sc.ref[i] for i in idx], lp)
        kl = algos.agg_loss(algos.kl_penalty(lp, ref, algo.kl_kind), mask, agg)
        loss = loss + algo.kl_coef * _weighted(kl, mask, agg, units.all)
        metrics["actor/kl"] = kl.detach()
    if ent is not None:
        ent_mean = algos.agg_loss(ent, mask, agg)
        loss = loss - algo.entropy_coef * _weighted(ent_mean, mask, agg, units.all)
        metrics["actor/entropy"] = ent_mean.detach()
    if method.distill == "sdar":
        ent_d = ent.detach() if ent is not None else None
        sd, m = algos.sdar_loss(
            lp, teacher, ok_mask, beta=algo.gate_beta, gate=algo.gate, entropy=ent_d, agg=agg
        )
        metrics.update({f"sdar/{k}": v for k, v in m.items()})
        if algo.divergence != "sampled":
            t_ctx = [sc.contexts[i] for i in idx]
            t_batch = collate(
                [c.prompt_ids or [pad_id] for c in t_ctx],
                [c.response_ids for c in t_ctx],
                pad_id,
                device,
            )
            # The same `sdar.algos` gate as the sampled-token term, on the same detached gap.
            gate_fn = algos.get_gate(algo.gate)
            gate = gate_fn((teacher - lp).detach(), ent_d, ok_mask, algo.gate_beta).detach()
            sd = _divergence_term(
                model, teacher_model, batch, t_batch, gate, ok_mask, algo, temperature
            )
            metrics["sdar/divergence"] = sd.detach()
        loss = loss + algo.sdar_coef * _weighted(sd, ok_mask, agg, units.teacher)
    elif method.distill == "skill_sd":
        sd, m = algos.skill_sd_loss(lp, old, teacher, ok_mask, agg=agg)
        loss = loss + algo.skill_sd_coef * _weighted(sd, ok_mask, agg, units.teacher)
        metrics.update({f"skill_sd/{k}": v for k, v in m.items()})
    metrics["actor/loss"] = loss.detach()
    return loss, metrics


def _divergence_term(
    model,
    teacher_model,
    batch: Batch,
    t_batch: Batch,
    gate: torch.Tensor,
    mask: torch.Tensor,
    algo: AlgoConfig,
    temperature: float,
) -> torch.Tensor:
    """Ablation: a full-distribution divergence, weighted by the detached SDAR gate."""
    with torch.no_grad():
        t_logits = _response_logits(teacher_model, t_batch, temperature)
    s_logits = _response_logits(model, batch, temperature)
    div = algos.distill_divergence(
        s_logits, t_logits, mask, algo.divergence, topk=algo.divergence_topk or None
    )
    return algos.agg_loss(gate * div, mask, algo.loss_agg_mode)


def mini_batches(
    inputs: UpdateInputs,
    optim: OptimConfig,
    generator: torch.Generator,
    dist: DistContext | None = None,
) -> list[list[int]]:
    """This rank's sample indices in each mini-batch: contiguous slices of the global batch
    (the authors' ``shuffle=False``) or of a seeded permutation (``optim.shuffle``).

    The global batch is every rank's samples in one canonical order, (group, trajectory,
    step), with ``pad_to`` copies last: the order one process holds them in (assign_scores
    lists them so). So the mini-batches, and with the global denominators the update, do
    not depend on the world size."""
    size = optim.mini_batch_size
    if dist is None or not dist.enabled:
        n = len(inputs.samples)
        order = torch.randperm(n, generator=generator).tolist() if optim.shuffle else range(n)
        order = list(order)
        return [order[i : i + size] for i in range(0, n, size)]
    seen: set[int] = set()
    keys = []
    for s in inputs.samples:
        keys.append((int(id(s) in seen), s.group, s.traj, s.step))
        seen.add(id(s))
    gathered = dist.all_gather_object(keys)
    flat = sorted((k, r, i) for r, ks in enumerate(gathered) for i, k in enumerate(ks))
    if optim.shuffle:
        flat = [flat[j] for j in torch.randperm(len(flat), generator=generator).tolist()]
    return [
        [i for _, r, i in flat[a : a + size] if r == dist.rank] for a in range(0, len(flat), size)
    ]


def _dummy_micro(model, pad_id: int, device: torch.device, extra_forwards: int) -> torch.Tensor:
    """A zero-weight micro-batch: the same forwards (and a backward) as a real one, so a
    rank with fewer micro-batches joins its sharded model's collectives."""
    ids = torch.full((1, 1), pad_id, dtype=torch.long, device=device)
    out = model(input_ids=ids).logits.float().sum() * 0.0
    with torch.no_grad():
        for _ in range(extra_forwards):
            model(input_ids=ids)
    return out


def update_policy(
    model,
    optimizer: torch.optim.Optimizer,
    scheduler,
    inputs: UpdateInputs,
    method: Method,
    algo: AlgoConfig,
    optim: OptimConfig,
    *,
    pad_id: int,
    device: torch.device,
    temperature: float,
    generator: torch.Generator,
    teacher_model=None,
    autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
    dist: DistContext | None = None,
) -> dict[str, float]:
    """One PPO epoch over the samples: mini-batches, accumulated micro-batches.

    Logged values are token-weighted means over each mini-batch (so they do not depend
    on the micro-batch size or the world size; a spread such as ``sdar/gap_std`` is the
    weighted mean of per-micro-batch spreads, so it does), then averaged over the
    mini-batches; ``actor/loss`` is the mini-batch loss itself (the sum of the micro-batch
    contributions).

    With ``dist`` (data parallel, sharded ``model``) each rank updates on its own samples
    of every global mini-batch: the denominators (`Units`) and the token weights are summed
    over ranks, the loss is multiplied by the world size (FSDP averages gradients over
    ranks), and every rank runs the same number of micro-batches.

    ``inputs.scores.old`` None (fused old log-probs) needs a single mini-batch; the
    update's detached log-probs then fill ``scores.old`` for the mismatch metric and the
    token records."""
    dist = dist or DistContext()
    model.train()
    sums: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    skipped = 0
    minis = mini_batches(inputs, optim, generator, dist)
    fused = inputs.scores.old is None
    if fused:
        if len(minis) > 1:
            raise ValueError(
                f"the old log-probs were left to the update, but the {len(inputs.samples)} "
                f"samples make {len(minis)} mini-batches of {optim.mini_batch_size}: after "
                "the first optimizer step the policy is no longer the old one; score them "
                "first (score_samples(need_old=True)) or raise optim.mini_batch_size"
            )
        inputs.fused_old = [None] * len(inputs.samples)
    ok = inputs.scores.teacher_ok if inputs.scores.teacher is not None else None
    extra = int(teacher_model is not None and method.distill == "sdar")
    for mini in minis:
        # Micro-batches of similar length waste less compute on padding; the mini-batch
        # denominators keep the weighting independent of this layout.
        ordered = sorted(
            mini,
            key=lambda i: len(inputs.samples[i].prompt_ids) + len(inputs.samples[i].response_ids),
        )
        local = Units.of(
            [inputs.samples[i] for i in ordered],
            [ok[i] for i in ordered] if ok is not None else None,
            algo.loss_agg_mode,
        )
        n_tokens = float(sum(len(inputs.samples[i].response_ids) for i in ordered))
        micros = [
            ordered[a : a + optim.micro_batch_size]
            for a in range(0, len(ordered), optim.micro_batch_size)
        ]
        total_all, total_teacher, tokens = dist.all_reduce([local.all, local.teacher, n_tokens])
        n_micro = dist.all_reduce([float(len(micros))], "max")[0]  # every rank runs as many
        units = Units(all=total_all, teacher=total_teacher)
        tokens = tokens or 1.0
        mini_metrics: dict[str, float] = defaultdict(float)
        optimizer.zero_grad(set_to_none=True)
        for k in range(int(n_micro)):
            with autocast():
                if k >= len(micros):
                    loss, metrics = _dummy_micro(model, pad_id, device, extra), {}
                else:
                    loss, metrics = micro_loss(
                        model,
                        micros[k],
                        inputs,
                        method,
                        algo,
                        units,
                        pad_id=pad_id,
                        device=device,
                        temperature=temperature,
                        teacher_model=teacher_model,
                    )
            (loss * dist.world if dist.enabled else loss).backward()
            if k < len(micros):
                share = sum(len(inputs.samples[i].response_ids) for i in micros[k]) / tokens
                for key, v in metrics.items():
                    # actor/loss: the micro-batch's share of the mini-batch loss, summed
                    mini_metrics[key] += float(v) * (1.0 if key == "actor/loss" else share)
        if dist.enabled:  # every rank's share of the token-weighted means
            merged: dict[str, float] = defaultdict(float)
            for part in dist.all_gather_object(dict(mini_metrics)):
                for key, v in part.items():
                    merged[key] += v
            mini_metrics = merged
        for key, v in mini_metrics.items():
            sums[key] += v
            counts[key] += 1
        params = [p for p in model.parameters() if p.requires_grad]
        norm = total_norm(torch.nn.utils.clip_grad_norm_(params, optim.grad_clip))
        if math.isfinite(norm):
            sums["actor/grad_norm"] += norm
            counts["actor/grad_norm"] += 1
            optimizer.step()
        else:
            skipped += 1
        if scheduler is not None:
            scheduler.step()
    if fused:
        inputs.scores.old = [
            lp if lp is not None else torch.zeros(0) for lp in inputs.fused_old or []
        ]
    out = {k: sums[k] / counts[k] for k in sums}
    out["actor/skipped_steps"] = float(skipped)
    out["actor/optimizer_steps"] = float(len(minis))
    out["actor/lr"] = optimizer.param_groups[0]["lr"]
    return out
