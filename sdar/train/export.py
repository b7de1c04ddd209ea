"""`sdar export RUN_DIR --to DIR`: a run's checkpoint as a plain Hugging Face folder.

Reads either checkpoint layout (`sdar.train.checkpoint`): a one-process ``policy/`` folder
(full weights, or a LoRA adapter) or a data-parallel DCP checkpoint (``dcp/``, loaded
into the base model's architecture in one process, no process group needed). The result
loads with ``AutoModelForCausalLM.from_pretrained`` (and vLLM); a LoRA run gives the
adapter folder, or with ``merge_lora`` the merged full weights. Written to a temporary
sibling and renamed into place.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
import yaml

from sdar.train import checkpoint as ckpt

logger = logging.getLogger(__name__)


def find_checkpoint(run_dir: Path, step: int | None) -> Path:
    if not (run_dir / "config.yaml").is_file():
        raise FileNotFoundError(f"{run_dir} is not a run directory (no config.yaml)")
    if step is not None:
        path = run_dir / "checkpoints" / f"step_{step:06d}"
        if not ckpt.is_complete(path):
            have = sorted(p.name for p in (run_dir / "checkpoints").glob("step_*"))
            raise FileNotFoundError(f"no complete checkpoint {path}; the run has {have}")
        return path
    path = ckpt.latest_checkpoint(run_dir)
    if path is None:
        raise FileNotFoundError(f"{run_dir} has no complete checkpoint yet")
    return path


def _load(run_dir: Path, path: Path, merge_lora: bool) -> tuple[Any, Any, str]:
    from sdar.models.load import load_policy
    from sdar.train.config import config_from_dict
    from sdar.train.setup import base_model_path, lora_options

    cfg = config_from_dict(yaml.safe_load((run_dir / "config.yaml").read_text()))
    lora = lora_options(cfg)
    if (path / "policy" / "config.json").is_file():  # a one-process full fine-tuning run
        model, tokenizer = load_policy(str(path / "policy"), device="cpu", dtype="float32")
        return model, tokenizer, "full weights"
    model, tokenizer = load_policy(
        base_model_path(cfg, run_dir), device="cpu", dtype="float32", lora=lora
    )
    ckpt.load_policy_weights(model, path)  # a LoRA adapter, or a sharded (DCP) checkpoint
    kind = "from a sharded (DCP) checkpoint" if (path / "dcp").is_dir() else "from policy/"
    if lora is None:
        return model, tokenizer, f"full weights {kind}"
    if merge_lora:
        return model.merge_and_unload(), tokenizer, f"LoRA merged into full weights {kind}"
    return model, tokenizer, f"LoRA adapter {kind}"


def export_run(
    run_dir: Path, to: Path, *, step: int | None = None, merge_lora: bool = False
) -> dict[str, str]:
    """Write the checkpoint (latest, or ``step``) of ``run_dir`` to ``to``."""
    path = find_checkpoint(run_dir, step)
    if to.exists() and any(to.iterdir()):
        raise FileExistsError(f"--to {to} exists and is not empty; pick a new folder")
    with torch.no_grad():
        model, tokenizer, kind = _load(run_dir, path, merge_lora)
    to.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{to.name}-", dir=to.parent))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        if to.exists():
            to.rmdir()
        tmp.rename(to)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    logger.info("exported %s to %s (%s)", path, to, kind)
    return {"checkpoint": str(path), "to": str(to), "kind": kind}
