"""The training loop, as a dataflow of named stages (SDAR_SPEC 1.5):

    rollout -> rewards -> scoring (old, ref, teacher) -> advantages -> update -> log

Each stage takes this rank's shard: the rollout plays ``tasks[rank::world_size]`` (whole
GRPO groups, so group statistics never cross ranks) and the update consumes exactly the
samples that rollout produced. Nothing here reads global state; every random stream is
derived from (seed, step, name, rank), so a resumed run repeats the uninterrupted one.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import yaml

from sdar import algos
from sdar.rollout.runner import run_episodes
from sdar.rollout.types import StepSample, Trajectory
from sdar.train import checkpoint as ckpt
from sdar.train.config import Config, config_to_dict
from sdar.train.evaluate import eval_settings, evaluate
from sdar.train.methods import get_method
from sdar.train.plots import plot_run
from sdar.train.scoring import score_samples
from sdar.train.seeding import derive_seed
from sdar.train.setup import (
    PrivilegedContext,
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
Progress = Callable[[str, int, int, dict[str, Any]], None]


def assign_scores(
    trajs: list[Trajectory], success_reward: float, invalid_penalty: float
) -> list[StepSample]:
    """Episode reward R = success_reward * won on every step, minus the per-step penalty."""
    samples = []
    for t in trajs:
        episode = success_reward * float(t.won)
        for s in t.samples:
            s.score = episode - invalid_penalty * float(not s.valid)
            samples.append(s)
    return samples


def compute_advantages(
    samples: list[StepSample], trajs: list[Trajectory], mode: str, norm_by_std: bool
) -> torch.Tensor:
    """GRPO advantages [N]: over all step-samples of a group (``step``, the authors' code)
    or over the group's trajectories, broadcast to their steps (``trajectory``)."""
    if mode == "step":
        rewards = torch.tensor([s.score for s in samples], dtype=torch.float32)
        return algos.grpo_advantages(rewards, [s.group for s in samples], norm_by_std=norm_by_std)
    means = torch.tensor([sum(s.score for s in t.samples) / max(t.length, 1) for t in trajs])
    per_traj = algos.grpo_advantages(means, [t.group for t in trajs], norm_by_std=norm_by_std)
    by_traj = {t.traj: per_traj[i] for i, t in enumerate(trajs)}
    return torch.stack([by_traj[s.traj] for s in samples])


def rollout_metrics(trajs: list[Trajectory], success_reward: float) -> dict[str, float]:
    n = max(len(trajs), 1)
    return {
        "rollout/reward": sum(success_reward * t.won for t in trajs) / n,
        "rollout/success": sum(t.won for t in trajs) / n,
        "rollout/episode_length": sum(t.length for t in trajs) / n,
        "rollout/valid_ratio": sum(t.valid_ratio for t in trajs) / n,
        "rollout/worker_errors": float(sum(t.error is not None for t in trajs)),
    }


class Trainer:
    """Owns one run directory; `run()` trains from scratch or resumes it."""

    def __init__(
        self,
        cfg: Config,
        run_dir: Path,
        *,
        rank: int = 0,
        world_size: int = 1,
        progress: Progress | None = None,
    ) -> None:
        self.cfg, self.run_dir = cfg, Path(run_dir)
        self.rank, self.world_size = rank, world_size
        self.progress = progress
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

    # -- set-up -------------------------------------------------------------------------
    def _prepare(self, resume: bool) -> int:
        """Build the policy and optimizer; returns the first step to run."""
        cfg, run_dir = self.cfg, self.run_dir
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.yaml").write_text(yaml.safe_dump(config_to_dict(cfg), sort_keys=False))
        latest = ckpt.latest_checkpoint(run_dir) if resume else None
        have_base = (run_dir / "base_model" / "config.json").is_file()
        model = tokenizer = None
        if not have_base and (cfg.model.name == "tiny" or cfg.sft.episodes):
            model, tokenizer, losses = build_base_model(
                cfg, self.spec, self.options, run_dir, self.retriever, self.progress
            )
            self.sft_losses = losses
        self.policy = make_policy(cfg, run_dir, model, tokenizer)
        if cfg.algo.kl_coef > 0 or cfg.teacher.kind == "frozen":
            self.policy.ensure_reference()
        params = [p for p in self.policy.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(
            params, lr=cfg.optim.lr, betas=cfg.optim.betas, weight_decay=cfg.optim.weight_decay
        )
        warmup = max(int(cfg.optim.warmup_ratio * cfg.run.steps), 0)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda i: min(1.0, (i + 1) / warmup) if warmup else 1.0
        )
        if latest is None:
            if cfg.teacher.kind == "ema":
                self.policy.init_ema()
            return 1
        ckpt.load_policy_weights(self.policy.model, latest)
        state = ckpt.load_state(latest)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.retriever.load_state_dict(state["retriever"])
        self.policy.ema = state.get("ema")
        for name in ("metrics.jsonl", "trajectories.jsonl", "evals.jsonl"):
            ckpt.truncate_jsonl(run_dir / name, state["step"])
        logger.info("resumed %s from %s (step %d)", run_dir, latest.name, state["step"])
        return state["step"] + 1

    def _save(self, step: int) -> None:
        state = {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "retriever": self.retriever.state_dict(),
            "ema": self.policy.ema,
        }
        ckpt.save_checkpoint(self.run_dir, step, self.policy.model, self.policy.tokenizer, state)

    # -- stages ---------------------------------------------------------------------------
    def _tasks(self, step: int) -> list:
        cfg = self.cfg
        n = cfg.rollout.tasks_per_step
        tasks = self.spec.train_tasks(self.options, derive_seed(cfg.run.seed, step, "tasks"), n)
        return tasks[self.rank :: self.world_size]

    def train_step(self, step: int, venv: Any) -> tuple[dict[str, float], list[Trajectory]]:
        cfg, method, policy = self.cfg, self.method, self.policy
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        # step 1: rollout (this rank's groups)
        tasks = self._tasks(step)
        g = cfg.rollout.group_size
        slot_tasks = [t for t in tasks for _ in range(g)]
        first_group = self.rank * len(tasks)
        groups = [first_group + i for i in range(len(tasks)) for _ in range(g)]
        privileged = PrivilegedContext(
            cfg, self.retriever, step, groups, active=method.needs_teacher or method.student_skills
        )
        settings = rollout_settings(cfg, self.spec, method, policy.chat_template_kwargs)
        gen = torch.Generator().manual_seed(derive_seed(cfg.run.seed, step, "rollout", self.rank))
        policy.model.eval()
        cb = (
            (lambda turn, active: self.progress("rollout", turn, 0, {"active": active}))
            if self.progress
            else None
        )
        trajs, rstats = run_episodes(
            policy.model,
            policy.tokenizer,
            venv,
            self.spec,
            slot_tasks,
            groups,
            privileged,
            settings,
            gen,
            on_turn=cb,
        )
        timings["time/rollout"] = time.perf_counter() - t0
        # step 2: rewards and group advantages
        samples = assign_scores(trajs, self.success_reward, self.invalid_penalty)
        adv = compute_advantages(samples, trajs, cfg.algo.adv_stats, cfg.algo.adv_norm_by_std)
        # step 3: scoring passes without gradient
        t1 = time.perf_counter()
        scores = score_samples(
            samples,
            policy,
            self.spec,
            need_ref=cfg.algo.kl_coef > 0,
            need_teacher=method.needs_teacher,
            teacher_kind=cfg.teacher.kind,
            teacher_placement=cfg.teacher.placement,
            teacher_max_prompt_tokens=cfg.teacher.max_prompt_tokens,
            history_length=cfg.env.history_length,
            think=cfg.env.think,
            temperature=cfg.rollout.temperature,
            token_budget=cfg.optim.score_token_budget,
        )
        timings["time/score"] = time.perf_counter() - t1
        # step 4: update
        t2 = time.perf_counter()
        lam = (
            algos.rlsd_lambda(
                step - 1, lam0=cfg.algo.rlsd_lambda0, decay_steps=cfg.algo.rlsd_decay_steps
            )
            if method.rlsd
            else 0.0
        )
        inputs = UpdateInputs(samples, scores, adv, lam)
        upd_gen = torch.Generator().manual_seed(
            derive_seed(cfg.run.seed, step, "update", self.rank)
        )
        # Divergence ablations need full teacher logits in the update; the live teacher is
        # the policy itself, scored without gradient (config requires teacher.kind=live).
        teacher_for_div = policy.model if cfg.algo.divergence != "sampled" else None
        upd = update_policy(
            policy.model,
            self.optimizer,
            self.scheduler,
            inputs,
            method,
            cfg.algo,
            cfg.optim,
            pad_id=policy.pad_id,
            device=policy.device,
            temperature=cfg.rollout.temperature,
            generator=upd_gen,
            teacher_model=teacher_for_div,
        )
        if cfg.teacher.kind == "ema":
            policy.update_ema()
        self._update_bandit(privileged, trajs)
        timings["time/update"] = time.perf_counter() - t2
        timings["time/step"] = time.perf_counter() - t0
        metrics = {
            "step": step,
            **rollout_metrics(trajs, self.success_reward),
            **upd,
            **scores.metrics,
            **timings,
            "rollout/samples": float(len(samples)),
            "rollout/tokens_generated": float(rstats["tokens_generated"]),
            "rollout/prompt_truncated": float(rstats["prompt_truncated"]),
            "rollout/advantage_abs_mean": float(adv.abs().mean()) if len(adv) else 0.0,
        }
        if method.rlsd:
            metrics["rlsd/lambda"] = lam
        return metrics, trajs

    def _update_bandit(self, privileged: PrivilegedContext, trajs: list[Trajectory]) -> None:
        by_group: dict[int, list[float]] = {}
        types: dict[int, str] = {}
        for t in trajs:
            by_group.setdefault(t.group, []).append(self.success_reward * float(t.won))
            types[t.group] = t.task.task_type
        for group, rewards in by_group.items():
            skills = privileged.by_group.get(group, ("", ()))[1]
            for skill in skills:
                self.retriever.update(types[group], skill, rewards)

    # -- evaluation and logging -------------------------------------------------------------
    def evaluate(self, step: int, eval_venv: Any, with_skills: bool = False) -> dict[str, Any]:
        cfg = self.cfg
        tasks = self.spec.eval_tasks(self.options, cfg.eval.episodes)
        base = rollout_settings(cfg, self.spec, self.method, self.policy.chat_template_kwargs)
        settings = eval_settings(
            base, temperature=cfg.eval.temperature, greedy=cfg.eval.greedy, with_skills=with_skills
        )
        privileged = PrivilegedContext(
            cfg, self.retriever, -1, list(range(len(tasks))), active=with_skills
        )
        cb = (
            (lambda turn, active: self.progress("eval", turn, 0, {"active": active}))
            if self.progress
            else None
        )
        summary, _ = evaluate(
            self.policy.model,
            self.policy.tokenizer,
            self.spec,
            eval_venv,
            tasks,
            settings,
            privileged,
            seed=derive_seed(cfg.run.seed, "eval"),
            on_turn=cb,
        )
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
        n_slots = (len(self._tasks(1)) or 1) * cfg.rollout.group_size
        venv = make_venv(cfg, self.spec, self.options, n_slots)
        eval_venv = make_venv(cfg, self.spec, self.options, cfg.eval.episodes)
        self.sinks, closers = make_sinks(cfg.run.logger, self.run_dir, config_to_dict(cfg))
        try:
            earlier = [e for e in self._earlier_evals() if e["step"] == 0]
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
            if first <= cfg.run.steps or last_eval is before:
                evals = self._eval_all(cfg.run.steps, eval_venv)
            else:  # resuming a run that had already finished: report its last evaluation
                evals = {"default": self._earlier_evals()[-1]}
        finally:
            venv.close()
            eval_venv.close()
            for close in closers:
                close()
        summary = self._summary(before, evals, time.time() - start_time)
        plot_run(self.run_dir)
        return summary

    def _summary(
        self, before: dict[str, Any], evals: dict[str, Any], wall: float
    ) -> dict[str, Any]:
        path = self.run_dir / "metrics.jsonl"
        rows = [json.loads(x) for x in path.read_text().splitlines()] if path.is_file() else []
        pick = ("success", "per_task_type", "episodes", "mean_length", "valid_ratio")
        summary = {
            "method": self.method.name,
            "env": self.spec.name,
            "run_dir": str(self.run_dir),
            "steps": self.cfg.run.steps,
            "eval_before": {k: before[k] for k in pick if k in before},
            "eval_after": {k: evals["default"][k] for k in pick if k in evals["default"]},
            "wall_seconds": wall,
            "reward_curve": [r.get("rollout/reward") for r in rows],
            "success_curve": [r.get("rollout/success") for r in rows],
        }
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
