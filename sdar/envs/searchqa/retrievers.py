"""Retrievers behind one interface: ``search(queries, topk) -> one passage list per query``.

* `BM25Retriever`: ``bm25s`` over the passages' ``contents`` (English stopwords, no
  stemmer, BM25 defaults: Lucene scoring, k1 = 1.5, b = 0.75). An index built from a
  corpus file is saved under the cache folder, keyed by the file's SHA-256 and the
  settings, so later runs load it instead of re-indexing.
* `DenseRetriever`: a sentence-transformers encoder (e5-base-v2 by default, with e5's
  ``query: `` / ``passage: `` prefixes) and an exact inner-product faiss index over
  normalised embeddings; the optional extra ``sdar[dense]``. Embeddings of a corpus file
  are cached like the BM25 index.
* `sdar.envs.searchqa.remote.HttpRetriever`: a client for a Search-R1 retrieval server.

Passages come back best first; ``topk`` larger than the corpus gives the whole corpus.
"""

from __future__ import annotations

import importlib
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from sdar.envs.base import EnvError
from sdar.envs.searchqa.data import Passage, file_digest, load_corpus

logger = logging.getLogger(__name__)

STOPWORDS = "en"
DENSE_MODEL = "intfloat/e5-base-v2"
DENSE_HELP = (
    "the dense retriever needs sentence-transformers and faiss: pip install 'sdar[dense]' "
    "(and the encoder's weights in the Hugging Face cache, since nothing is downloaded here)"
)


class Retriever(Protocol):
    """Top-k passages for each query, best first."""

    def search(self, queries: Sequence[str], topk: int) -> list[list[Passage]]: ...


def default_cache_dir() -> Path:
    """``$SEARCHQA_CACHE``, else ``~/.cache/sdar/searchqa-index``."""
    return Path(os.environ.get("SEARCHQA_CACHE", Path.home() / ".cache/sdar/searchqa-index"))


def _check_topk(topk: int) -> None:
    if isinstance(topk, bool) or not isinstance(topk, int) or topk < 1:
        raise ValueError(f"topk must be an integer >= 1, got {topk!r}")


