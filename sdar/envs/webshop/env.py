"""`WebShopEnv`: the `Env` protocol around the shop engine.

Episode rules (WebShop's, with SDAR's cap): the episode ends at ``buy now`` or, unbought,
at ``max_steps`` (15) steps. The env's reward is WebShop's: the purchase score in [0, 1]
on the buying step, else 0. The final step's info carries ``score`` (0.0 when nothing
was bought) and ``won`` (score exactly 1.0); SDAR's episode reward (10 on a win) and
the invalid-action penalty live in the `EnvSpec`. Every step counts, including actions
the page cannot take (they change nothing and give ``is_action_valid=False``).

Observations are the page's visible texts after the instruction, each quoted and
joined by `` [SEP] `` (verl-agent's form); ``info["admissible_actions"]`` lists
``search[<your query>]`` on the search page and ``click[x]`` for each clickable. Reset
info adds ``goal`` (the instruction text).
"""

from __future__ import annotations

from typing import Any

from sdar.envs.base import EnvError, StepResult, Task
from sdar.envs.webshop.catalogue import Catalogue, load_catalogue, resolve_data_dir
from sdar.envs.webshop.engine import DONE, SEARCH_ACTION, Shop, parse_action
from sdar.envs.webshop.expert import expert_action
from sdar.envs.webshop.options import WebShopOptions
from sdar.envs.webshop.reward import purchase_score
from sdar.envs.webshop.search import build_search
from sdar.envs.webshop.twin import twin_catalogue


def open_catalogue(options: WebShopOptions) -> Catalogue:
    """The catalogue the options select: the real folder or the built-in twin."""
    folder = None if options.catalogue == "builtin" else resolve_data_dir(options.data_dir)
    if folder is None and options.catalogue == "real":
        raise EnvError(
            "catalogue is 'real' but no WebShop data folder is configured: set the "
            "`data_dir` option (or --data-dir, or WEBSHOP_DATA), or use catalogue 'builtin'"
        )
    if folder is None and options.goals != "synthetic":
        raise EnvError(
            f"goals {options.goals!r} need a catalogue folder (the twin makes its own "
            "synthetic goals): set the `data_dir` option (or --data-dir, or WEBSHOP_DATA)"
        )
    if folder is None:
        return twin_catalogue(options.twin_products, options.twin_seed)
    return load_catalogue(folder, options.goals)


def format_observation(texts: list[str]) -> str:
    """``["Search"] -> "'Search'"``: quoted page texts joined by `` [SEP] ``."""
    return " [SEP] ".join(f"'{t}'" for t in texts)


class WebShopEnv:
    """One shopping episode at a time; deterministic in the `Task` it is reset to."""

    def __init__(self, options: WebShopOptions) -> None:
        self.options = options
        self.catalogue = open_catalogue(options)
        self.shop = Shop(self.catalogue, build_search(self.catalogue))
        self.task: Task | None = None
        self.goal: dict[str, Any] = {}
        self.queries: list[str] = []
        self.steps = 0
        self.done = True

    def reset(self, task: Task) -> tuple[str, dict[str, Any]]:
        goal = task.extra.get("goal")
        if not isinstance(goal, dict) or goal.get("asin") not in self.catalogue.products:
            raise EnvError(
                f"task {task.task_id!r} has no goal for this catalogue ({self.catalogue.source}); "
                "make tasks with the same options as the env (SPEC.train_tasks / eval_tasks)"
            )
        self.task, self.goal = task, goal
        self.shop.restart()
        self.queries, self.steps, self.done = [], 0, False
        info = self._info(won=False, valid=True)
        info["goal"] = goal["instruction_text"]
        return format_observation(self.shop.texts()), info

    def step(self, action: str) -> StepResult:
        if self.task is None or self.done:
            raise EnvError("WebShopEnv.step called on a finished episode; call reset(task) first")
        valid = self.shop.act(action)
        parsed = parse_action(action)
        if valid and parsed is not None and parsed[0] == "search":
            self.queries.append(parsed[1])
        self.steps += 1
        bought = self.shop.state.page == DONE
        score = self._score() if bought else 0.0
        self.done = bought or self.steps >= self.options.max_steps
        info = self._info(won=score == 1.0, valid=valid)
        if self.done:
            info["score"] = score
            info["purchased"] = self.shop.state.asin if bought else None
        observation = format_observation(self.shop.texts(score if bought else None))
        return StepResult(observation=observation, reward=score, done=self.done, info=info)

    def expert_action(self) -> str | None:
        if self.task is None or self.done:
            return None
        return expert_action(self.shop, self.goal, self.queries)

    def close(self) -> None:
        self.task = None
        self.done = True

    def _score(self) -> float:
        asin = self.shop.state.asin
        assert asin is not None
        score, _ = purchase_score(
            self.catalogue.products[asin],
            self.goal,
            self.catalogue.prices[asin],
            self.shop.state.options,
        )
        return score

    def _info(self, *, won: bool, valid: bool) -> dict[str, Any]:
        assert self.task is not None
        search = [SEARCH_ACTION] if self.shop.has_search_bar() else []
        return {
            "won": won,
            "admissible_actions": search
            + [f"click[{' '.join(c.split())}]" for c in self.shop.clickables()],
            "task_type": self.task.task_type,
            "is_action_valid": valid,
        }
