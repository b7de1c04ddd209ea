"""Skill retrieval: which skill files the teacher (or a Skill-GRPO student) is shown.

Strategies, looked up by name in `RETRIEVERS` (SDAR_SPEC 4.2, 4.3):

* ``keyword`` -- the paper's KM, as released after PR #36: (1) task type: the first
  ``task_to_skill`` key that is a substring of ``task.task_type`` or of
  ``task.extra["game_file"]``; else (2) keywords: every task type with a keyword in the
  lower-cased ``goal`` text (``word``: a keyword matches at the start of a word, so ``hat``
  does not fire on "that"; ``substring``: anywhere, as the authors' code); else (3) data
  source: the Search-QA routing table. The general skills always come first.
* ``full`` -- general + every task skill, once each (the code's ``skill_all``).
* ``random`` -- general + one task skill drawn with an RNG keyed by (seed, step, group).
  Our reconstruction (SDAR_SPEC 7 #14).
* ``ucb`` -- general + the task skill a per-task-type UCB1 bandit picks. Our
  reconstruction (SDAR_SPEC 4.3, 7 #14).
* ``none`` -- no privileged text.
* ``general_only`` -- general skills only: the authors' pre-fix bug (SDAR_SPEC 4.5, 7 #2).

`prompt_skills` is the authors' Skill-GRPO student choice: keyword matching over the whole
step prompt, at every step (``skills.student_match=prompt``).

Text in, text out: no torch, no tokenizer.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from types import MappingProxyType
from typing import Any, Protocol

from sdar.envs.base import Task
from sdar.skills.bank import GENERAL, SkillBank

# Search-QA routing (SDAR_SPEC 4.2): checked in this order, with the compare rule between.
EARLY_SOURCES = {
    "popqa": "entity_attribute_lookup",
    "nq": "direct_retrieval",
    "triviaqa": "direct_retrieval",
    "hotpotqa": "multi_hop_reasoning",
}
LATE_SOURCES = {
    "2wikimultihopqa": "multi_hop_reasoning",
    "musique": "multi_hop_reasoning",
    "bamboogle": "multi_hop_reasoning",
}
# verl-agent marks non-QA samples with this data source; it never routes by source.
TEXT_SOURCE = "text"
TEXT_FAMILIES = frozenset({TEXT_SOURCE, "", "household", "alfworld", "webshop"})
"""Our data sources that the authors' pipeline labels "text" (no routing by source)."""
KEYWORD_MATCHES = ("word", "substring")


@dataclass(frozen=True)
class Retrieval:
    """The privileged text and the names of the skill files in it, in order.

    ``skills`` starts with ``general_skills`` whenever the general skills are included.
    """

    text: str
    skills: tuple[str, ...]


class Retriever(Protocol):
    """Chooses the skills for one task. Stateless strategies ignore `update`."""

    name: str

    def retrieve(self, task: Task, goal: str, *, step: int = 0, group: int = 0) -> Retrieval: ...

    def update(self, task_type: str, skill_name: str, rewards: Sequence[float]) -> None: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


def compose(bank: SkillBank, names: Sequence[str]) -> Retrieval:
    """General skills + each named task skill once: ``general + "\\n\\n" + skill ...``."""
    unique = list(dict.fromkeys(names))
    text = "\n\n".join([bank.general, *(bank.skills[n] for n in unique)])
    return Retrieval(text=text, skills=(GENERAL, *unique))


def keyword_task_keys(bank: SkillBank, text: str, match: str = "word") -> list[str]:
    """Task-type keys, in mapping order, with any keyword in the lower-cased ``text``.

    ``match="word"``: a keyword matches at the start of a word (``hat`` not in "that");
    ``"substring"``: anywhere, as the authors' ``any(kw in text_lower ...)``.
    """
    if match not in KEYWORD_MATCHES:
        raise ValueError(
            f"skills.keyword_match: unknown {match!r}; valid: {', '.join(KEYWORD_MATCHES)}"
        )
    lowered = text.lower()
    if match == "substring":
        return [k for k, words in bank.task_keywords.items() if any(w in lowered for w in words)]
    return [
        key
        for key, words in bank.task_keywords.items()
        if any(re.search(r"(?<![a-z0-9])" + re.escape(w), lowered) for w in words)
    ]


def route_data_source(data_source: str, question: str) -> str | None:
    """The Search-QA category for a data source (SDAR_SPEC 4.2), or None.

    The compare rule fires when the lower-cased question contains the substrings
    "which" and "or" but not "for"; it is checked after popqa/nq/triviaqa/hotpotqa and
    before 2wikimultihopqa/musique/bamboogle, as in the released code.
    """
    source = data_source.lower()
    if not source or source == TEXT_SOURCE:
        return None
    if source in EARLY_SOURCES:
        return EARLY_SOURCES[source]
    q = question.lower()
    if "which" in q and "or" in q and "for" not in q:
        return "compare"
    return LATE_SOURCES.get(source)


