"""Checkpoints that survive kill -9: written to a temp folder, then renamed into place.

Layout of a run directory::

    config.yaml            the resolved config
    base_model/            the model RL starts from (after any warm start), a HF folder
    checkpoints/step_000010/{policy/, state.pt}
    checkpoints/LATEST     name of the newest complete checkpoint
    metrics.jsonl  evals.jsonl  trajectories.jsonl  summary.json

``policy/`` holds the weights (full fine-tuning: a HF folder; LoRA: the adapter);
``state.pt`` holds the optimizer, scheduler, RNG, skill-bandit, EMA and step.

Data-parallel runs (world > 1, sharded with FSDP2) write ``step_N/{dcp/, state.pt,
rng_rank*.pt, tokenizer/}`` instead: ``dcp/`` is a torch.distributed.checkpoint of the
model, the optimizer and the EMA weights, each rank writing its own shards; DCP reshards on
load, so a run can resume on another world size. ``state.pt`` holds what all ranks share
(scheduler, skill bandit, step), ``rng_rank{r}.pt`` each rank's RNG states. `sdar export`
turns either layout into a plain Hugging Face folder.

A ``step_*`` folder only ever appears complete (renamed into place) and disappears in one
rename too, so a kill at any point leaves every ``step_*`` folder whole; should LATEST
still name a folder that is missing or damaged, `latest_checkpoint` falls back to the
newest complete one. A write that fails (a full disk) removes its temporary folder and
leaves LATEST and the earlier checkpoints as they were.
"""

from __future__ import annotations

import json
import logging
import os
import random
import shutil
from pathlib import Path
from typing import Any

import torch

logger = logging.getLogger(__name__)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_checkpoint(
    run_dir: Path, step: int, model: Any, tokenizer: Any, state: dict[str, Any], keep: int = 2
) -> Path:
    """Write checkpoint ``step`` atomically and point LATEST at it."""
    root = run_dir / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    for leftover in root.glob(".tmp_step_*"):  # from a write that was killed
        shutil.rmtree(leftover, ignore_errors=True)
    name = f"step_{step:06d}"
    tmp = root / f".tmp_{name}"
    tmp.mkdir()
    try:
        model.save_pretrained(tmp / "policy")
        tokenizer.save_pretrained(tmp / "policy")
        state = {**state, "step": step, **_rng_state()}
        torch.save(state, tmp / "state.pt")
    except BaseException:  # a full disk: free what we wrote, keep the last checkpoint
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return _publish(root, tmp, name, keep)


def _publish(root: Path, tmp: Path, name: str, keep: int) -> Path:
    """Rename the finished ``tmp`` folder into place, point LATEST at it, keep ``keep``."""
    final = root / name
    _remove(final)
    os.replace(tmp, final)
    latest_tmp = root / ".LATEST.tmp"
    latest_tmp.write_text(name)
    os.replace(latest_tmp, root / "LATEST")
    _fsync_dir(root)
    older = sorted(p for p in root.glob("step_*") if p.name != name)
    for old in older[: max(len(older) - (keep - 1), 0)]:
        _remove(old)
    return final


def _remove(folder: Path) -> None:
    """Delete a checkpoint folder: renamed away first, so it never exists half deleted."""
    if not folder.exists():
        return
    trash = folder.with_name(f".tmp_{folder.name}.old")
    shutil.rmtree(trash, ignore_errors=True)
    os.replace(folder, trash)
    shutil.rmtree(trash, ignore_errors=True)


def is_complete(ckpt: Path) -> bool:
    """A checkpoint folder with its state and weights (a HF folder or a DCP checkpoint)."""
    weights = any((ckpt / "policy").glob("*.safetensors")) or (ckpt / "dcp" / ".metadata").is_file()
    return (ckpt / "state.pt").is_file() and weights


