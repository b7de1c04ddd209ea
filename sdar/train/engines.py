"""The rollout engine of a run, chosen once from ``rollout.engine`` (`ENGINES`)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from sdar.models.engine import HFEngine, RolloutEngine, hf_weights, sampling_dtype
from sdar.models.generate import eos_token_ids
from sdar.models.load import resolve_model
from sdar.train.config import Config
from sdar.train.policy import PolicyBundle
from sdar.train.setup import base_model_path

logger = logging.getLogger(__name__)


def hf_engine(
    cfg: Config, policy: PolicyBundle, run_dir: Path | None, copy: bool = False
) -> RolloutEngine:
    """Our sampler on the policy's device, in ``rollout.dtype`` (auto: bf16 where native);
    ``copy``: always sample from an own copy of the weights (the policy will be sharded)."""
    dtype = sampling_dtype(cfg.rollout.dtype, policy.device)
    engine = HFEngine(
        policy.model,
        policy.tokenizer,
        dtype=dtype,
        batch_size=cfg.rollout.gen_batch_size,
        autocast=policy.autocast,
        copy=copy,
    )
    logger.info("rollout engine: hf, sampling in %s", dtype)
    return engine


def vllm_engine(
    cfg: Config, policy: PolicyBundle, run_dir: Path | None, copy: bool = True
) -> RolloutEngine:
    """vLLM colocated on the policy's GPU (imports vLLM only here; it always holds its own
    copy of the weights, synced from the gathered full state dict)."""
    from sdar.models.vllm_engine import VLLMEngine, import_vllm

    import_vllm()  # one clear message when it is missing
    path = base_model_path(cfg, run_dir) if run_dir is not None else cfg.model.name
    r = cfg.rollout
    engine = VLLMEngine(
        str(resolve_model(path)),
        policy.tokenizer,
        gpu_memory_utilization=r.vllm_gpu_memory_utilization,
        max_model_len=r.max_prompt_tokens + r.max_new_tokens,
        dtype="float32" if r.dtype == "float32" else "bfloat16",
        seed=cfg.run.seed,
        eos_ids=eos_token_ids(policy.model, policy.tokenizer),
    )
    return engine


ENGINES: dict[str, Callable[..., RolloutEngine]] = {
    "hf": hf_engine,
    "vllm": vllm_engine,
}


def make_engine(
    cfg: Config, policy: PolicyBundle, run_dir: Path | None = None, *, copy: bool = False
) -> RolloutEngine:
    """Build the run's engine once and give it the policy's current weights; ``copy``: the
    engine keeps its own weights even where it could sample from the policy itself
    (data parallel: the policy is about to be sharded)."""
    engine = ENGINES[cfg.rollout.engine](cfg, policy, run_dir, copy=copy)
    engine.load_weights(hf_weights(policy.model))
    return engine
