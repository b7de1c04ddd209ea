"""Data-parallel training on PyTorch's own engine: torchrun, FSDP2 and DCP.

`DistContext` is built once per process (`init_distributed`) and passed down. Without
torchrun's variables it describes one plain process and every collective is the identity,
so the single-process trainer runs the same code.

Under torchrun (``RANK`` set; also with one process, which runs the sharded path on one
device) (docs/scaling.md):

* the process group is gloo on CPU and NCCL on CUDA (``LOCAL_RANK`` picks the GPU);
* the policy (and the reference) are sharded with FSDP2: `fully_shard` on every decoder
  layer and then on the root (`shard_model`); parameters stay fp32, and on a GPU with bf16
  the forward and backward compute in bf16 (``MixedPrecisionPolicy``), gradients are reduced
  in fp32;
* FSDP runs collectives inside every forward and backward, so all ranks must call the
  sharded model the same number of times, in the same order: `ForwardCounter` counts each
  rank's forwards of one phase and `DistContext.pad_forwards` runs the missing ones on a
  one-token dummy input, after each phase (scoring) — the update pads with zero-weight
  micro-batches instead (`sdar.train.update`);
* the rollout engine samples from its own unsharded copy of the weights (gathered from the
  shards after each update, `full_state_dict`), so generation needs no collectives and ranks
  whose episodes end early simply wait at the next collective.
"""

from __future__ import annotations

import datetime
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 1800
"""Collective timeout (``SDAR_DIST_TIMEOUT`` seconds overrides it; tests use a short one)."""


@dataclass
class DistContext:
    """Rank, world size, device and the few collectives the trainer needs."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    backend: str = ""
    """``gloo`` or ``nccl`` under torchrun; empty for a plain process."""

    @property
    def enabled(self) -> bool:
        """Launched by torchrun: a process group, sharded models, reduced metrics."""
        return bool(self.backend)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def _device(self) -> torch.device:
        return (
            torch.device("cuda", self.local_rank) if self.backend == "nccl" else torch.device("cpu")
        )

    def all_reduce(self, values: list[float], op: str = "sum") -> list[float]:
        """Element-wise sum (or max) of ``values`` over ranks, in float64."""
        if not self.enabled or not values:
            return list(values)
        import torch.distributed as dist

        t = torch.tensor(values, dtype=torch.float64, device=self._device())
        dist.all_reduce(t, op=dist.ReduceOp.MAX if op == "max" else dist.ReduceOp.SUM)
        return t.tolist()

    def all_gather_object(self, obj: Any) -> list[Any]:
        if not self.enabled:
            return [obj]
        import torch.distributed as dist

        out: list[Any] = [None] * self.world
        dist.all_gather_object(out, obj)
        return out

    def broadcast_object(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank."""
        if not self.enabled:
            return obj
        import torch.distributed as dist

        box = [obj if self.is_main else None]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        if self.enabled:
            import torch.distributed as dist

            if self.backend == "nccl":
                dist.barrier(device_ids=[self.local_rank])
            else:
                dist.barrier()

    def pad_forwards(self, model: Any, pad_id: int, autocast: Callable[[], Any]) -> None:
        """Run dummy forwards until this rank has made as many calls of ``model`` (since the
        last call of this method) as the busiest rank, then reset the count."""
        counter = _COUNTERS.get(id(model))
        if counter is None or not self.enabled:
            return
        missing = int(self.all_reduce([float(counter.count)], "max")[0]) - counter.count
        device = next(model.parameters()).device
        ids = torch.full((1, 1), pad_id, dtype=torch.long, device=device)
        with torch.no_grad(), autocast():
            for _ in range(missing):
                model(input_ids=ids)
        counter.count = 0

    def close(self) -> None:
        if self.enabled:
            import torch.distributed as dist

            if dist.is_initialized():
                dist.destroy_process_group()


class ForwardCounter:
    """Counts calls of a module (a forward pre-hook), for `DistContext.pad_forwards`."""

    def __init__(self, module: torch.nn.Module) -> None:
        self.count = 0
        module.register_forward_pre_hook(self._hook)
        _COUNTERS[id(module)] = self

    def _hook(self, *_: Any) -> None:
        self.count += 1


_COUNTERS: dict[int, ForwardCounter] = {}


def init_distributed(device: str = "auto") -> DistContext:
    """The process's `DistContext` from torchrun's variables (a plain one without them).

    ``device``: the run's ``model.device``; NCCL when it resolves to CUDA, else gloo."""
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return DistContext()
    world = int(os.environ["WORLD_SIZE"])
    import torch.distributed as dist

    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = device != "cpu" and torch.cuda.is_available()
    backend = "nccl" if use_cuda else "gloo"
    if use_cuda:
        if local_rank >= torch.cuda.device_count():
            raise RuntimeError(
                f"LOCAL_RANK {local_rank} but this node has {torch.cuda.device_count()} GPU(s): "
                "launch at most one process per GPU (torchrun --nproc_per_node)"
            )
        torch.cuda.set_device(local_rank)
    timeout = float(os.environ.get("SDAR_DIST_TIMEOUT", DEFAULT_TIMEOUT_S))
    if not dist.is_initialized():
        dist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout))
    ctx = DistContext(rank=rank, world=world, local_rank=local_rank, backend=backend)
    logger.info("rank %d of %d (%s)", rank, world, backend)
    return ctx


def decoder_layers(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The transformer blocks of a causal LM (the ``ModuleList`` holding one entry per
    hidden layer), also inside a peft wrapper."""
    config = getattr(model, "config", None)
    n = getattr(config, "num_hidden_layers", None)
    for module in model.modules():
        if (
            isinstance(module, torch.nn.ModuleList)
            and len(module)
            and (n is None or len(module) == n)
        ):
            return list(module)
    raise ValueError("shard_model: found no list of decoder layers in the model")


def shard_model(model: torch.nn.Module, ctx: DistContext, compute_dtype: torch.dtype) -> Any:
    """FSDP2: `fully_shard` every decoder layer, then the root; returns the model.

    bf16 compute on CUDA through ``MixedPrecisionPolicy(param_dtype=bf16,
    reduce_dtype=fp32)``; on CPU (gloo) everything stays fp32 and the trainer's autocast
    decides the compute precision."""
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    mesh = init_device_mesh("cuda" if ctx.backend == "nccl" else "cpu", (ctx.world,))
    kwargs: dict[str, Any] = {"mesh": mesh}
    if ctx.backend == "nccl" and compute_dtype != torch.float32:
        kwargs["mp_policy"] = MixedPrecisionPolicy(
            param_dtype=compute_dtype, reduce_dtype=torch.float32
        )
    for layer in decoder_layers(model):
        fully_shard(layer, **kwargs)
    fully_shard(model, **kwargs)
    ForwardCounter(model)
    return model


def full_state_dict(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Every rank gets the whole (unsharded) state dict of a sharded model."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    return get_model_state_dict(model, options=StateDictOptions(full_state_dict=True))


def total_norm(norm: Any) -> float:
    """`clip_grad_norm_`'s result as a float (a replicated DTensor under FSDP2)."""
    if hasattr(norm, "full_tensor"):
        norm = norm.full_tensor()
    return float(norm)