def _rng_state() -> dict[str, Any]:
    state = {"python_rng": random.getstate(), "torch_rng": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda_rng"] = torch.cuda.get_rng_state_all()
    return state


def _sharded_state(policy: Any, optimizer: Any) -> dict[str, Any]:
    from torch.distributed.checkpoint.state_dict import get_state_dict

    model_sd, optim_sd = get_state_dict(policy.model, optimizer)
    state = {"model": model_sd, "optim": optim_sd}
    if policy.ema is not None:
        state["ema"] = policy.ema
    return state


def save_sharded(
    run_dir: Path, step: int, policy: Any, optimizer: Any, state: dict[str, Any], dist: Any
) -> Path:
    """`save_checkpoint` for a data-parallel run: every rank writes its shards (DCP) and its
    RNG into the temporary folder, then the main rank writes the shared state, renames the
    folder into place and points LATEST at it (the same kill -9 guarantees)."""
    import torch.distributed.checkpoint as dcp

    root = run_dir / "checkpoints"
    name = f"step_{step:06d}"
    tmp = root / f".tmp_{name}"
    if dist.is_main:
        root.mkdir(parents=True, exist_ok=True)
        for leftover in root.glob(".tmp_step_*"):
            shutil.rmtree(leftover, ignore_errors=True)
        tmp.mkdir()
    dist.barrier()
    dcp.save(_sharded_state(policy, optimizer), checkpoint_id=str(tmp / "dcp"))
    torch.save(_rng_state(), tmp / f"rng_rank{dist.rank}.pt")
    dist.barrier()
    if dist.is_main:
        policy.tokenizer.save_pretrained(tmp / "tokenizer")
        torch.save({**state, "step": step, "world_size": dist.world}, tmp / "state.pt")
        _publish(root, tmp, name, keep=2)
    dist.barrier()
    return root / name


def load_sharded(ckpt: Path, policy: Any, optimizer: Any, rank: int) -> dict[str, Any]:
    """Load a `save_sharded` checkpoint into the sharded policy and optimizer (all ranks),
    restore this rank's RNG (when the checkpoint has one for it) and return the shared state."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import set_state_dict

    if not (ckpt / "dcp" / ".metadata").is_file():
        raise ValueError(
            f"{ckpt} was written by a one-process run (policy/ folder, no dcp/); resume it "
            "with one process, or start the data-parallel run from its weights with "
            f"`sdar export {ckpt.parent.parent} --to DIR` and model.name=DIR"
        )
    state = _sharded_state(policy, optimizer)
    dcp.load(state, checkpoint_id=str(ckpt / "dcp"))
    set_state_dict(
        policy.model, optimizer, model_state_dict=state["model"], optim_state_dict=state["optim"]
    )
    if "ema" in state:
        policy.ema = state["ema"]
    rng_file = ckpt / f"rng_rank{rank}.pt"
    if rng_file.is_file():
        rng = torch.load(rng_file, weights_only=False)
        random.setstate(rng["python_rng"])
        torch.set_rng_state(rng["torch_rng"])
        if "cuda_rng" in rng and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda_rng"])
    return torch.load(ckpt / "state.pt", weights_only=False)


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The checkpoint to resume from: LATEST's, else the newest complete one (logged)."""
    root = run_dir / "checkpoints"
    pointer = root / "LATEST"
    named = root / pointer.read_text().strip() if pointer.is_file() else None
    if named is not None and is_complete(named):
        return named
    complete = sorted(p for p in root.glob("step_*") if is_complete(p)) if root.is_dir() else []
    fallback = complete[-1] if complete else None
    if named is not None:
        logger.warning(
            "LATEST points at %s, which is missing or incomplete; resuming from %s",
            named,
            fallback.name if fallback else "the start (no complete checkpoint)",
        )
    return fallback


def load_state(ckpt: Path) -> dict[str, Any]:
    state = torch.load(ckpt / "state.pt", weights_only=False)
    random.setstate(state["python_rng"])
    torch.set_rng_state(state["torch_rng"])
    return state


def load_policy_weights(model: Any, ckpt: Path) -> None:
    """Load the checkpoint's weights into an already built, unsharded model (full or LoRA),
    from a ``policy/`` folder or a data-parallel DCP checkpoint (read in one process)."""
    from safetensors.torch import load_file

    if (ckpt / "dcp" / ".metadata").is_file():
        import warnings

        import torch.distributed.checkpoint as dcp

        state = {"model": model.state_dict()}
        with warnings.catch_warnings():  # "assuming the intent is to load in a single process"
            warnings.simplefilter("ignore", UserWarning)
            dcp.load(state, checkpoint_id=str(ckpt / "dcp"))
        model.load_state_dict(state["model"])
        return
    folder = ckpt / "policy"
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise FileNotFoundError(f"{folder} holds no .safetensors weights")
    tensors: dict[str, torch.Tensor] = {}
    for f in files:
        tensors.update(load_file(str(f)))
    if (folder / "adapter_config.json").is_file():
        from peft import set_peft_model_state_dict

        set_peft_model_state_dict(model, tensors)
    else:
        missing, unexpected = model.load_state_dict(tensors, strict=False)
        real_missing = [k for k in missing if "lm_head" not in k]
        if real_missing or unexpected:
            raise RuntimeError(
                f"checkpoint {folder} does not match the model: missing "
                f"{real_missing[:5]}, unexpected {unexpected[:5]}"
            )
        if hasattr(model, "tie_weights"):
            model.tie_weights()


def append_jsonl(path: Path, record: dict[str, Any]) -> None:
    """Append one line and flush it to disk, so kill -9 loses at most the current line."""
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()
        os.fsync(f.fileno())


def truncate_jsonl(path: Path, max_step: int) -> None:
    """Drop records of steps after ``max_step`` (and a torn last line) before resuming."""
    if not path.is_file():
        return
    keep = []
    for line in path.read_text().splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if int(rec.get("step", 0)) <= max_step:
            keep.append(line)
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(line + "\n" for line in keep))
    os.replace(tmp, path)
