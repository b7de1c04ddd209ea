"""Optional metric sinks beside metrics.jsonl: TensorBoard and Weights & Biases.

Both are off by default (`run.logger: []`). W&B runs in offline mode unless the user has
set ``WANDB_MODE`` themselves, so no network is needed.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

Sink = Callable[[dict[str, Any]], None]


def _numeric(metrics: dict[str, Any]) -> dict[str, float]:
    return {
        k: float(v)
        for k, v in metrics.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool) and k != "step"
    }


def tensorboard_sink(run_dir: Path) -> tuple[Sink, Callable[[], None]]:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ValueError(
            "run.logger=tensorboard needs the tensorboard package: "
            "pip install 'sdar[logging]' (or drop tensorboard from run.logger)"
        ) from None
    writer = SummaryWriter(log_dir=str(run_dir / "tensorboard"))

    def log(metrics: dict[str, Any]) -> None:
        for key, value in _numeric(metrics).items():
            writer.add_scalar(key, value, int(metrics["step"]))
        writer.flush()

    return log, writer.close


def wandb_sink(run_dir: Path, config: dict[str, Any]) -> tuple[Sink, Callable[[], None]]:
    try:
        import wandb
    except ImportError:
        raise ValueError(
            "run.logger=wandb needs the wandb package: pip install wandb "
            "(or drop wandb from run.logger)"
        ) from None
    os.environ.setdefault("WANDB_MODE", "offline")
    run = wandb.init(
        project="sdar",
        dir=str(run_dir),
        config=config,
        name=run_dir.name,
        resume="allow",
        id=run_dir.name.replace("/", "-"),
    )

    def log(metrics: dict[str, Any]) -> None:
        run.log(_numeric(metrics), step=int(metrics["step"]))

    return log, run.finish


def make_sinks(
    names: tuple[str, ...], run_dir: Path, config: dict[str, Any]
) -> tuple[list[Sink], list[Callable[[], None]]]:
    """The sinks named in ``run.logger``, and their close functions."""
    sinks, closers = [], []
    for name in names:
        log, close = (
            tensorboard_sink(run_dir) if name == "tensorboard" else wandb_sink(run_dir, config)
        )
        sinks.append(log)
        closers.append(close)
    return sinks, closers
