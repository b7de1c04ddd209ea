"""Evaluation on a fixed panel: one episode per task, success overall and per task type."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from sdar.envs.base import EnvSpec, Task
from sdar.envs.evaluator import success_summary
from sdar.envs.vector import VectorEnv
from sdar.models.generate import SamplingParams
from sdar.rollout.runner import RolloutSettings, run_episodes
from sdar.rollout.types import Trajectory


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
    return RolloutSettings(
        base.history_length,
        base.think,
        base.max_prompt_tokens,
        sampling,
        base.gen_batch_size,
        base.chat_template_kwargs,
        with_skills,
    )


def summarise(trajs: list[Trajectory]) -> dict[str, Any]:
    records = [{"task_type": t.task.task_type, "won": t.won} for t in trajs]
    out = success_summary(records)
    n = max(len(trajs), 1)
    out["mean_length"] = sum(t.length for t in trajs) / n
    out["valid_ratio"] = sum(t.valid_ratio for t in trajs) / n
    out["worker_errors"] = sum(t.error is not None for t in trajs)
    return out


@torch.no_grad()
def evaluate(
    model: Any,
    tokenizer: Any,
    spec: EnvSpec,
    venv: VectorEnv,
    tasks: list[Task],
    settings: RolloutSettings,
    privileged: Callable[[int, Task, dict[str, Any]], str],
    *,
    seed: int,
    on_turn: Callable[[int, int], None] | None = None,
) -> tuple[dict[str, Any], list[Trajectory]]:
    """Play every panel task once with ``settings``; returns the summary and trajectories."""
    model.eval()
    generator = torch.Generator().manual_seed(seed)
    trajs, _ = run_episodes(
        model,
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
    return summarise(trajs), trajs
