"""Options of the Search-QA family and where its data comes from.

Data is looked up in this order:

1. the ``corpus`` / ``questions`` / ``eval_questions`` options (files);
2. the ``data_dir`` option, else ``$SEARCHQA_DATA``, else ``~/.cache/sdar/searchqa`` if
   that folder exists: ``corpus.jsonl`` plus question files (training: ``train.jsonl`` or
   ``train.parquet``; evaluation: ``test.*``, else ``dev.*``; a folder with one question
   file uses it for both);
3. otherwise the built-in twin (`sdar.envs.searchqa.twin`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from sdar.envs.base import EnvError

RETRIEVERS = ("bm25", "dense", "http")
DEFAULT_DATA_DIR = "~/.cache/sdar/searchqa"
DATA_HELP = (
    "Search-QA data is a folder with corpus.jsonl (Search-R1's wiki-18 line format) and "
    "question files (train.jsonl|parquet, test.* or dev.*); point the `data_dir` option or "
    "$SEARCHQA_DATA at it, or name files with the `corpus` and `questions` options. "
    "Without any, the built-in twin is used."
)
_TRAIN_FILES = ("train.jsonl", "train.parquet")
_EVAL_FILES = ("test.jsonl", "test.parquet", "dev.jsonl", "dev.parquet")


@dataclass(frozen=True)
class SearchQAOptions:
    """Search-QA options; every field has a default, so ``{}`` is valid (the twin)."""

    data_dir: str | None = None
    """Folder with corpus.jsonl and question files (see the module docstring)."""
    corpus: str | None = None
    """Corpus jsonl; overrides the data folder's."""
    questions: str | None = None
    """Training questions (jsonl or parquet); overrides the data folder's."""
    eval_questions: str | None = None
    """Evaluation questions; default: the data folder's test/dev file, else ``questions``."""
    retriever: str = "bm25"
    """bm25 (bm25s, built in), dense (sdar[dense]) or http (a Search-R1 retrieval server)."""
    url: str = "http://127.0.0.1:8000/retrieve"
    """The retrieval server for ``retriever: http``."""
    timeout: float = 30.0
    """Seconds per HTTP request (``retriever: http``); 3 tries with back-off."""
    index_dir: str | None = None
    """Cache folder for indexes; None: $SEARCHQA_CACHE, else ~/.cache/sdar/searchqa-index."""
    dense_model: str = "intfloat/e5-base-v2"
    topk: int = 3
    """Passages per search (Search-R1: 3)."""
    max_steps: int = 4
    """Turns per episode (SDAR_SPEC 5: 4); the episode ends lost at the cap."""
    twin_seed: int = 0
    """Seed of the built-in twin world."""


@dataclass(frozen=True)
class DataSources:
    """Resolved files; no questions means the twin (``corpus`` is None with ``http``)."""

    corpus: Path | None
    train_questions: Path | None
    eval_questions: Path | None

    @property
    def twin(self) -> bool:
        return self.train_questions is None


def _check_int(errors: list[str], options: Mapping[str, Any], key: str, low: int) -> None:
    value = options.get(key, getattr(SearchQAOptions, key))
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        errors.append(f"{key}: expected an integer >= {low}, got {value!r}")


def parse_options(options: Mapping[str, Any] | None) -> SearchQAOptions:
    """Validate a dict of Search-QA options; ValueError lists every problem at once."""
    options = dict(options or {})
    known = [f.name for f in fields(SearchQAOptions)]
    errors = [
        f"unknown Search-QA option {key!r} (valid: {', '.join(known)})"
        for key in options
        if key not in known
    ]
    for key in ("data_dir", "corpus", "questions", "eval_questions", "index_dir"):
        value = options.get(key)
        if value is not None and not isinstance(value, (str, os.PathLike)):
            errors.append(f"{key}: expected a path string or None, got {value!r}")
    for key in ("url", "dense_model"):
        if not isinstance(options.get(key, ""), str):
            errors.append(f"{key}: expected a string, got {options[key]!r}")
    if options.get("retriever", "bm25") not in RETRIEVERS:
        errors.append(
            f"retriever: expected one of {', '.join(RETRIEVERS)}, got {options['retriever']!r}"
        )
    timeout = options.get("timeout", SearchQAOptions.timeout)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        errors.append(f"timeout: expected a number of seconds > 0, got {timeout!r}")
    _check_int(errors, options, "topk", 1)
    _check_int(errors, options, "max_steps", 1)
    _check_int(errors, options, "twin_seed", 0)
    if errors:
        raise ValueError("invalid Search-QA options:\n  " + "\n  ".join(errors))
    paths = {k: os.fspath(v) for k, v in options.items() if isinstance(v, os.PathLike)}
    return SearchQAOptions(**{**options, **paths, "timeout": float(timeout)})


def _first(folder: Path, names: tuple[str, ...]) -> Path | None:
    return next((folder / n for n in names if (folder / n).is_file()), None)


def _has_data(folder: Path, config: SearchQAOptions) -> bool:
    """A corpus, or (for a retrieval server, which holds the corpus) question files."""
    if (folder / "corpus.jsonl").is_file():
        return True
    return config.retriever == "http" and _first(folder, _TRAIN_FILES + _EVAL_FILES) is not None


def _data_folder(config: SearchQAOptions) -> Path | None:
    for where, raw in (("data_dir", config.data_dir), ("$SEARCHQA_DATA", _env("SEARCHQA_DATA"))):
        if raw:
            folder = Path(raw).expanduser()
            if not _has_data(folder, config):
                raise EnvError(f"Search-QA {where} {folder} has no corpus.jsonl. {DATA_HELP}")
            return folder
    folder = Path(DEFAULT_DATA_DIR).expanduser()
    return folder if _has_data(folder, config) else None


def _env(name: str) -> str | None:
    return os.environ.get(name) or None


def resolve_sources(config: SearchQAOptions) -> DataSources:
    """Where corpus and questions come from (order in the module docstring)."""
    explicit = config.corpus or config.questions or config.eval_questions
    folder = None if (config.corpus and config.questions) else _data_folder(config)
    if folder is None and not explicit:
        return DataSources(None, None, None)
    corpus = Path(config.corpus) if config.corpus else None
    if corpus is None and folder is not None and (folder / "corpus.jsonl").is_file():
        corpus = folder / "corpus.jsonl"
    train = Path(config.questions) if config.questions else None
    evaluation = Path(config.eval_questions) if config.eval_questions else None
    if folder is not None:
        train = train or _first(folder, _TRAIN_FILES) or _first(folder, _EVAL_FILES)
        evaluation = evaluation or _first(folder, _EVAL_FILES)
    evaluation = evaluation or train
    train = train or evaluation
    if train is None or (corpus is None and config.retriever != "http"):
        raise EnvError(
            f"Search-QA needs both a corpus and questions (got corpus={config.corpus!r}, "
            f"questions={config.questions!r}). {DATA_HELP}"
        )
    return DataSources(corpus, train, evaluation)
