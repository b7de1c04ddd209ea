"""The policy and the weights its reference and teacher branches use.

* reference (KL term): the initial policy. With LoRA it is the same model with the
  adapters disabled; with full fine-tuning it is one frozen copy.
* teacher: ``live`` = the current policy (the paper), ``frozen`` = the reference
  weights (no extra copy), ``ema`` = an exponential moving average of the trainable
  parameters, swapped in for the teacher pass (one copy of the trainable tensors only).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch

from sdar.models.load import autocast_context, frozen_copy, reference_context


@dataclass
class PolicyBundle:
    model: Any
    tokenizer: Any
    device: torch.device
    compute_dtype: torch.dtype = torch.float32
    """Forward/backward precision under autocast; the weights themselves stay fp32."""
    lora: bool = False
    reference: Any | None = None
    ema: dict[str, torch.Tensor] | None = None
    ema_rate: float = 0.99
    chat_template_kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def pad_id(self) -> int:
        return int(self.tokenizer.pad_token_id)

    def autocast(self) -> contextlib.AbstractContextManager:
        """Mixed-precision context for every forward (and backward) pass of this policy."""
        return autocast_context(self.device, self.compute_dtype)

    def ensure_reference(self) -> None:
        """Keep a frozen copy of the current weights (full fine-tuning only), stored in the
        compute precision: it only runs without gradient."""
        if not self.lora and self.reference is None:
            self.reference = frozen_copy(self.model, dtype=self.compute_dtype)

    @contextlib.contextmanager
    def as_reference(self) -> Iterator[Any]:
        if self.lora:
            with reference_context(self.model):
                yield self.model
        else:
            self.ensure_reference()
            yield self.reference

    def trainable(self) -> dict[str, torch.Tensor]:
        self._reshard()
        return {n: p for n, p in self.model.named_parameters() if p.requires_grad}

    def _reshard(self) -> None:
        """FSDP2 keeps the root's gathered weights after a forward: drop them, so the
        sharded parameters are the ones read, written and gathered next."""
        if hasattr(self.model, "reshard"):
            self.model.reshard()

    def init_ema(self) -> None:
        self.ema = {n: p.detach().clone() for n, p in self.trainable().items()}

    @torch.no_grad()
    def update_ema(self) -> None:
        if self.ema is None:
            self.init_ema()
            return
        for n, p in self.trainable().items():
            self.ema[n].lerp_(p.detach(), 1.0 - self.ema_rate)

    @contextlib.contextmanager
    def as_teacher(self, kind: str) -> Iterator[Any]:
        if kind == "live":
            yield self.model
        elif kind == "frozen":
            with self.as_reference() as ref:
                yield ref
        elif kind == "ema":
            if self.ema is None:
                self.init_ema()
            params = self.trainable()
            with torch.no_grad():
                saved = {n: p.detach().clone() for n, p in params.items()}
                for n, p in params.items():
                    p.copy_(self.ema[n])
            try:
                yield self.model
            finally:
                self._reshard()
                with torch.no_grad():
                    for n, p in params.items():
                        p.copy_(saved[n])
        else:
            raise ValueError(f"teacher.kind: unknown {kind!r}; valid: live, frozen, ema")
