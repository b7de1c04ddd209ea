"""`SPEC`: the Search-QA family (Search-R1's setting) as the rollout sees it.

Options: see `sdar.envs.searchqa.options` (data files or folder, retriever, topk 3,
max_steps 4); ``{}`` plays the built-in twin. An unknown key is a ValueError naming it.

Task pools (a task's ``task_type`` and ``data_source`` are the question's data source;
``extra`` holds ``question``, ``answers`` (read by the ``gold_answer`` privileged context)
and the oracle's ``expert_queries``):

* ``train_tasks(options, seed, n)``: seeded draws from the training questions, in
  shuffled passes, so a batch repeats a question only when ``n`` exceeds the pool;
* ``eval_tasks(options, n)``: the first ``n`` evaluation questions in file order,
  cycling when ``n`` is larger (Search-R1 evaluates on the whole test file).

Rewards (SDAR_SPEC 1.3): 1 for an exact match of the final answer, invalid-action penalty
0.01; at most 4 turns.
"""

from __future__ import annotations

import random
from typing import Any

from sdar.envs.base import EnvSpec, Task, check_task_count
from sdar.envs.searchqa.backend import retriever_for, task_pool
from sdar.envs.searchqa.env import SearchQAEnv
from sdar.envs.searchqa.options import parse_options
from sdar.envs.searchqa.projection import search_project
from sdar.envs.searchqa.prompt import search_prompt
from sdar.envs.searchqa.twin import DIRECT, MULTI_HOP

DATA_SOURCES = (
    "nq",
    "triviaqa",
    "popqa",
    "hotpotqa",
    "2wikimultihopqa",
    "musique",
    "bamboogle",
    DIRECT,
    MULTI_HOP,
)
"""Search-R1's seven test sets and the twin's two question kinds."""


def make(options: dict[str, Any]) -> SearchQAEnv:
    """One env over the configured retriever (shared by every env of the process)."""
    config = parse_options(options)
    return SearchQAEnv(retriever_for(config), topk=config.topk, max_steps=config.max_steps)


def train_tasks(options: dict[str, Any], seed: int, n: int) -> list[Task]:
    """``n`` seeded draws from the training questions (shuffled passes)."""
    check_task_count(n)
    pool = task_pool(parse_options(options), "train")
    rng = random.Random(f"searchqa-train:{seed}")
    tasks: list[Task] = []
    while len(tasks) < n:
        order = list(pool)
        rng.shuffle(order)
        tasks.extend(order[: n - len(tasks)])
    return tasks


def eval_tasks(options: dict[str, Any], n: int) -> list[Task]:
    """The first ``n`` evaluation questions in file order (cycling past the end)."""
    check_task_count(n)
    pool = task_pool(parse_options(options), "eval")
    return [pool[i % len(pool)] for i in range(n)]


SPEC = EnvSpec(
    name="searchqa",
    description=(
        "Search-QA (Search-R1 setting): <search> a BM25/dense/HTTP retriever, top-3 "
        "passages, <answer> scored by exact match; built-in twin without data."
    ),
    make=make,
    prompt=search_prompt,
    project=search_project,
    task_types=DATA_SOURCES,
    train_tasks=train_tasks,
    eval_tasks=eval_tasks,
    stop_strings=("</search>", "</answer>"),
    success_reward=1.0,
    invalid_penalty=0.01,
    max_steps=4,
)
