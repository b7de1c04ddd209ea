"""Evaluation on a fixed panel: one episode per task, success overall and per task type."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from typing import Any

import torch

from sdar.envs.base import EnvSpec, Task
from sdar.envs.evaluator import success_summary
from sdar.envs.vector import VectorEnv
from sdar.models.engine import RolloutEngine
from sdar.models.generate import SamplingParams
from sdar.rollout.runner import RolloutSettings, run_episodes
from sdar.rollout.types import Trajectory
from sdar.train.config import Config
from sdar.train.engines import make_engine
from sdar.train.methods import get_method
from sdar.train.policy import PolicyBundle
from sdar.train.seeding import derive_seed, make_generator
from sdar.train.setup import PrivilegedContext, rollout_settings


def eval_settings(
    base: RolloutSettings, *, temperature: float, greedy: bool, with_skills: bool
) -> RolloutSettings:
    s = base.sampling
    sampling = SamplingParams(
        max_new_tokens=s.max_new_tokens,
        temperature=temperature,
        top_p=s.top_p,
        stop_strings=s.stop_strings,
        greedy=greedy,
    )
    return dataclasses.replace(base, sampling=sampling, student_skills=with_skills)


def summarise(trajs: list[Trajectory], metric_keys: tuple[str, ...] = ()) -> dict[str, Any]:
    """Success overall and per task type, plus the env's own episode metrics (means)."""
    records = [{"task_type": t.task.task_type, "won": t.won} for t in trajs]
    out = success_summary(records)
    n = max(len(trajs), 1)
    out["mean_length"] = sum(t.length for t in trajs) / n
    out["valid_ratio"] = sum(t.valid_ratio for t in trajs) / n
    out["worker_errors"] = sum(t.error is not None for t in trajs)
    for key in metric_keys:
        out[key] = sum(float(t.info.get(key, 0.0)) for t in trajs) / n
    return out


@torch.no_grad()
def evaluate(
    engine: RolloutEngine,
    tokenizer: Any,
    spec: EnvSpec,
    venv: VectorEnv,
    tasks: list[Task],
    settings: RolloutSettings,
    privileged: Callable[[int, Task, dict[str, Any]], str],
    *,
    seed: int,
    device: torch.device | str = "cpu",
    on_turn: Callable[[int, int], None] | None = None,
) -> tuple[dict[str, Any], list[Trajectory]]:
    """Play every panel task once with ``settings``; returns the summary and trajectories.
    ``device`` is where the sampling generator lives (the engine's device)."""
    generator = make_generator(seed, device)
    trajs, _ = run_episodes(
        engine,
        tokenizer,
        venv,
        spec,
        tasks,
        list(range(len(tasks))),
        privileged,
        settings,
        generator,
        on_turn=on_turn,
    )
    return summarise(trajs, spec.episode_metrics), trajs


def panel_evaluation(
    cfg: Config,
    spec: EnvSpec,
    options: dict[str, Any],
    policy: PolicyBundle,
    retriever: Any,
    venv: VectorEnv,
    *,
    with_skills: bool,
    on_turn: Callable[[int, int], None] | None = None,
    engine: RolloutEngine | None = None,
) -> dict[str, Any]:
    """The fixed panel (``eval.episodes`` tasks) played once with the eval sampling; the
    one place the trainer and `sdar eval` assemble an evaluation. ``engine`` samples (the
    trainer passes its own, already synced); None builds one from ``rollout.engine``."""
    tasks = spec.eval_tasks(options, cfg.eval.episodes)
    base = rollout_settings(cfg, spec, get_method(cfg.algo.method), policy.chat_template_kwargs)
    settings = eval_settings(
        base, temperature=cfg.eval.temperature, greedy=cfg.eval.greedy, with_skills=with_skills
    )
    privileged = PrivilegedContext(cfg, retriever, -1, list(range(len(tasks))), active=with_skills)
    engine = engine if engine is not None else make_engine(cfg, policy)
    policy.model.eval()
    summary, _ = evaluate(
        engine,
        policy.tokenizer,
        spec,
        venv,
        tasks,
        settings,
        privileged,
        seed=derive_seed(cfg.run.seed, "eval"),
        device=policy.device,
        on_turn=on_turn,
    )
    summary["panel_hash"] = panel_hash(tasks)
    return summary


def panel_hash(tasks: list[Task]) -> str:
    """A short fingerprint of the panel (task ids and seeds in order), for comparing runs."""
    text = "\n".join(f"{t.task_id}|{t.seed}" for t in tasks)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
