"""`SPEC`: the WebShop family as the rollout sees it.

Options (a plain dict, parsed by `parse_options`): ``data_dir``, ``catalogue``
(auto/real/builtin), ``goals`` (synthetic/human/a .jsonl path), ``eval_split``
(test/train/all), ``max_steps`` (15), ``twin_products``, ``twin_seed`` and ``engine``
(sdar/original). An unknown key is a ValueError naming it.

Task pools (goals ordered by ``shuffle_index``, WebShop's seed-233 shuffle; a goal file
without it keeps its line order):

* test pool: goals with ``shuffle_index`` < 500 (WebShop's test split, which verl-agent
  validates on); training pool: the rest.
* ``train_tasks(options, seed, n)``: seeded draws from the training pool (shuffled
  passes, so a batch repeats a goal only when ``n`` exceeds the pool).
* ``eval_tasks(options, n)``: the first ``n`` goals of the ``eval_split`` pool, in order,
  cycling when ``n`` is larger: the same panel on every machine (128 in the presets).

A task's ``task_type`` is the product category (beauty, electronics, fashion, garden,
grocery), ``extra["goal"]`` is the goal itself. Rewards (SDAR_SPEC 1.3): 10 when the
purchase scores exactly 1.0, else 0; invalid-action penalty 0.1; ``score`` (in [0, 1])
is averaged as a metric.
"""

from __future__ import annotations

import random
from typing import Any

from sdar.envs.base import Env, EnvSpec, Task, check_task_count
from sdar.envs.webshop.env import WebShopEnv, open_catalogue
from sdar.envs.webshop.options import TEST_SIZE, parse_options
from sdar.envs.webshop.projection import webshop_project, webshop_project_authors
from sdar.envs.webshop.prompt import webshop_prompt

TASK_TYPES = ("beauty", "electronics", "fashion", "garden", "grocery")


def make(options: dict[str, Any]) -> Env:
    """Build one WebShop env (ValueError on bad options, EnvError on missing data/packages)."""
    config = parse_options(options)
    if config.engine == "original":
        from sdar.envs.webshop.original import OriginalWebShopEnv

        return OriginalWebShopEnv(config)
    return WebShopEnv(config)


def _pools(options: dict[str, Any]) -> tuple[list[Task], list[Task]]:
    catalogue = open_catalogue(parse_options(options))
    test, train = [], []
    for position, goal in enumerate(catalogue.goals):
        index = goal.get("shuffle_index", position)
        task = Task(
            task_id=f"webshop/{index}/{goal['asin']}",
            task_type=goal["category"],
            seed=index,
            data_source="webshop",
            extra={"goal": goal},
        )
        (test if index < TEST_SIZE else train).append(task)
    return test, train


def train_tasks(options: dict[str, Any], seed: int, n: int) -> list[Task]:
    """``n`` seeded draws from the training pool."""
    check_task_count(n)
    pool = _pools(options)[1]
    if not pool and n:
        raise ValueError(
            "the WebShop goals have no training pool (every shuffle_index is below "
            f"{TEST_SIZE}); train on goals_synthetic.jsonl or a larger goal file"
        )
    rng = random.Random(f"webshop-train:{seed}")
    tasks: list[Task] = []
    while len(tasks) < n:
        order = list(pool)
        rng.shuffle(order)
        tasks.extend(order[: n - len(tasks)])
    return tasks


def eval_tasks(options: dict[str, Any], n: int) -> list[Task]:
    """The first ``n`` goals of the ``eval_split`` pool (cycling when ``n`` is larger)."""
    check_task_count(n)
    split = parse_options(options).eval_split
    test, train = _pools(options)
    pool = {"test": test, "train": train, "all": test + train}[split]
    if not pool and n:
        raise ValueError(f"the WebShop {split!r} pool is empty; choose another eval_split")
    return [pool[i % len(pool)] for i in range(n)]


SPEC = EnvSpec(
    name="webshop",
    description=(
        "WebShop (1,000-product setting): search, item pages, options and buy over a "
        "catalogue folder, or a built-in synthetic twin; BM25 search with bm25s."
    ),
    make=make,
    prompt=webshop_prompt,
    project=webshop_project,
    project_authors=webshop_project_authors,
    task_types=TASK_TYPES,
    train_tasks=train_tasks,
    eval_tasks=eval_tasks,
    stop_strings=("</action>",),
    success_reward=10.0,
    invalid_penalty=0.1,
    max_steps=15,
    episode_metrics=("score",),
)
