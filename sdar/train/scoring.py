"""Scoring passes without gradient: old, reference and teacher log-probs.

All passes score the exact sampled response ids, in length-sorted micro-batches under a
token budget (`sdar.models.logprobs.score`). The teacher scores them after the
privileged context built by `sdar.rollout.teacher.build_teacher_context`; with
``teacher_prefix_cache`` its prompts are grouped by shared token prefix (the privileged
block under placement prefix) and each prefix runs once (`sdar.models.prefix`).

``need_old=False`` skips the old pass: when the step's samples make one optimizer step,
the old log-probs equal the update's own forward before that step, so the update takes
them from it, detached (``optim.fuse_old_logprobs``; TRL does the same with one
iteration), and one forward over every sample is saved.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from sdar.envs.base import EnvSpec
from sdar.models.logprobs import score
from sdar.models.prefix import score_grouped
from sdar.rollout.runner import render_messages
from sdar.rollout.teacher import TeacherContext, build_teacher_context, teacher_stats
from sdar.rollout.types import StepSample
from sdar.train.policy import PolicyBundle


@dataclass
class Scores:
    old: list[torch.Tensor] | None
    """None when the update supplies them (``need_old=False``): `update_policy` fills it
    with its own forward, detached."""
    entropy: list[torch.Tensor] | None
    ref: list[torch.Tensor] | None
    teacher: list[torch.Tensor] | None
    teacher_ok: list[bool] | None
    """False where the teacher context could not fit: no distillation on that sample."""
    contexts: list[TeacherContext] | None
    metrics: dict[str, float]


def teacher_contexts(
    samples: list[StepSample],
    policy: PolicyBundle,
    spec: EnvSpec,
    *,
    history_length: int,
    think: bool,
    placement: str,
    max_prompt_tokens: int,
    truncation: str = "history",
) -> list[TeacherContext]:
    """Teacher inputs: the student's step messages + privileged text + the same ids."""
    out = []
    for s in samples:

        def render(k: int, s: StepSample = s) -> list[dict[str, str]]:
            return render_messages(spec, s.state, k, think)

        out.append(
            build_teacher_context(
                policy.tokenizer,
                render,
                min(history_length, len(s.state.history)),
                s.privileged,
                s.response_ids,
                placement=placement,
                max_prompt_tokens=max_prompt_tokens,
                chat_template_kwargs=policy.chat_template_kwargs,
                truncation=truncation,
            )
        )
    return out


@torch.no_grad()
def score_samples(
    samples: list[StepSample],
    policy: PolicyBundle,
    spec: EnvSpec,
    *,
    need_ref: bool,
    need_teacher: bool,
    teacher_kind: str,
    need_old: bool = True,
    teacher_placement: str,
    teacher_max_prompt_tokens: int,
    teacher_truncation: str = "history",
    teacher_prefix_cache: bool = True,
    history_length: int,
    think: bool,
    temperature: float,
    token_budget: int,
    sync: Callable[[Any], None] | None = None,
) -> Scores:
    prompts = [s.prompt_ids for s in samples]
    responses = [s.response_ids for s in samples]
    kw = dict(
        pad_id=policy.pad_id,
        token_budget=token_budget,
        temperature=temperature,
        device=policy.device,
    )
    sync = sync or (lambda model: None)
    policy.model.eval()
    with policy.autocast():  # the same compute precision as the update's forward
        old = entropy = None
        if need_old:
            old, entropy = score(policy.model, prompts, responses, with_entropy=True, **kw)
            sync(policy.model)
        ref = None
        if need_ref:
            with policy.as_reference() as ref_model:
                ref, _ = score(ref_model, prompts, responses, **kw)
                sync(ref_model)
        teacher, ok, contexts, metrics = None, None, None, {}
        if need_teacher:
            contexts = teacher_contexts(
                samples,
                policy,
                spec,
                history_length=history_length,
                think=think,
                placement=teacher_placement,
                max_prompt_tokens=teacher_max_prompt_tokens,
                truncation=teacher_truncation,
            )
            ok = [not c.dropped for c in contexts]
            keep = [i for i, good in enumerate(ok) if good]
            teacher = [torch.zeros(len(r)) for r in responses]
            cached_ratio = 0.0
            t_prompts = [contexts[i].prompt_ids for i in keep]
            t_responses = [contexts[i].response_ids for i in keep]
            scored = []
            with policy.as_teacher(teacher_kind) as t_model:
                if keep and teacher_prefix_cache:
                    scored, _, cached_ratio = score_grouped(t_model, t_prompts, t_responses, **kw)
                elif keep:
                    scored, _ = score(t_model, t_prompts, t_responses, **kw)
                sync(t_model)
            for i, lp in zip(keep, scored, strict=True):
                teacher[i] = lp
            metrics = teacher_stats(contexts)
            metrics["teacher/prefix_cached_ratio"] = cached_ratio
    return Scores(old, entropy, ref, teacher, ok, contexts, metrics)


def score_for_config(
    samples: list[StepSample],
    policy: PolicyBundle,
    spec: EnvSpec,
    cfg: Any,
    needs_teacher: bool,
    sync: Callable[[Any], None] | None = None,
    need_old: bool = True,
) -> Scores:
    """`score_samples` with every option taken from a run's `Config`."""
    return score_samples(
        samples,
        policy,
        spec,
        need_old=need_old,
        need_ref=cfg.algo.kl_coef > 0,
        need_teacher=needs_teacher,
        teacher_kind=cfg.teacher.kind,
        teacher_placement=cfg.teacher.placement,
        teacher_max_prompt_tokens=cfg.teacher.max_prompt_tokens,
        teacher_truncation=cfg.teacher.truncation,
        teacher_prefix_cache=cfg.teacher.prefix_cache,
        history_length=cfg.env.history_length,
        think=cfg.env.think,
        temperature=cfg.rollout.temperature,
        token_budget=cfg.optim.score_token_budget,
        sync=sync,
    )
