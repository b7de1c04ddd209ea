"""The training loop, as a dataflow of named stages (SDAR_SPEC 1.5):

    rollout -> rewards and advantages -> scoring (old, ref, teacher) -> update -> log

Each stage is a method of `Trainer` run under one timer (``time/<stage>`` in the logs).

Each stage takes this rank's shard (`sdar.train.dist`, docs/scaling.md): the rollout plays
``tasks[rank::world]`` (whole GRPO groups, so group statistics never cross ranks), every
slot samples with its own seed (seed, step, group, index in the group), the update takes
this rank's part of every global mini-batch with global denominators, and the logged
metrics are reduced over ranks; only the main rank writes run files. So the same config
and seed give the same run on 1 or N processes, and a resumed run repeats the
uninterrupted one.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml

from sdar import algos
from sdar.envs.base import EnvSpec
from sdar.envs.play import play
from sdar.models.engine import check_logprob_gap, hf_weights, logprob_mismatch
from sdar.models.load import has_dropout
from sdar.rollout.runner import run_episodes
from sdar.rollout.types import StepSample, Trajectory
from sdar.skills.bank import GENERAL
from sdar.train import checkpoint as ckpt
from sdar.train.analyze import RECORDS, seen_hashes, token_record
from sdar.train.config import Config, config_to_dict
from sdar.train.dist import DistContext, full_state_dict, shard_model
from sdar.train.engines import make_engine
from sdar.train.evaluate import panel_evaluation
from sdar.train.methods import get_method
from sdar.train.plots import plot_run
from sdar.train.scoring import Scores, score_for_config
from sdar.train.seeding import derive_seed, make_generator
from sdar.train.setup import (
    PrivilegedContext,
    Progress,
    base_model_path,
    build_base_model,
    build_retriever,
    env_parts,
    make_policy,
    make_venv,
    rollout_settings,
)
from sdar.train.sinks import make_sinks
from sdar.train.update import UpdateInputs, update_policy

logger = logging.getLogger(__name__)


def assign_scores(
    trajs: list[Trajectory], spec: EnvSpec, success_reward: float, invalid_penalty: float
) -> list[StepSample]:
    """Episode reward R (the env's rule, SDAR_SPEC 1.3) on every step, minus the per-step
    invalid-action penalty."""
    samples = []
    for t in trajs:
        episode = spec.episode_reward(t.info, success_reward)
        for s in t.samples:
            s.score = episode - invalid_penalty * float(not s.valid)
            samples.append(s)
    return samples


def pad_samples(
    samples: list[StepSample], multiple: int, generator: torch.Generator
) -> list[StepSample]:
    """The authors' ``adjust_batch`` (mode copy): append randomly chosen samples until the
    count divides ``multiple``. The copies enter the GRPO statistics and the loss."""
    short = -len(samples) % multiple
    if not samples or not short:
        return samples
    picks = torch.randint(len(samples), (short,), generator=generator).tolist()
    return samples + [samples[i] for i in picks]


def compute_advantages(
    samples: list[StepSample], trajs: list[Trajectory], mode: str, norm_by_std: bool
) -> torch.Tensor:
    """GRPO advantages [N]: over all step-samples of a group (``step``, the authors' code)
    or over the group's trajectories, broadcast to their steps (``trajectory``).

    An episode ended by an env worker failure (``Trajectory.error``: a crash, a hang, a
    skipped reset) has no outcome, only a cut: it stays out of its group's mean and std,
    and its samples get A = 0 (each is a group of its own)."""
    failed = {t.traj for t in trajs if t.error is not None}
    if mode == "step":
        rewards = torch.tensor([s.score for s in samples], dtype=torch.float32)
        groups = [("failed", i) if s.traj in failed else s.group for i, s in enumerate(samples)]
        return algos.grpo_advantages(rewards, groups, norm_by_std=norm_by_std)
    means = torch.tensor([sum(s.score for s in t.samples) / max(t.length, 1) for t in trajs])
    groups = [("failed", t.traj) if t.traj in failed else t.group for t in trajs]
    per_traj = algos.grpo_advantages(means, groups, norm_by_std=norm_by_std)
    by_traj = {t.traj: per_traj[i] for i, t in enumerate(trajs)}
    return torch.stack([by_traj[s.traj] for s in samples])


def rollout_metrics(
    trajs: list[Trajectory], spec: EnvSpec, success_reward: float
) -> dict[str, float]:
    n = max(len(trajs), 1)
    out = {
        "rollout/reward": sum(spec.episode_reward(t.info, success_reward) for t in trajs) / n,
        "rollout/success": sum(t.won for t in trajs) / n,
        "rollout/episode_length": sum(t.length for t in trajs) / n,
        "rollout/valid_ratio": sum(t.valid_ratio for t in trajs) / n,
        "rollout/worker_errors": float(sum(t.error is not None for t in trajs)),
    }
    for key in spec.episode_metrics:
        out[f"rollout/{key}"] = sum(float(t.info.get(key, 0.0)) for t in trajs) / n
    return out


_SUMMED = frozenset(
    {
        "rollout/worker_errors",
        "rollout/samples",
        "rollout/tokens_generated",
        "rollout/prompt_truncated",
    }
)
_PER_SAMPLE = frozenset({"rollout/advantage_abs_mean", "rollout/logprob_mismatch_mean"})


def reduce_metrics(parts: list[tuple[dict[str, Any], dict[str, int]]]) -> dict[str, Any]:
    """One step's metrics from every rank's ``(metrics, {"trajs": n, "samples": n})``.

    Counts are summed; episode means (``rollout/*``) are weighted by trajectories and
    per-sample means (``teacher/*``, advantages, the log-prob mismatch) by samples; maxima
    and ``time/*`` take the maximum. The update's metrics (``actor/*``, ``sdar/*``, ...) are
    already global (`update_policy` reduces them), as are ``step`` and schedules: rank 0's.
    """
    out = dict(parts[0][0])
    for key in out:
        vals = [(float(m.get(key, 0.0)), w) for m, w in parts]
        if key in _SUMMED:
            out[key] = sum(v for v, _ in vals)
        elif key.startswith("time/") or key.endswith("_max"):
            out[key] = max(v for v, _ in vals)
        elif key in _PER_SAMPLE or key.startswith("teacher/"):
            n = sum(w["samples"] for _, w in vals)
            out[key] = sum(v * w["samples"] for v, w in vals) / n if n else 0.0
        elif key.startswith("rollout/"):
            n = sum(w["trajs"] for _, w in vals)
            out[key] = sum(v * w["trajs"] for v, w in vals) / n if n else 0.0
    return out


@contextlib.contextmanager
def timed(timings: dict[str, float], name: str) -> Iterator[None]:
    """Record the wall time of the block as ``time/<name>`` (seconds)."""
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[f"time/{name}"] = time.perf_counter() - start


@dataclass
class Rollout:
    """What the rollout stage hands to the later stages of one training step."""

    trajs: list[Trajectory]
    privileged: PrivilegedContext
    stats: dict[str, float]


class Trainer:
    """Owns one run directory; `run()` trains from scratch or resumes it."""

    def __init__(
        self,
        cfg: Config,
        run_dir: Path,
        *,
        dist: DistContext | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.cfg, self.run_dir = cfg, Path(run_dir)
        self.dist = dist or DistContext()
        self.rank, self.world_size = self.dist.rank, self.dist.world
        self.progress = progress if self.dist.is_main else None
        self.method = get_method(cfg.algo.method)
        self.spec, self.options = env_parts(cfg)
        self.success_reward = (
            cfg.algo.success_reward
            if cfg.algo.success_reward is not None
            else self.spec.success_reward
        )
        self.invalid_penalty = (
            cfg.algo.invalid_penalty
            if cfg.algo.invalid_penalty is not None
            else self.spec.invalid_penalty
        )
        self.retriever = build_retriever(cfg, self.spec, derive_seed(cfg.run.seed, "skills"))
        self.sinks: list[Any] = []
        self._privileged_seen: set[str] = set()  # token_records.jsonl's stored texts

    # -- set-up -------------------------------------------------------------------------
    def _prepare(self, resume: bool) -> int:
        """Build the policy and optimizer; returns the first step to run."""
        cfg, run_dir = self.cfg, self.run_dir
        dist = self.dist
        if dist.is_main:
            run_dir.mkdir(parents=True, exist_ok=True)
            config_text = yaml.safe_dump(config_to_dict(cfg), sort_keys=False)
            (run_dir / "config.yaml").write_text(config_text)
        latest = ckpt.latest_checkpoint(run_dir) if resume and dist.is_main else None
        latest = dist.broadcast_object(latest)
        # base_model/ appears only once the warm start has finished (build_base_model
        # renames it into place), so a kill during SFT makes the resumed run redo it.
        # Data parallel: the main rank builds it, the others load it from there.
        have_base = (run_dir / "base_model" / "config.json").is_file()
        model = tokenizer = None
        if not have_base and (cfg.model.name == "tiny" or cfg.sft.episodes) and dist.is_main:
            model, tokenizer, losses = build_base_model(
                cfg, self.spec, self.options, run_dir, self.retriever, self.progress
            )
            self.sft_losses = losses
        dist.barrier()
        self.policy = make_policy(cfg, run_dir, model, tokenizer)
        if cfg.algo.kl_coef > 0 or cfg.teacher.kind == "frozen":
            self._make_reference()
        # The rollout engine, built once from the unsharded weights; synced before every
        # rollout and evaluation (data parallel: from the gathered shards).
        self.engine = make_engine(cfg, self.policy, run_dir, copy=dist.enabled)
        if dist.enabled:
            shard_model(self.policy.model, dist, self.policy.compute_dtype)
            if self.policy.reference is not None:
                shard_model(self.policy.reference, dist, self.policy.compute_dtype)
        params = [p for p in self.policy.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(
            params, lr=cfg.optim.lr, betas=cfg.optim.betas, weight_decay=cfg.optim.weight_decay
        )
        warmup = max(int(cfg.optim.warmup_ratio * cfg.run.steps), 0)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda i: min(1.0, (i + 1) / warmup) if warmup else 1.0
        )
        done = 0
        if cfg.teacher.kind == "ema":
            self.policy.init_ema()  # the starting weights; a checkpoint's EMA replaces them
        if latest is None:
            pass
        elif dist.enabled:
            state = ckpt.load_sharded(latest, self.policy, self.optimizer, dist.rank)
            done = self._restore(state)
        else:
            if (latest / "dcp").is_dir():
                raise ValueError(
                    f"{latest} is a sharded checkpoint of a torchrun run; resume it under "
                    "torchrun (any number of processes, --nproc_per_node 1 too): torchrun "
                    f"--standalone --nproc_per_node N -m sdar train --resume {self.run_dir}"
                )
            ckpt.load_policy_weights(self.policy.model, latest)
            state = ckpt.load_state(latest)
            self.optimizer.load_state_dict(state["optimizer"])
            self.policy.ema = state.get("ema")
            done = self._restore(state)
        self._dropout = has_dropout(self.policy.model)
        self._weights_version = 0
        self._engine_version = 0 if latest is None else -1  # resumed: sync before sampling
        # Cut the logs back to the restart point in every case (also with no checkpoint:
        # a run killed before its first one restarts at step 1, after the step-0 eval).
        if dist.is_main:
            for name in ("metrics.jsonl", "trajectories.jsonl", "evals.jsonl", RECORDS):
                ckpt.truncate_jsonl(run_dir / name, done)
            self._privileged_seen = seen_hashes(run_dir / RECORDS)
        dist.barrier()
        if resume:
            logger.info("resuming %s after step %d", run_dir, done)
        return done + 1

    def _make_reference(self) -> None:
        """The KL reference: a frozen copy of the starting weights (LoRA: the adapters
        disabled). Data parallel: loaded from the base model, to be sharded like the policy."""
        policy = self.policy
        if not self.dist.enabled or policy.lora:
            policy.ensure_reference()
            return
        from sdar.models.load import load_policy

        dtype = str(policy.compute_dtype).replace("torch.", "")
        ref, _ = load_policy(
            base_model_path(self.cfg, self.run_dir), device=str(policy.device), dtype=dtype
        )
        ref.requires_grad_(False)
        policy.reference = ref.eval()

    def _restore(self, state: dict[str, Any]) -> int:
        """The run state every rank shares; returns the step it was saved at."""
        self.scheduler.load_state_dict(state["scheduler"])
        self.retriever.load_state_dict(state["retriever"])
        return int(state["step"])

    def _save(self, step: int) -> None:
        state = {
            "scheduler": self.scheduler.state_dict(),
            "retriever": self.retriever.state_dict(),
        }
        if self.dist.enabled:
            ckpt.save_sharded(self.run_dir, step, self.policy, self.optimizer, state, self.dist)
            return
        state.update(optimizer=self.optimizer.state_dict(), ema=self.policy.ema)
        ckpt.save_checkpoint(self.run_dir, step, self.policy.model, self.policy.tokenizer, state)

    # -- stages ---------------------------------------------------------------------------
    def _tasks(self, step: int) -> list:
        cfg = self.cfg
        n = cfg.rollout.tasks_per_step
        tasks = self.spec.train_tasks(self.options, derive_seed(cfg.run.seed, step, "tasks"), n)
        return tasks[self.rank :: self.world_size]

    def train_step(self, step: int, venv: Any) -> tuple[dict[str, float], list[Trajectory]]:
        """One step as a dataflow: rollout -> rewards and advantages -> scoring -> update."""
        timings: dict[str, float] = {}
        cuda = self.policy.device.type == "cuda"
        if cuda:
            torch.cuda.reset_peak_memory_stats(self.policy.device)
        with timed(timings, "step"):
            with timed(timings, "rollout"):
                rollout = self._rollout(step, venv)
            with timed(timings, "advantages"):
                samples, adv = self._advantages(step, rollout.trajs)
            fuse = self._fuse_old(samples)
            with timed(timings, "score"):
                scores = self._score(samples, need_old=not fuse)
                if not fuse:
                    gap = self._logprob_mismatch(samples, scores)
                    self._record_tokens(step, samples, scores)
            with timed(timings, "update"):
                lam = self._rlsd_lambda(step)
                upd = self._update(step, UpdateInputs(samples, scores, adv, lam))
                self._weights_version += 1
                self._update_bandit(rollout.privileged, rollout.trajs)
            if fuse:  # the update filled scores.old with its own forward
                gap = self._logprob_mismatch(samples, scores)
                self._record_tokens(step, samples, scores)
        metrics = {
            "step": step,
            **rollout_metrics(rollout.trajs, self.spec, self.success_reward),
            **upd,
            **scores.metrics,
            **gap,
            **timings,
            "rollout/samples": float(len(samples)),
            "rollout/tokens_generated": float(rollout.stats["tokens_generated"]),
            "rollout/prompt_truncated": float(rollout.stats["prompt_truncated"]),
            "rollout/advantage_abs_mean": float(adv.abs().mean()) if len(adv) else 0.0,
        }
        if self.method.rlsd:
            metrics["rlsd/lambda"] = lam
        if cuda:  # this process's peak over the step (all phases, the engine's copy included)
            metrics["memory/peak_gib_max"] = (
                torch.cuda.max_memory_allocated(self.policy.device) / 2**30
            )
        if self.dist.enabled:
            weights = {"trajs": len(rollout.trajs), "samples": len(samples)}
            metrics = reduce_metrics(self.dist.all_gather_object((metrics, weights)))
        return metrics, rollout.trajs

    def _rollout(self, step: int, venv: Any) -> Rollout:
        """Play this rank's groups: G slots per task, sampled on the policy's device."""
        cfg, policy = self.cfg, self.policy
        tasks = self._tasks(step)
        g = cfg.rollout.group_size
        slot_tasks = [t for t in tasks for _ in range(g)]
        # global group ids: this rank holds tasks rank, rank + world, ...
        groups = [self.rank + i * self.world_size for i in range(len(tasks)) for _ in range(g)]
        # one sampling seed per slot, whatever the world size (docs/scaling.md)
        slot_seeds = [
            derive_seed(cfg.run.seed, step, "sample", group, j % g)
            for j, group in enumerate(groups)
        ]
        privileged = PrivilegedContext(
            cfg,
            self.retriever,
            step,
            groups,
            active=self.method.needs_teacher or self.method.student_skills,
        )
        settings = rollout_settings(cfg, self.spec, self.method, policy.chat_template_kwargs)
        gen = make_generator(derive_seed(cfg.run.seed, step, "rollout", self.rank), policy.device)
        policy.model.eval()
        self._sync_engine()
        trajs, stats = run_episodes(
            self.engine,
            policy.tokenizer,
            venv,
            self.spec,
            slot_tasks,
            groups,
            privileged,
            settings,
            gen,
            on_turn=self._turn_callback("rollout"),
            slot_seeds=slot_seeds,
        )
        self.engine.sleep()
        return Rollout(trajs, privileged, stats)

    def _sync_engine(self) -> None:
        """Hand the engine the current weights (HF names, LoRA merged) if it lacks them."""
        if self._engine_version != self._weights_version:
            model = self.policy.model  # sharded: every rank gathers the full weights
            state = full_state_dict(model) if self.dist.enabled else None
            self.engine.load_weights(hf_weights(model, state))
            self._engine_version = self._weights_version

    def _logprob_mismatch(self, samples: list[StepSample], scores: Scores) -> dict[str, float]:
        """|sampler - trainer| log-prob of the sampled tokens (the rollout ran right after a
        weight sync); stops the run past ``rollout.max_logprob_gap``."""
        mean, worst = logprob_mismatch([s.sample_logprobs for s in samples], scores.old)
        check_logprob_gap(mean, self.cfg.rollout.max_logprob_gap, self.cfg.rollout.engine)
        return {"rollout/logprob_mismatch_mean": mean, "rollout/logprob_mismatch_max": worst}

    def _advantages(
        self, step: int, trajs: list[Trajectory]
    ) -> tuple[list[StepSample], torch.Tensor]:
        cfg = self.cfg
        samples = assign_scores(trajs, self.spec, self.success_reward, self.invalid_penalty)
        if cfg.optim.pad_to:  # data parallel: each rank pads its share of the multiple
            pad_gen = make_generator(derive_seed(cfg.run.seed, step, "pad", self.rank))
            multiple = -(-cfg.optim.pad_to // self.world_size)
            samples = pad_samples(samples, multiple, pad_gen)
        adv = compute_advantages(samples, trajs, cfg.algo.adv_stats, cfg.algo.adv_norm_by_std)
        return samples, adv

    def _fuse_old(self, samples: list[StepSample]) -> bool:
        """``optim.fuse_old_logprobs`` and the step's samples (over every rank) make one
        optimizer step: the update then supplies the old log-probs (`sdar.train.scoring`)."""
        if not self.cfg.optim.fuse_old_logprobs or self._dropout:
            return False
        total = self.dist.all_reduce([float(len(samples))])[0]
        return total <= self.cfg.optim.mini_batch_size

    def _score(self, samples: list[StepSample], need_old: bool = True) -> Scores:
        """Old (unless the update supplies them), reference and teacher log-probs of the
        sampled ids, without gradient."""
        sync = self._pad_forwards if self.dist.enabled else None
        return score_for_config(
            samples,
            self.policy,
            self.spec,
            self.cfg,
            self.method.needs_teacher,
            sync,
            need_old=need_old,
        )

    def _record_tokens(self, step: int, samples: list[StepSample], scores: Scores) -> None:
        """``run.token_records``: per-token teacher-student gaps of a seeded share of this
        step's samples (those the teacher scored; pad copies once) to token_records.jsonl,
        each privileged text stored once per run (`sdar.train.analyze`). Main rank only."""
        share = self.cfg.run.token_records
        if not share or not self.dist.is_main or scores.teacher is None:
            return
        first: dict[int, int] = {}
        for i, s in enumerate(samples):
            first.setdefault(id(s), i)
        ok = scores.teacher_ok or [True] * len(samples)
        pool = [i for i in first.values() if ok[i]]
        if not pool:
            return
        gen = make_generator(derive_seed(self.cfg.run.seed, step, "token_records"))
        k = min(len(pool), max(1, math.ceil(share * len(pool))))
        picks = sorted(pool[j] for j in torch.randperm(len(pool), generator=gen)[:k].tolist())
        for i in picks:
            s, ctx = samples[i], scores.contexts[i] if scores.contexts else None
            record = token_record(
                step=step,
                group=s.group,
                traj=s.traj,
                turn=s.step,
                task_type=s.task.task_type,
                valid=s.valid,
                score=s.score,
                gaps=(scores.teacher[i].float().cpu() - scores.old[i].float().cpu()).tolist(),
                privileged=s.privileged,
                teacher_prompt_tokens=len(ctx.prompt_ids) if ctx else 0,
                skill_tokens=ctx.skill_tokens if ctx else 0,
                seen=self._privileged_seen,
            )
            ckpt.append_jsonl(self.run_dir / RECORDS, record)

    def _pad_forwards(self, model: Any) -> None:
        self.dist.pad_forwards(model, self.policy.pad_id, self.policy.autocast)

    def _rlsd_lambda(self, step: int) -> float:
        """RLSD's λ_k with k the training step counted from 1, as the authors' global_steps."""
        if not self.method.rlsd:
            return 0.0
        a = self.cfg.algo
        return algos.rlsd_lambda(step, lam0=a.rlsd_lambda0, decay_steps=a.rlsd_decay_steps)

    def _update(self, step: int, inputs: UpdateInputs) -> dict[str, float]:
        cfg, policy = self.cfg, self.policy
        # Divergence ablations need full teacher logits in the update; the live teacher is
        # the policy itself, scored without gradient (config requires teacher.kind=live).
        upd = update_policy(
            policy.model,
            self.optimizer,
            self.scheduler,
            inputs,
            self.method,
            cfg.algo,
            cfg.optim,
            pad_id=policy.pad_id,
            device=policy.device,
            temperature=cfg.rollout.temperature,
            generator=make_generator(derive_seed(cfg.run.seed, step, "update")),
            teacher_model=policy.model if cfg.algo.divergence != "sampled" else None,
            autocast=policy.autocast,
            dist=self.dist,
        )
        if cfg.teacher.kind == "ema":
            policy.update_ema()
        return upd

    def _turn_callback(self, phase: str) -> Callable[[int, int], None] | None:
        if self.progress is None:
            return None
        progress = self.progress
        return lambda turn, active: progress(phase, turn, 0, {"active": active})

    def _update_bandit(self, privileged: PrivilegedContext, trajs: list[Trajectory]) -> None:
        """Feed each group's rewards to the skill bandit; data parallel: every rank applies
        every rank's groups, in group order, so all ranks hold the same bandit."""
        by_group: dict[int, list[float]] = {}
        types: dict[int, str] = {}
        for t in trajs:
            reward = self.spec.episode_reward(t.info, self.success_reward)
            by_group.setdefault(t.group, []).append(reward)
            types[t.group] = t.task.task_type
        updates = [
            (group, types[group], tuple(privileged.by_group.get(group, ("", ()))[1]), rewards)
            for group, rewards in by_group.items()
        ]
        if self.dist.enabled:
            updates = sorted(u for part in self.dist.all_gather_object(updates) for u in part)
        for _, task_type, skills, rewards in updates:
            for skill in skills:
                if skill != GENERAL:  # always given, so no arm of the bandit
                    self.retriever.update(task_type, skill, rewards)

    # -- evaluation and logging -------------------------------------------------------------
    def evaluate(self, step: int, eval_venv: Any, with_skills: bool = False) -> dict[str, Any]:
        """The fixed panel with the rollout engine; data parallel: on the main rank only
        (the engine holds full weights, so no other rank is needed), the others return {}."""
        self._sync_engine()
        if not self.dist.is_main:
            return {}
        summary = panel_evaluation(
            self.cfg,
            self.spec,
            self.options,
            self.policy,
            self.retriever,
            eval_venv,
            with_skills=with_skills,
            on_turn=self._turn_callback("eval"),
            engine=self.engine,
        )
        self.engine.sleep()
        summary.update(step=step, with_skills=with_skills)
        ckpt.append_jsonl(self.run_dir / "evals.jsonl", summary)
        return summary

    def _eval_all(self, step: int, eval_venv: Any) -> dict[str, Any]:
        out = {
            "default": self.evaluate(
                step, eval_venv, with_skills=self.method.student_skills and not self.method.trains
            )
        }
        with_skills = self.cfg.eval.with_skills
        if with_skills is None:
            with_skills = self.method.name == "skill_grpo"
        if with_skills:
            out["with_skills"] = self.evaluate(step, eval_venv, with_skills=True)
        return out

    def _log(self, metrics: dict[str, Any], trajs: list[Trajectory]) -> None:
        if not self.dist.is_main:
            return
        ckpt.append_jsonl(self.run_dir / "metrics.jsonl", metrics)
        for sink in self.sinks:
            sink(metrics)
        keep = trajs[: self.cfg.run.keep_trajectories]
        tok = self.policy.tokenizer
        for t in keep:
            record = {
                "step": metrics["step"],
                "task_id": t.task.task_id,
                "task_type": t.task.task_type,
                "won": t.won,
                "error": t.error,
                "turns": [
                    {
                        "prompt": tok.decode(s.prompt_ids),
                        "response": s.text,
                        "action": s.action,
                        "valid": s.valid,
                        "score": s.score,
                    }
                    for s in t.samples
                ],
            }
            ckpt.append_jsonl(self.run_dir / "trajectories.jsonl", record)

    def _earlier_evals(self) -> list[dict[str, Any]]:
        path = self.run_dir / "evals.jsonl"
        if not path.is_file():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    # -- the run ---------------------------------------------------------------------------
    def run(self, resume: bool = False) -> dict[str, Any]:
        cfg = self.cfg
        start_time = time.time()
        first = self._prepare(resume)
        main = self.dist.is_main
        n_slots = (len(self._tasks(1)) or 1) * cfg.rollout.group_size
        venv = make_venv(cfg, self.spec, self.options, n_slots)
        eval_venv = make_venv(cfg, self.spec, self.options, cfg.eval.episodes) if main else None
        self.sinks, closers = (
            make_sinks(cfg.run.logger, self.run_dir, config_to_dict(cfg)) if main else ([], [])
        )
        try:
            earlier = [e for e in self._earlier_evals() if e["step"] == 0] if main else []
            earlier = self.dist.broadcast_object(earlier)
            before = earlier[0] if earlier else self._eval_all(0, eval_venv)["default"]
            last_eval = before
            for step in range(first, cfg.run.steps + 1):
                metrics, trajs = self.train_step(step, venv)
                self._log(metrics, trajs)
                if self.progress:
                    self.progress("step", step, cfg.run.steps, metrics)
                if cfg.eval.every and step % cfg.eval.every == 0 and step != cfg.run.steps:
                    last_eval = self._eval_all(step, eval_venv)["default"]
                if step % cfg.run.save_every == 0 or step == cfg.run.steps:
                    self._save(step)
            if cfg.run.steps == 0:  # a warm start only (`sdar sft`): nothing changed since
                evals = {"default": before}
            elif first <= cfg.run.steps or last_eval is before:
                evals = self._eval_all(cfg.run.steps, eval_venv)
            else:  # resuming a run that had already finished: report its last evaluation
                evals = {"default": self._earlier_evals()[-1] if main else {}}
        finally:
            venv.close()
            if eval_venv is not None:
                eval_venv.close()
            for close in closers:
                close()
        if not main:
            return {}
        summary = self._summary(before, evals, time.time() - start_time)
        plot_run(self.run_dir)
        return summary

    def _panel_reference(self, pick: tuple[str, ...]) -> dict[str, Any]:
        """The scripted agents of ``eval.reference_agents`` on the evaluation panel."""
        out = {}
        for agent in self.cfg.eval.reference_agents:
            r = play(
                self.spec.name,
                agent,
                self.cfg.eval.episodes,
                options=self.options,
                seed=self.cfg.run.seed,
                reset_timeout=self.cfg.env.reset_timeout,
            )
            out[agent] = {k: r[k] for k in pick if k in r}
        return out

    def _summary(
        self, before: dict[str, Any], evals: dict[str, Any], wall: float
    ) -> dict[str, Any]:
        path = self.run_dir / "metrics.jsonl"
        rows = [json.loads(x) for x in path.read_text().splitlines()] if path.is_file() else []
        pick = (
            "success",
            "per_task_type",
            "episodes",
            "per_task_type_episodes",
            "mean_length",
            "valid_ratio",
        )
        summary = {
            "method": self.method.name,
            "env": self.spec.name,
            "run_dir": str(self.run_dir),
            "panel_hash": before.get("panel_hash"),
            "steps": self.cfg.run.steps,
            "eval_before": {k: before[k] for k in pick if k in before},
            "eval_after": {k: evals["default"][k] for k in pick if k in evals["default"]},
            "wall_seconds": wall,
            "reward_curve": [r.get("rollout/reward") for r in rows],
            "success_curve": [r.get("rollout/success") for r in rows],
        }
        if self.cfg.eval.reference_agents:
            summary["panel_reference"] = self._panel_reference(pick)
        if "with_skills" in evals:
            summary["eval_after_with_skills"] = {k: evals["with_skills"][k] for k in pick}
        for key in ("sdar/gate_mean", "sdar/gate_active_ratio", "sdar/gap_mean"):
            vals = [r[key] for r in rows if key in r]
            if vals:
                summary[key] = {"first": vals[0], "last": vals[-1], "mean": sum(vals) / len(vals)}
        phases = ("time/rollout", "time/score", "time/update", "time/step")
        summary["seconds_per_phase"] = {
            k: sum(r[k] for r in rows if k in r) / max(sum(k in r for r in rows), 1) for k in phases
        }
        (self.run_dir / "summary.json").write_text(json.dumps(summary, indent=2))
        return summary
