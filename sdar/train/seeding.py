"""One function derives every sub-seed, so runs (and resumed runs) are reproducible."""

from __future__ import annotations

import hashlib

import torch


def derive_seed(seed: int, *keys: object) -> int:
    """A 31-bit seed from the run seed and keys such as (step, "tasks", rank)."""
    text = ":".join([str(seed), *map(str, keys)])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little") & 0x7FFFFFFF


def make_generator(seed: int, device: str | torch.device = "cpu") -> torch.Generator:
    """A seeded generator on ``device``: sampling on a GPU needs a CUDA generator
    (``torch.multinomial`` rejects a CPU one for CUDA probabilities)."""
    return torch.Generator(device=torch.device(device)).manual_seed(seed)
