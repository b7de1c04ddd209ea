"""BM25 search over the catalogue with ``bm25s``, in place of WebShop's Lucene (no Java).

Each product is indexed as WebShop indexes it: its title, description, first bullet
point and option text (``name: v1, v2, and name: v1``), lower-cased. Tokens are runs of
two or more word characters, English stop words are dropped and plural endings are
folded (``-ies`` -> ``-y``, ``-es`` -> ``-e``, ``-s`` -> ``''``; Harman's S-stemmer, a
light stand-in for Lucene's Porter stemmer). Scores are BM25 with Lucene's defaults
(k1 = 0.9, b = 0.4); ties keep catalogue order. A search returns the top 50 ASINs.

The index is built once per catalogue and saved under
``~/.cache/sdar/webshop-index/<fingerprint>/`` (``$SDAR_CACHE`` replaces ``~/.cache/sdar``),
so later processes load it instead of rebuilding.
"""

from __future__ import annotations

import functools
import logging
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import bm25s
import numpy as np

from sdar.envs.webshop.catalogue import Catalogue

logger = logging.getLogger(__name__)

TOP_K = 50
"""Results per search (WebShop's SEARCH_RETURN_N)."""
K1, B = 0.9, 0.4
_TOKEN = re.compile(r"(?u)\b\w\w+\b")
_STOPWORD_TEXT = (
    "a an and are as at be but by for if in into is it no not of on or such that the "
    "their then there these they this to was will with"
)
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())
"""Lucene's English stop words (EnglishAnalyzer's default set)."""


def document_text(product: Mapping[str, Any]) -> str:
    """The indexed text of a product (module docstring)."""
    options = ", and ".join(
        f"{name}: {', '.join(vals)}" for name, vals in product["options"].items()
    )
    bullets = product["BulletPoints"]
    first = bullets[0] if bullets else ""
    return " ".join([product["Title"], product["Description"], first, options]).lower()


def stem(token: str) -> str:
    """Harman's S-stemmer.

    >>> [stem(w) for w in ("batteries", "shoes", "glass", "lens", "dress")]
    ['battery', 'shoe', 'glass', 'len', 'dress']
    """
    if token.endswith("ies") and not token.endswith(("eies", "aies")):
        return token[:-3] + "y"
    if token.endswith("es") and not token.endswith(("aes", "ees", "oes")):
        return token[:-1]
    if token.endswith("s") and not token.endswith(("us", "ss")):
        return token[:-1]
    return token


def tokenize(text: str) -> list[str]:
    """Lower-cased, stop-word-free, stemmed tokens of ``text``."""
    return [stem(t) for t in _TOKEN.findall(text.lower()) if t not in _STOPWORDS]


def cache_root() -> Path:
    """``$SDAR_CACHE`` or ``~/.cache/sdar``: where built indexes are kept."""
    return Path(os.environ.get("SDAR_CACHE", "~/.cache/sdar")).expanduser()


class ShopSearch:
    """BM25 over one catalogue: ``search(query) -> [asin, ...]`` (best first, at most 50)."""

    def __init__(self, asins: Sequence[str], model: bm25s.BM25) -> None:
        self.asins = tuple(asins)
        self.model = model
        self.vocab = model.vocab_dict

    def search(self, query: str, k: int = TOP_K) -> list[str]:
        ids = [self.vocab[t] for t in tokenize(query) if t in self.vocab]
        if not ids:
            return []
        scores = self.model.get_scores(ids)
        hits = np.flatnonzero(scores > 0)
        order = hits[np.lexsort((hits, -scores[hits]))][:k]
        return [self.asins[i] for i in order]


@functools.lru_cache(maxsize=4)
def build_search(catalogue: Catalogue) -> ShopSearch:
    """The catalogue's index (once per process): loaded from the disk cache, else built
    and saved there."""
    asins = tuple(catalogue.products)
    folder = cache_root() / "webshop-index" / f"{catalogue.fingerprint}-{len(asins)}"
    if (folder / "params.index.json").is_file():
        try:
            return ShopSearch(asins, bm25s.BM25.load(str(folder), show_progress=False))
        except (OSError, ValueError, KeyError) as exc:
            logger.warning("rebuilding the WebShop index at %s: unreadable (%s)", folder, exc)
    corpus = [tokenize(document_text(catalogue.products[a])) for a in asins]
    model = bm25s.BM25(k1=K1, b=B)
    model.index(corpus, show_progress=False)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        model.save(str(folder), show_progress=False)
    except OSError as exc:  # a read-only home still gets a working in-memory index
        logger.warning("could not cache the WebShop index at %s: %s", folder, exc)
    return ShopSearch(asins, model)
