"""The shop's data: products, the price each purchase is charged, and the goals.

A catalogue folder holds (the format of ``shared/data/webshop``; docs/webshop.md says how
to build one from WebShop's own files)::

    products_1000.jsonl     one product per line, as WebShop's ``load_products`` makes it
    goals_synthetic.jsonl   one goal per line (WebShop's synthetic-goal rule)
    goals_human.jsonl       WebShop's human goals (optional)

The folder is the ``data_dir`` option, else ``$WEBSHOP_DATA``, else ``~/.cache/webshop``.

Prices: a product priced as a range is charged one draw from it, made as WebShop makes
them (``random.uniform(low, high)`` per range-priced product, in catalogue order, from a
generator seeded 0, the seed the shared goal files were built with); an empty price is
$100. Goals keep WebShop's fields (``asin``, ``instruction_text``, ``attributes``,
``goal_options``, ``price_upper``, ``category``, ``query``, ``name``,
``product_category``) plus ``shuffle_index`` (the position in WebShop's seed-233
shuffle), which orders them.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from sdar.envs.base import EnvError

logger = logging.getLogger(__name__)

PRODUCTS_FILE = "products_1000.jsonl"
GOAL_FILES = MappingProxyType({"synthetic": "goals_synthetic.jsonl", "human": "goals_human.jsonl"})
DATA_ENV = "WEBSHOP_DATA"
DEFAULT_DATA_DIR = "~/.cache/webshop"
DATA_HELP = (
    "Point the `data_dir` option (or `--data-dir`, or the WEBSHOP_DATA environment "
    f"variable) at a folder holding {PRODUCTS_FILE} and goals_synthetic.jsonl (the format "
    "of shared/data/webshop; docs/webshop.md says how to build it from WebShop's files), "
    "or leave all three unset to use the built-in twin catalogue."
)
PRICE_SEED = 0
"""Seed of the range-price draws (the shared goal files were built with it)."""
PRODUCT_KEYS = (
    "asin", "Title", "Description", "BulletPoints", "Price", "pricing", "options",
    "Attributes", "category", "query", "product_category", "name",
)  # fmt: skip
GOAL_KEYS = ("asin", "instruction_text", "attributes", "goal_options", "price_upper")
_FROM_PRODUCT = ("category", "query", "name", "product_category")


@dataclass(frozen=True, eq=False)
class Catalogue:
    """A shop's products, prices and goals (read-only once built).

    ``products`` maps ASIN -> product dict in WebShop's schema, in catalogue order;
    ``prices`` maps ASIN -> the price a purchase is charged; ``goals`` are ordered by
    ``shuffle_index``; ``fingerprint`` identifies the products (it keys the search index
    cache); ``source`` says where they came from, for messages. Catalogues compare and
    hash by identity: the loaders cache them, so one catalogue is one object per process.
    """

    products: Mapping[str, dict[str, Any]]
    prices: Mapping[str, float]
    goals: tuple[dict[str, Any], ...]
    fingerprint: str
    source: str


def product_prices(
    products: Sequence[Mapping[str, Any]], seed: int = PRICE_SEED
) -> dict[str, float]:
    """ASIN -> charged price: the single price, a seeded draw in a range, or 100 if empty."""
    rng = random.Random(seed)
    prices: dict[str, float] = {}
    for product in products:
        pricing = product["pricing"]
        if not pricing:
            prices[product["asin"]] = 100.0
        elif len(pricing) == 1:
            prices[product["asin"]] = float(pricing[0])
        else:
            prices[product["asin"]] = rng.uniform(*pricing[:2])
    return prices


def resolve_data_dir(data_dir: str | os.PathLike[str] | None) -> Path | None:
    """The catalogue folder: the option, else ``$WEBSHOP_DATA``, else the default cache
    folder when it holds a catalogue; None when nothing is configured (use the twin)."""
    if data_dir is not None:
        return Path(data_dir).expanduser().resolve()
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV]).expanduser().resolve()
    default = Path(DEFAULT_DATA_DIR).expanduser()
    return default.resolve() if (default / PRODUCTS_FILE).is_file() else None


def goals_path(folder: Path, goals: str) -> Path:
    """The goal file named by the ``goals`` option: synthetic, human, or a .jsonl path."""
    return folder / GOAL_FILES[goals] if goals in GOAL_FILES else Path(goals).expanduser()


def load_catalogue(folder: Path, goals: str) -> Catalogue:
    """Read a catalogue folder and a goal file (cached per process; EnvError if missing)."""
    products_file = folder / PRODUCTS_FILE
    goal_file = goals_path(folder, goals)
    for path in (products_file, goal_file):
        if not path.is_file():
            raise EnvError(f"WebShop data not found: {path} does not exist. {DATA_HELP}")
    stamp = tuple(p.stat().st_mtime_ns for p in (products_file, goal_file))
    return _load(str(products_file), str(goal_file), stamp)


@functools.lru_cache(maxsize=4)
def _load(products_file: str, goal_file: str, stamp: tuple[int, ...]) -> Catalogue:
    raw = Path(products_file).read_bytes()
    products = [json.loads(line) for line in raw.decode("utf-8").splitlines() if line.strip()]
    for i, product in enumerate(products):
        missing = [k for k in PRODUCT_KEYS if k not in product]
        if missing:
            raise EnvError(f"{products_file} line {i + 1}: product lacks {missing}. {DATA_HELP}")
    by_asin = {p["asin"]: p for p in products}
    goals = read_goals(Path(goal_file), by_asin)
    logger.info(
        "WebShop catalogue: %d products, %d goals from %s", len(by_asin), len(goals), goal_file
    )
    return Catalogue(
        products=MappingProxyType(by_asin),
        prices=MappingProxyType(product_prices(products)),
        goals=tuple(goals),
        fingerprint=hashlib.sha256(raw).hexdigest()[:16],
        source=str(Path(products_file).parent),
    )


def read_goals(path: Path, products: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Goals from a jsonl file, checked against the products, in ``shuffle_index`` order.

    Goals without ``shuffle_index`` keep their file order after those with one; missing
    ``category``/``query``/``name``/``product_category`` are copied from the target.
    """
    goals = []
    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        goal = json.loads(line)
        missing = [k for k in GOAL_KEYS if k not in goal]
        if missing:
            raise EnvError(f"{path} line {line_no}: goal lacks {missing}; see docs/webshop.md")
        if goal["asin"] not in products:
            raise EnvError(
                f"{path} line {line_no}: goal targets {goal['asin']!r}, which the catalogue "
                "does not hold; use goals made for this catalogue"
            )
        product = products[goal["asin"]]
        for key in _FROM_PRODUCT:
            goal.setdefault(key, product["Title"] if key == "name" else product[key])
        goals.append(goal)
    if not goals:
        raise EnvError(f"{path} holds no goals; see docs/webshop.md for the format")
    order = sorted(range(len(goals)), key=lambda i: (goals[i].get("shuffle_index", 1 << 62), i))
    return [goals[i] for i in order]
