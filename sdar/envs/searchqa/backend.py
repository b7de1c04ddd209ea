"""Build retrievers and task pools from options, once per process.

A training run builds one env per rollout slot (B x G of them), and every one needs the
same index; the trainer asks for tasks every step. So `retriever_for` and `task_pool`
memoise on the resolved settings (file path plus modification time); the cached objects
are read-only after construction.
"""

from __future__ import annotations

import functools
from pathlib import Path

from sdar.envs.base import EnvError, Task
from sdar.envs.searchqa.data import Question, load_questions
from sdar.envs.searchqa.options import DATA_HELP, SearchQAOptions, resolve_sources
from sdar.envs.searchqa.remote import HttpRetriever
from sdar.envs.searchqa.retrievers import BM25Retriever, DenseRetriever, Retriever
from sdar.envs.searchqa.twin import make_world


def make_task(question: Question, index: int, expert_queries: tuple[str, ...] = ()) -> Task:
    """A Task carrying everything an episode needs: the question, answers, oracle queries.

    ``task_type`` is the data source, so per-task-type rates are per-data-source EM.
    """
    return Task(
        task_id=question.qid,
        task_type=question.data_source,
        seed=index,
        data_source=question.data_source,
        extra={
            "question": question.question,
            "answers": list(question.golden_answers),
            "expert_queries": list(expert_queries or (question.question,)),
        },
    )


def _stamp(path: Path | None) -> tuple[str, int]:
    if path is None:
        return "", 0
    if not path.is_file():
        raise EnvError(f"Search-QA file {path} not found. {DATA_HELP}")
    return str(path.resolve()), path.stat().st_mtime_ns


@functools.lru_cache(maxsize=8)
def _twin_tasks(seed: int, split: str) -> tuple[Task, ...]:
    world = make_world(seed)
    pool = world.train if split == "train" else world.eval
    return tuple(make_task(q.question, i, q.expert_queries) for i, q in enumerate(pool))


@functools.lru_cache(maxsize=8)
def _file_tasks(path: str, mtime: int) -> tuple[Task, ...]:
    return tuple(make_task(q, i) for i, q in enumerate(load_questions(path)))


def task_pool(config: SearchQAOptions, split: str) -> tuple[Task, ...]:
    """All tasks of ``split`` ("train" or "eval"), in file (or generation) order."""
    sources = resolve_sources(config)
    if sources.twin:
        return _twin_tasks(config.twin_seed, split)
    path = sources.train_questions if split == "train" else sources.eval_questions
    return _file_tasks(*_stamp(path))


@functools.lru_cache(maxsize=4)
def _bm25(corpus: str, mtime: int, index_dir: str | None) -> BM25Retriever:
    return BM25Retriever.from_file(corpus, index_dir)


@functools.lru_cache(maxsize=2)
def _dense(corpus: str, mtime: int, index_dir: str | None, model: str) -> DenseRetriever:
    return DenseRetriever.from_file(corpus, index_dir, model=model)


@functools.lru_cache(maxsize=4)
def _twin_bm25(seed: int) -> BM25Retriever:
    return BM25Retriever(make_world(seed).passages)


def corpus_retriever(
    kind: str,
    corpus: str | Path | None,
    *,
    url: str = "http://127.0.0.1:8000/retrieve",
    timeout: float = 30.0,
    index_dir: str | None = None,
    dense_model: str = "intfloat/e5-base-v2",
    twin_seed: int = 0,
) -> Retriever:
    """A ``kind`` (bm25, dense, http) retriever over ``corpus`` (None: the twin's passages)."""
    if kind == "http":
        return HttpRetriever(url, timeout=timeout)
    if kind not in ("bm25", "dense"):
        raise ValueError(f"unknown retriever {kind!r}; valid: bm25, dense, http")
    if corpus is None:
        if kind == "dense":
            return DenseRetriever(make_world(twin_seed).passages, model=dense_model)
        return _twin_bm25(twin_seed)
    path, mtime = _stamp(Path(corpus))
    if kind == "dense":
        return _dense(path, mtime, index_dir, dense_model)
    return _bm25(path, mtime, index_dir)


def retriever_for(config: SearchQAOptions) -> Retriever:
    """The retriever the options name, over the resolved corpus (or the twin's)."""
    corpus = None if config.retriever == "http" else resolve_sources(config).corpus
    return corpus_retriever(
        config.retriever,
        corpus,
        url=config.url,
        timeout=config.timeout,
        index_dir=config.index_dir,
        dense_model=config.dense_model,
        twin_seed=config.twin_seed,
    )
