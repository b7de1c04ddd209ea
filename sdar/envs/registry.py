"""Environment families by name: an explicit table, imported lazily.

Each entry maps a name to ``"module:attribute"`` of its `EnvSpec` and a one-line
description, so listing families never imports optional heavy dependencies (the real
ALFWorld family needs ``alfworld``/``textworld``). To add a family, add one row.
"""

from __future__ import annotations

import importlib
from types import MappingProxyType

from sdar.envs.base import EnvError, EnvSpec

ENVS = MappingProxyType(
    {
        "household": (
            "sdar.envs.household.spec:SPEC",
            "Built-in procedural ALFWorld-style household (pure Python, no data files).",
        ),
        "alfworld": (
            "sdar.envs.alfworld.spec:SPEC",
            "Real ALFWorld text games (json_2.1.1); needs the 'alfworld' extra and data.",
        ),
        "webshop": (
            "sdar.envs.webshop.spec:SPEC",
            "WebShop (1,000 products): search, pick options, buy; real catalogue or built-in twin.",
        ),
        "searchqa": (
            "sdar.envs.searchqa.spec:SPEC",
            "Search-QA (Search-R1 setting): search a corpus, answer by exact match; twin built in.",
        ),
    }
)


def list_envs() -> list[tuple[str, str]]:
    """``[(name, description), ...]`` for every registered family, without importing any."""
    return [(name, description) for name, (_, description) in ENVS.items()]


def get_env_spec(name: str) -> EnvSpec:
    """Import and return the `EnvSpec` registered under ``name``."""
    if name not in ENVS:
        raise ValueError(f"unknown environment {name!r}; valid names: {', '.join(ENVS)}")
    target = ENVS[name][0]
    module_name, attribute = target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise EnvError(
            f"environment {name!r} could not be imported from {module_name} ({exc}); "
            f"install its optional dependencies (see docs/envs.md)"
        ) from exc
    spec = getattr(module, attribute, None)
    if not isinstance(spec, EnvSpec):
        raise TypeError(f"{target} should be an EnvSpec, got {type(spec).__name__}")
    return spec
