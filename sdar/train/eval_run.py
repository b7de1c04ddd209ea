"""`sdar eval`: evaluate a run's latest checkpoint, or a base model, on the panel."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from sdar.train import checkpoint as ckpt
from sdar.train.config import config_from_dict, load_config, merge, parse_overrides
from sdar.train.evaluate import panel_evaluation
from sdar.train.seeding import derive_seed
from sdar.train.setup import build_retriever, env_parts, make_policy, make_venv


def evaluate_checkpoint(
    run_dir: str | None,
    *,
    model: str | None = None,
    preset: str = "quickstart",
    overrides: list[str] | None = None,
    with_skills: bool = False,
) -> dict[str, Any]:
    """Success overall and per task type of a run's policy (or of ``model``)."""
    overrides = list(overrides or [])
    if run_dir:
        folder = Path(run_dir)
        if not (folder / "config.yaml").is_file():
            raise FileNotFoundError(f"{folder} is not a run directory (no config.yaml)")
        data = merge(
            yaml.safe_load((folder / "config.yaml").read_text()), parse_overrides(overrides)
        )
        cfg = config_from_dict(data)
    elif model:
        cfg = load_config(preset, [*overrides, f"model.name={model}", "sft.episodes=0"])
        folder = Path(model) if Path(model).is_dir() else Path(".")
        if cfg.model.name == "tiny":
            raise ValueError("--model tiny has no weights to evaluate; pass a run directory")
    else:
        raise ValueError("pass a run directory or --model NAME")
    spec, options = env_parts(cfg)
    policy = make_policy(cfg, folder if run_dir else Path("/nonexistent"))
    if run_dir:
        latest = ckpt.latest_checkpoint(folder)
        if latest is not None:
            ckpt.load_policy_weights(policy.model, latest)
    retriever = build_retriever(cfg, spec, derive_seed(cfg.run.seed, "skills"))
    venv = make_venv(cfg, spec, options, cfg.eval.episodes)
    try:
        summary = panel_evaluation(
            cfg, spec, options, policy, retriever, venv, with_skills=with_skills
        )
    finally:
        venv.close()
    return summary
