"""Options of the WebShop family, parsed from the plain dict the rollout passes around."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

CATALOGUES = ("auto", "real", "builtin")
EVAL_SPLITS = ("test", "train", "all")
ENGINES = ("sdar", "original")
TEST_SIZE = 500
"""Goals with ``shuffle_index`` below this form the test pool (WebShop's test split, the
one verl-agent validates on); the rest are the training pool."""


@dataclass(frozen=True)
class WebShopOptions:
    """WebShop options; every field has a default, so ``{}`` is a valid options dict."""

    data_dir: str | None = None
    """Catalogue folder; None: ``$WEBSHOP_DATA``, else ~/.cache/webshop when it holds one."""
    catalogue: str = "auto"
    """``real`` (the folder, an error if absent), ``builtin`` (the generated twin) or
    ``auto`` (real when a folder is configured or found, else the twin)."""
    goals: str = "synthetic"
    """``synthetic``, ``human`` or the path of a goals .jsonl in that format."""
    eval_split: str = "test"
    """Pool of the evaluation panel: ``test`` (shuffle_index < 500), ``train`` or ``all``."""
    max_steps: int = 15
    """Episode length cap: the step that reaches it ends the episode (done=True)."""
    twin_products: int = 1000
    """Products in the built-in twin catalogue."""
    twin_seed: int = 0
    """Seed of the built-in twin catalogue."""
    engine: str = "sdar"
    """``sdar`` (this package) or ``original`` (princeton-nlp/WebShop's text env, if installed)."""


def parse_options(options: Mapping[str, Any] | None) -> WebShopOptions:
    """Validate a dict of WebShop options; ValueError lists every problem at once."""
    options = dict(options or {})
    known = {f.name for f in fields(WebShopOptions)}
    errors = [
        f"unknown WebShop option {key!r} (valid: {', '.join(sorted(known))})"
        for key in options
        if key not in known
    ]
    data_dir = options.get("data_dir")
    if data_dir is not None and not isinstance(data_dir, (str, os.PathLike)):
        errors.append(f"data_dir: expected a path string or None, got {data_dir!r}")
    for key, valid in (("catalogue", CATALOGUES), ("eval_split", EVAL_SPLITS), ("engine", ENGINES)):
        value = options.get(key, getattr(WebShopOptions, key))
        if value not in valid:
            errors.append(f"{key}: expected one of {', '.join(valid)}, got {value!r}")
    goals = options.get("goals", WebShopOptions.goals)
    if not isinstance(goals, (str, os.PathLike)) or not str(goals):
        errors.append(f"goals: expected synthetic, human or a .jsonl path, got {goals!r}")
    for key, low in (("max_steps", 1), ("twin_products", 10), ("twin_seed", 0)):
        value = options.get(key, getattr(WebShopOptions, key))
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            errors.append(f"{key}: expected an integer >= {low}, got {value!r}")
    if options.get("catalogue") == "builtin" and data_dir is not None:
        errors.append("data_dir is set but catalogue is 'builtin'; drop one of them")
    if errors:
        raise ValueError("invalid WebShop options:\n  " + "\n  ".join(errors))
    return WebShopOptions(
        data_dir=None if data_dir is None else os.fspath(data_dir),
        catalogue=options.get("catalogue", WebShopOptions.catalogue),
        goals=os.fspath(goals),
        eval_split=options.get("eval_split", WebShopOptions.eval_split),
        max_steps=options.get("max_steps", WebShopOptions.max_steps),
        twin_products=options.get("twin_products", WebShopOptions.twin_products),
        twin_seed=options.get("twin_seed", WebShopOptions.twin_seed),
        engine=options.get("engine", WebShopOptions.engine),
    )