def _save_atomically(target: Path, write: Any) -> None:
    """``write(tmp_dir)`` then rename to ``target``: readers never see half an index."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
    try:
        write(tmp)
        os.replace(tmp, target)
    except OSError:  # another process won the race, or the disk is read-only: keep going
        logger.warning("could not cache the search index at %s", target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _bm25s() -> Any:
    try:
        module = importlib.import_module("bm25s")
    except ImportError:
        raise EnvError("the BM25 retriever needs bm25s: pip install 'bm25s==0.3.16'") from None
    # bm25s sets its logger to DEBUG on import, which floods any configured handler;
    # let it inherit the application's level instead.
    bm25s_logger = logging.getLogger("bm25s")
    if bm25s_logger.level == logging.DEBUG:
        bm25s_logger.setLevel(logging.NOTSET)
    return module


class BM25Retriever:
    """BM25 over passage contents with ``bm25s`` (settings in the module docstring)."""

    def __init__(self, passages: Sequence[Passage], index: Any = None) -> None:
        if not passages:
            raise ValueError("BM25Retriever needs at least one passage")
        self._bm25s = _bm25s()
        self.ids = [p.id for p in passages]
        self.contents = [p.contents for p in passages]
        if index is None:
            tokens = self._bm25s.tokenize(self.contents, stopwords=STOPWORDS, show_progress=False)
            index = self._bm25s.BM25()
            index.index(tokens, show_progress=False)
        self.index = index

    @classmethod
    def from_file(cls, corpus: str | Path, cache_dir: str | Path | None = None) -> BM25Retriever:
        """Load a jsonl corpus; reuse (or build and save) its index under ``cache_dir``."""
        bm25s = _bm25s()
        passages = load_corpus(corpus)
        key = f"bm25s-{bm25s.__version__}-{STOPWORDS}-{file_digest(corpus)[:20]}"
        folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        target = folder / key
        if (target / "params.index.json").is_file():
            try:
                return cls(passages, bm25s.BM25.load(str(target)))
            except (OSError, ValueError) as exc:
                logger.warning("rebuilding the unreadable BM25 index at %s: %s", target, exc)
        retriever = cls(passages)
        _save_atomically(target, lambda tmp: retriever.index.save(str(tmp)))
        logger.info("indexed %d passages of %s (cache %s)", len(passages), corpus, target)
        return retriever

    def search(self, queries: Sequence[str], topk: int) -> list[list[Passage]]:
        _check_topk(topk)
        if not queries:
            return []
        tokens = self._bm25s.tokenize(list(queries), stopwords=STOPWORDS, show_progress=False)
        k = min(topk, len(self.ids))
        docs, scores = self.index.retrieve(tokens, k=k, show_progress=False)
        ids, contents = self.ids, self.contents
        return [
            [
                Passage(ids[i], contents[i], s)
                for i, s in zip(row.tolist(), srow.tolist(), strict=True)
            ]
            for row, srow in zip(docs, scores, strict=True)
        ]


class Encoder(Protocol):
    """What `DenseRetriever` needs from an embedding model (sentence-transformers')."""

    def encode(self, texts: list[str], **kwargs: Any) -> Any: ...


class DenseRetriever:
    """Exact inner-product search over normalised embeddings (faiss ``IndexFlatIP``)."""

    def __init__(
        self,
        passages: Sequence[Passage],
        encoder: Encoder | None = None,
        *,
        model: str = DENSE_MODEL,
        embeddings: Any = None,
        query_prefix: str = "query: ",
        passage_prefix: str = "passage: ",
    ) -> None:
        if not passages:
            raise ValueError("DenseRetriever needs at least one passage")
        try:
            self._faiss = importlib.import_module("faiss")
            self._np = importlib.import_module("numpy")
        except ImportError as exc:
            raise EnvError(f"{DENSE_HELP} (import failed: {exc})") from None
        self.encoder = encoder if encoder is not None else load_encoder(model)
        self.passages = list(passages)
        self.query_prefix = query_prefix
        if embeddings is None:
            embeddings = self._embed([passage_prefix + p.contents for p in self.passages])
        self.embeddings = embeddings
        self.index = self._faiss.IndexFlatIP(embeddings.shape[1])
        self.index.add(embeddings)

    @classmethod
    def from_file(
        cls,
        corpus: str | Path,
        cache_dir: str | Path | None = None,
        *,
        model: str = DENSE_MODEL,
        encoder: Encoder | None = None,
    ) -> DenseRetriever:
        """Load a jsonl corpus; reuse (or compute and save) its embeddings."""
        passages = load_corpus(corpus)
        np = importlib.import_module("numpy")
        name = model.replace("/", "--")
        target = (Path(cache_dir) if cache_dir is not None else default_cache_dir()) / (
            f"dense-{name}-{file_digest(corpus)[:20]}"
        )
        cached = target / "embeddings.npy"
        embeddings = np.load(cached) if cached.is_file() else None
        retriever = cls(passages, encoder, model=model, embeddings=embeddings)
        if embeddings is None:
            _save_atomically(
                target, lambda tmp: np.save(tmp / "embeddings.npy", retriever.embeddings)
            )
        return retriever

    def _embed(self, texts: list[str]) -> Any:
        vectors = self._np.asarray(self.encoder.encode(texts), dtype="float32")
        norms = self._np.linalg.norm(vectors, axis=1, keepdims=True)
        return self._np.ascontiguousarray(vectors / self._np.maximum(norms, 1e-12))

    def search(self, queries: Sequence[str], topk: int) -> list[list[Passage]]:
        _check_topk(topk)
        if not queries:
            return []
        vectors = self._embed([self.query_prefix + q for q in queries])
        scores, rows = self.index.search(vectors, min(topk, len(self.passages)))
        return [
            [
                Passage(self.passages[i].id, self.passages[i].contents, float(s))
                for i, s in zip(row.tolist(), srow.tolist(), strict=True)
                if i >= 0
            ]
            for row, srow in zip(rows, scores, strict=True)
        ]


def load_encoder(model: str) -> Encoder:
    """A sentence-transformers model from the local cache (EnvError when unavailable)."""
    try:
        sentence_transformers = importlib.import_module("sentence_transformers")
    except ImportError as exc:
        raise EnvError(f"{DENSE_HELP} (import failed: {exc})") from None
    try:
        return sentence_transformers.SentenceTransformer(model)
    except Exception as exc:  # hub/offline errors come in many types
        raise EnvError(f"could not load the encoder {model!r}: {exc}. {DENSE_HELP}") from exc
