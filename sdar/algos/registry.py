"""Name -> function tables for the choices a config makes in `sdar.algos`.

Each table is a plain dict literal defined next to the functions it names (the
aggregation, KL, gate and divergence tables live in their modules, which use them to
dispatch their ``agg``/``kind``/``gate`` arguments); this module gathers them. Nothing
is registered at import time and there are no decorators. Lookups of unknown names raise
``ValueError`` listing the valid names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sdar.algos.advantages import grpo_advantages
from sdar.algos.distill import DIVERGENCES, GATES, DivergenceFn, GateFn
from sdar.algos.kl import KL_KINDS
from sdar.algos.masks import AGG_MODES, choose

ADVANTAGE_ESTIMATORS: dict[str, Callable[..., Any]] = {
    "grpo": grpo_advantages,
}

TABLES: dict[str, Mapping[str, Callable[..., Any]]] = {
    "advantage_estimator": ADVANTAGE_ESTIMATORS,
    "agg": AGG_MODES,
    "kl": KL_KINDS,
    "gate": GATES,
    "divergence": DIVERGENCES,
}


def lookup(table_name: str, name: str) -> Callable[..., Any]:
    """Return ``TABLES[table_name][name]``; either name unknown raises ValueError."""
    table = choose("lookup", "table_name", table_name, TABLES)
    return choose("lookup", table_name, name, table)


def get_advantage_estimator(name: str) -> Callable[..., Any]:
    """The advantage estimator called ``name`` (see `ADVANTAGE_ESTIMATORS`)."""
    return choose("get_advantage_estimator", "advantage estimator", name, ADVANTAGE_ESTIMATORS)


def get_kl_kind(name: str) -> Callable[..., Any]:
    """The per-token KL estimator ``(logprobs, ref_logprobs) -> [B, T]`` called ``name``."""
    return choose("get_kl_kind", "KL kind", name, KL_KINDS)


def get_gate(name: str) -> GateFn:
    """The SDAR gate ``(gap, entropy, mask, beta) -> g`` called ``name``."""
    return choose("get_gate", "gate", name, GATES)


def get_divergence(name: str) -> DivergenceFn:
    """The divergence ``(logp_s, logp_t, p_s, p_t) -> [B, T]`` called ``name``."""
    return choose("get_divergence", "divergence", name, DIVERGENCES)