def _resolve(bank: SkillBank, key: str) -> str | None:
    """A task-type key or category name -> a skill name in the bank."""
    if key in bank.task_to_skill:
        return bank.task_to_skill[key]
    return key if key in bank.skills else None


def keyword_skill_names(bank: SkillBank, task: Task, goal: str, match: str = "word") -> list[str]:
    """The task skills KM retrieval picks (without the general skills)."""
    game_file = str(task.extra.get("game_file", ""))
    for key, skill in bank.task_to_skill.items():
        if key and (key in task.task_type or key in game_file):
            return [skill]
    matched = [bank.task_to_skill[k] for k in keyword_task_keys(bank, goal, match)]
    if matched:
        return list(dict.fromkeys(matched))
    category = route_data_source(task.data_source, goal)
    skill = _resolve(bank, category) if category else None
    return [skill] if skill else []


@dataclass(frozen=True)
class StatelessRetriever:
    """A strategy that learns nothing: ``pick(task, goal, step, group)`` decides alone."""

    name: str
    pick: Callable[[Task, str, int, int], Retrieval]

    def retrieve(self, task: Task, goal: str, *, step: int = 0, group: int = 0) -> Retrieval:
        return self.pick(task, goal, step, group)

    def update(self, task_type: str, skill_name: str, rewards: Sequence[float]) -> None:
        """Nothing to learn; accepted so the trainer treats every strategy alike."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state:
            raise ValueError(f"{self.name} retrieval has no state; got keys {sorted(state)}")


def prompt_skills(
    bank: SkillBank, prompt: str, *, match: str = "substring", full: bool = False
) -> Retrieval:
    """The authors' Skill-GRPO student skills for one step prompt (SDAR_SPEC 3.7, 4.2).

    General + the skill of every task type with a keyword in the whole ``prompt`` (task,
    history, admissible actions), in ``task_keywords`` order. As in their
    ``get_privileged_info_from_prompt``, a skill that two matching task types share is
    included once per type (the authors' ALFWorld bank repeats ``pick_and_place`` when
    both "put two" and "put" occur). ``full``: every skill once (their ``skill_all``).
    """
    if full:
        return compose(bank, list(bank.skills))
    names = [bank.task_to_skill[k] for k in keyword_task_keys(bank, prompt, match)]
    text = "\n\n".join([bank.general, *(bank.skills[n] for n in names)])
    return Retrieval(text=text, skills=(GENERAL, *names))


def step_skills(bank: SkillBank, task: Task, prompt: str, *, match: str = "substring") -> Retrieval:
    """The authors' teacher skills for one step, chosen afresh at every step from the step
    prompt as their trainer does (SDAR_SPEC 4.2): by the game path when the task has one
    (ALFWorld), else by data source with the whole prompt (Search-QA: the compare rule
    reads the prompt), else by keywords over the whole prompt (WebShop)."""
    game_file = str(task.extra.get("game_file", ""))
    if game_file:
        keys = [k for k in bank.task_to_skill if k and k in game_file][:1]
        return compose(bank, [bank.task_to_skill[k] for k in keys])
    if task.data_source.lower() in TEXT_FAMILIES:
        return prompt_skills(bank, prompt, match=match)
    category = route_data_source(task.data_source, prompt)
    skill = _resolve(bank, category) if category else None
    return compose(bank, [skill] if skill else [])


def _keyword(
    bank: SkillBank, match: str, task: Task, goal: str, step: int, group: int
) -> Retrieval:
    return compose(bank, keyword_skill_names(bank, task, goal, match))


def _full(bank: SkillBank, task: Task, goal: str, step: int, group: int) -> Retrieval:
    return compose(bank, list(bank.skills))


def _random(bank: SkillBank, seed: int, task: Task, goal: str, step: int, group: int) -> Retrieval:
    names = list(bank.skills)
    if not names:
        return compose(bank, [])
    # A str seed is hashed with sha512: stable across processes and PYTHONHASHSEED.
    rng = random.Random(f"skills-random:{seed}:{step}:{group}")
    return compose(bank, [rng.choice(names)])


def _general_only(bank: SkillBank, task: Task, goal: str, step: int, group: int) -> Retrieval:
    return compose(bank, [])


def _none(task: Task, goal: str, step: int, group: int) -> Retrieval:
    return Retrieval(text="", skills=())


class UCBRetriever:
    """UCB1 over the bank's task skills, one bandit per task type.

    score(a) = mean reward of episodes given skill a + c * sqrt(ln N / n_a), where N is the
    number of episodes of that task type and n_a those given a. Unseen skills are tried
    first, in bank order; ties go to the earlier skill. Feed episode rewards back with
    `update` (one entry per episode, e.g. a GRPO group's G rewards).
    """

    name = "ucb"

    def __init__(self, bank: SkillBank, c: float = math.sqrt(2)) -> None:
        if c < 0:
            raise ValueError(f"skills.ucb_c: must be >= 0, got {c}")
        self.bank = bank
        self.c = c
        self.counts: dict[str, dict[str, int]] = {}
        self.sums: dict[str, dict[str, float]] = {}

    def choose(self, task_type: str) -> str | None:
        arms = list(self.bank.skills)
        if not arms:
            return None
        counts = self.counts.get(task_type, {})
        sums = self.sums.get(task_type, {})
        for arm in arms:
            if counts.get(arm, 0) == 0:
                return arm
        log_total = math.log(sum(counts[a] for a in arms))

        def score(arm: str) -> float:
            n = counts[arm]
            return sums[arm] / n + self.c * math.sqrt(log_total / n)

        return max(arms, key=score)

    def retrieve(self, task: Task, goal: str, *, step: int = 0, group: int = 0) -> Retrieval:
        arm = self.choose(task.task_type)
        return compose(self.bank, [arm] if arm else [])

    def update(self, task_type: str, skill_name: str, rewards: Sequence[float]) -> None:
        if skill_name not in self.bank.skills:
            raise ValueError(
                f"ucb update: {skill_name!r} is not a task skill of the bank "
                f"({', '.join(self.bank.skills)}); pass the task skill the episode was given"
            )
        if not rewards:
            raise ValueError("ucb update: rewards is empty; pass one reward per episode")
        counts = self.counts.setdefault(task_type, {})
        sums = self.sums.setdefault(task_type, {})
        counts[skill_name] = counts.get(skill_name, 0) + len(rewards)
        sums[skill_name] = sums.get(skill_name, 0.0) + float(sum(rewards))

    def state_dict(self) -> dict[str, Any]:
        return {
            "c": self.c,
            "counts": {t: dict(v) for t, v in self.counts.items()},
            "sums": {t: dict(v) for t, v in self.sums.items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        missing = {"c", "counts", "sums"} - set(state)
        if missing:
            raise ValueError(f"ucb state: missing keys {sorted(missing)}")
        for table in (state["counts"], state["sums"]):
            for task_type, arms in table.items():
                unknown = set(arms) - set(self.bank.skills)
                if unknown:
                    raise ValueError(
                        f"ucb state: task type {task_type!r} has skills {sorted(unknown)} "
                        "that this bank lacks; load the state with the bank it was saved with"
                    )
        self.c = float(state["c"])
        self.counts = {t: {a: int(n) for a, n in v.items()} for t, v in state["counts"].items()}
        self.sums = {t: {a: float(s) for a, s in v.items()} for t, v in state["sums"].items()}


def _needs(bank: SkillBank | None, strategy: str) -> SkillBank:
    if bank is None:
        raise ValueError(f"skills.strategy={strategy!r} needs a skill bank; got None")
    return bank


# name -> factory(bank, seed, ucb_c, keyword_match)
RETRIEVERS: MappingProxyType[str, Callable[[SkillBank | None, int, float, str], Retriever]] = (
    MappingProxyType(
        {
            "keyword": lambda b, seed, c, m: StatelessRetriever(
                "keyword", partial(_keyword, _needs(b, "keyword"), m)
            ),
            "full": lambda b, seed, c, m: StatelessRetriever(
                "full", partial(_full, _needs(b, "full"))
            ),
            "random": lambda b, seed, c, m: StatelessRetriever(
                "random", partial(_random, _needs(b, "random"), seed)
            ),
            "ucb": lambda b, seed, c, m: UCBRetriever(_needs(b, "ucb"), c=c),
            "none": lambda b, seed, c, m: StatelessRetriever("none", _none),
            "general_only": lambda b, seed, c, m: StatelessRetriever(
                "general_only", partial(_general_only, _needs(b, "general_only"))
            ),
        }
    )
)


def make_retriever(
    strategy: str,
    bank: SkillBank | None,
    *,
    seed: int = 0,
    ucb_c: float = math.sqrt(2),
    keyword_match: str = "word",
) -> Retriever:
    """Build the retriever named ``strategy``; unknown names raise listing the valid ones."""
    if strategy not in RETRIEVERS:
        raise ValueError(f"skills.strategy: unknown {strategy!r}; valid: {', '.join(RETRIEVERS)}")
    if keyword_match not in KEYWORD_MATCHES:
        raise ValueError(
            f"skills.keyword_match: unknown {keyword_match!r}; valid: {', '.join(KEYWORD_MATCHES)}"
        )
    return RETRIEVERS[strategy](bank, seed, ucb_c, keyword_match)


def retrieval_stats(retrievals: Sequence[Retrieval]) -> dict[str, float]:
    """Mean number of task skills per sample and the share with general skills only."""
    if not retrievals:
        raise ValueError("retrieval_stats: no retrievals given")
    task_counts = [sum(1 for s in r.skills if s != GENERAL) for r in retrievals]
    return {
        "skills/matched_mean": sum(task_counts) / len(task_counts),
        "skills/general_only_ratio": sum(
            1 for r, n in zip(retrievals, task_counts, strict=True) if n == 0 and r.skills
        )
        / len(retrievals),
    }
