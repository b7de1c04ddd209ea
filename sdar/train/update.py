"""The actor update: mini-batches of step-samples, micro-batches with accumulation.

Per micro-batch (SDAR_SPEC section 2, token-mean over the micro-batch's valid tokens,
divided by the accumulation count):

    L = c_pg * L_PG + c_KL * L_KL - c_ent * H + L_extra

where L_extra is lambda * L_SDAR (sdar, opsd, grpo_opsd) or lambda_SD * L_SD (skill_sd),
and RLSD replaces the advantage by its token re-weighting instead of adding a term.
Gradients are clipped to ``grad_clip``; a step with a non-finite norm is skipped.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

import torch

from sdar import algos
from sdar.models.logprobs import Batch, collate, response_logprobs
from sdar.rollout.types import StepSample
from sdar.train.config import AlgoConfig, OptimConfig
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


def pad_rows(rows: list[torch.Tensor], width: int) -> torch.Tensor:
    """List of 1-D tensors -> [B, width], zero-padded on the right."""
    out = torch.zeros(len(rows), width)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r.float()
    return out


def _student_and_teacher_logits(
    model, batch: Batch, teacher_batch: Batch, temperature: float, teacher_model
) -> tuple[torch.Tensor, torch.Tensor]:
    """Full-vocabulary logits on the response positions, for the divergence ablations."""

    def logits(m, b: Batch) -> torch.Tensor:
        out = m(
            input_ids=b.input_ids, attention_mask=b.attention_mask, position_ids=b.position_ids
        ).logits
        t = b.response_mask.shape[1]
        return out[:, b.prompt_len - 1 : b.prompt_len - 1 + t].float() / temperature

    with torch.no_grad():
        t_logits = logits(teacher_model, teacher_batch)
    return logits(model, batch), t_logits


def micro_loss(
    model,
    idx: list[int],
    inputs: UpdateInputs,
    method: Method,
    algo: AlgoConfig,
    *,
    pad_id: int,
    device: torch.device,
    temperature: float,
    teacher_model=None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Loss of one micro-batch (before the accumulation scaling) and its metrics."""
    samples = [inputs.samples[i] for i in idx]
    sc = inputs.scores
    batch = collate(
        [s.prompt_ids for s in samples], [s.response_ids for s in samples], pad_id, device
    )
    need_ent = algo.entropy_coef > 0 or algo.gate in ("entropy", "soft_or")
    lp, ent = response_logprobs(model, batch, temperature=temperature, with_entropy=need_ent)
    width = lp.shape[1]
    mask = batch.response_mask.float()
    old = pad_rows([sc.old[i] for i in idx], width).to(device)
    adv = inputs.advantages[idx].to(device)
    metrics: dict[str, torch.Tensor] = {}
    teacher = ok_mask = None
    if sc.teacher is not None:
        ok = torch.tensor([sc.teacher_ok[i] for i in idx], dtype=torch.float32, device=device)
        ok_mask = mask * ok[:, None]
        # Where the teacher context was dropped, teacher := old gives a neutral RLSD weight.
        teacher = torch.stack(
            [
                t if good else o
                for t, o, good in zip(
                    pad_rows([sc.teacher[i] for i in idx], width).to(device),
                    old,
                    ok.bool(),
                    strict=True,
                )
            ]
        )
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
        )
        loss = loss + pg
        metrics.update({f"actor/{k}": v for k, v in m.items()})
    if algo.kl_coef > 0 and sc.ref is not None:
        ref = pad_rows([sc.ref[i] for i in idx], width).to(device)
        kl = algos.agg_loss(algos.kl_penalty(lp, ref, algo.kl_kind), mask)
        loss = loss + algo.kl_coef * kl
        metrics["actor/kl"] = kl.detach()
    if ent is not None:
        ent_mean = algos.agg_loss(ent, mask)
        loss = loss - algo.entropy_coef * ent_mean
        metrics["actor/entropy"] = ent_mean.detach()
    if method.distill == "sdar":
        ent_d = ent.detach() if ent is not None else None
        sd, m = algos.sdar_loss(
            lp, teacher, ok_mask, beta=algo.gate_beta, gate=algo.gate, entropy=ent_d
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
            gap = (teacher - lp).detach()
            gate = (
                torch.sigmoid(algo.gate_beta * gap) if algo.gate == "gap" else torch.ones_like(gap)
            )
            sd = _divergence_term(
                model, teacher_model, batch, t_batch, gate, ok_mask, algo, temperature
            )
            metrics["sdar/divergence"] = sd.detach()
        loss = loss + algo.sdar_coef * sd
    elif method.distill == "skill_sd":
        sd, m = algos.skill_sd_loss(lp, old, teacher, ok_mask)
        loss = loss + algo.skill_sd_coef * sd
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
    """Ablation: a full-distribution divergence, weighted by the same detached gap gate."""
    s_logits, t_logits = _student_and_teacher_logits(
        model, batch, t_batch, temperature, teacher_model
    )
    div = algos.distill_divergence(
        s_logits, t_logits, mask, algo.divergence, topk=algo.divergence_topk or None
    )
    return algos.agg_loss(gate * div, mask)


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
) -> dict[str, float]:
    """One PPO epoch over the samples: shuffled mini-batches, accumulated micro-batches."""
    model.train()
    n = len(inputs.samples)
    order = torch.randperm(n, generator=generator).tolist()
    sums: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    skipped = 0
    for start in range(0, n, optim.mini_batch_size):
        # Micro-batches of similar length waste less compute on padding.
        mini = sorted(
            order[start : start + optim.mini_batch_size],
            key=lambda i: len(inputs.samples[i].prompt_ids) + len(inputs.samples[i].response_ids),
        )
        micros = [
            mini[i : i + optim.micro_batch_size]
            for i in range(0, len(mini), optim.micro_batch_size)
        ]
        optimizer.zero_grad(set_to_none=True)
        for micro in micros:
            loss, metrics = micro_loss(
                model,
                micro,
                inputs,
                method,
                algo,
                pad_id=pad_id,
                device=device,
                temperature=temperature,
                teacher_model=teacher_model,
            )
            (loss / len(micros)).backward()
            for k, v in metrics.items():
                sums[k] += float(v)
                counts[k] += 1
        params = [p for p in model.parameters() if p.requires_grad]
        norm = float(torch.nn.utils.clip_grad_norm_(params, optim.grad_clip))
        if math.isfinite(norm):
            sums["actor/grad_norm"] += norm
            counts["actor/grad_norm"] += 1
            optimizer.step()
        else:
            skipped += 1
        if scheduler is not None:
            scheduler.step()
    out = {k: sums[k] / counts[k] for k in sums}
    out["actor/skipped_steps"] = float(skipped)
    out["actor/optimizer_steps"] = float(math.ceil(n / optim.mini_batch_size))
    out["actor/lr"] = optimizer.param_groups[0]["lr"]
    return out
