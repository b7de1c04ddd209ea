"""The original WebShop text environment (princeton-nlp/WebShop) behind the same `Env`.

Option ``engine: original``. It needs WebShop's code importable as ``web_agent_site``
with its data and Lucene index in place, pyserini 0.22.1 with OpenJDK 17, spaCy's
``en_core_web_sm`` and gym 0.24 (docs/webshop.md, "The original WebShop"); without them
building the env raises one `EnvError` saying what to install.

Goal ``i`` of WebShop's list is the goal with ``shuffle_index`` i (the shared goal files
keep that order). WebShop draws range prices and price bounds from the global ``random``
when it starts; we seed it with 0 first, the seed the shared goal files were made with,
so its goals and prices equal ours. Observations, available actions, the 15-step cap and
the info keys are those of `WebShopEnv`; ``score`` is WebShop's own reward. There is no
expert (``expert_action`` returns None).
"""

from __future__ import annotations

import importlib
import random
from typing import Any

from sdar.envs.base import EnvError, StepResult, Task
from sdar.envs.webshop.catalogue import PRICE_SEED
from sdar.envs.webshop.engine import SEARCH_ACTION
from sdar.envs.webshop.options import WebShopOptions

INSTALL_HELP = (
    "engine 'original' needs princeton-nlp/WebShop's code importable as web_agent_site, "
    "with its data/ files and search_engine/indexes built, plus pyserini==0.22.1 "
    "(OpenJDK 17), spaCy's en_core_web_sm, gym==0.24.0, flask, thefuzz, rank_bm25, "
    "cleantext, beautifulsoup4 and selenium (steps in docs/webshop.md, 'The original "
    "WebShop'); or use engine 'sdar'"
)


def _load_text_env() -> Any:
    try:
        module = importlib.import_module("web_agent_site.envs.web_agent_text_env")
    except Exception as exc:  # a missing jar, model or package surfaces as many kinds
        raise EnvError(f"{INSTALL_HELP} (import failed: {type(exc).__name__}: {exc})") from None
    return module.WebAgentTextEnv


class OriginalWebShopEnv:
    """WebShop's ``WebAgentTextEnv`` adapted to the `Env` protocol (module docstring)."""

    def __init__(self, options: WebShopOptions) -> None:
        text_env = _load_text_env()
        self.options = options
        random.seed(PRICE_SEED)  # WebShop draws prices and bounds from the global RNG
        self._env = text_env(
            observation_mode="text", num_products=None, human_goals=options.goals == "human"
        )
        self._task: Task | None = None
        self._instruction = ""
        self._steps = 0
        self._done = True

    def reset(self, task: Task) -> tuple[str, dict[str, Any]]:
        goal = task.extra.get("goal") or {}
        if "shuffle_index" not in goal:
            raise EnvError(f"task {task.task_id!r} lacks goal.shuffle_index, which WebShop needs")
        observation, _ = self._env.reset(session=int(goal["shuffle_index"]))
        self._task, self._steps, self._done = task, 0, False
        self._instruction = self._env.instruction_text
        info = self._info(won=False, valid=True)
        info["goal"] = self._instruction
        return self._format(observation), info

    def step(self, action: str) -> StepResult:
        if self._task is None or self._done:
            raise EnvError("step called on a finished episode; call reset(task) first")
        before = self._env.state["url"]
        observation, reward, bought, _ = self._env.step(action)
        self._steps += 1
        self._done = bool(bought) or self._steps >= self.options.max_steps
        score = float(reward) if bought else 0.0
        info = self._info(won=score == 1.0, valid=bool(bought) or self._env.state["url"] != before)
        if self._done:
            info["score"] = score
        return StepResult(self._format(observation), score, self._done, info)

    def expert_action(self) -> str | None:
        return None

    def close(self) -> None:
        self._env.close()

    def _format(self, observation: str) -> str:
        parts = observation.split(" [SEP] ")
        if self._instruction in parts:
            parts = parts[parts.index(self._instruction) + 1 :]
        return " [SEP] ".join(f"'{p}'" for p in parts)

    def _info(self, *, won: bool, valid: bool) -> dict[str, Any]:
        assert self._task is not None
        available = self._env.get_available_actions()
        search = [SEARCH_ACTION] if available["has_search_bar"] else []
        clicks = [f"click[{c}]" for c in available["clickables"] if c != "search"]
        return {
            "won": won,
            "admissible_actions": search + clicks,
            "task_type": self._task.task_type,
            "is_action_valid": valid,
        }
