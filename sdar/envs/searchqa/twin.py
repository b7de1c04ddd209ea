"""The built-in twin: a small generated world of invented entities, for runs without data.

`make_world(seed)` invents people, cities, companies and products with a few facts each,
writes one passage per entity in Search-R1's corpus form (``"Title"\\ntext``), and asks
questions about them:

* direct (``twin_direct_retrieval``): one fact of a named entity, answered by that
  entity's passage ("Who founded Quintar Works?");
* two-hop (``twin_multi_hop_reasoning``): a fact of an entity named only through
  another ("In which city was the founder of Quintar Works born?"); the first passage
  names the bridge entity, a second search finds the answer.

The data-source names contain the Search-QA skill names, so the shipped skill bank routes
them (direct retrieval, multi-hop reasoning). Every question records the queries a
scripted oracle issues (``expert_queries``: the named entity, then for two-hop questions
the bridge entity); short queries a tiny policy can learn to copy.
Everything is a pure function of ``seed``: no files, no network.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from sdar.envs.searchqa.data import Passage, Question

DIRECT = "twin_direct_retrieval"
MULTI_HOP = "twin_multi_hop_reasoning"
EVAL_QUESTIONS = 64
"""Questions held out as the evaluation panel; the rest are the training pool."""

_ONSETS = (
    "b",
    "d",
    "f",
    "g",
    "k",
    "l",
    "m",
    "n",
    "p",
    "r",
    "s",
    "t",
    "v",
    "z",
    "br",
    "dr",
    "kl",
    "tr",
)
_VOWELS = ("a", "e", "i", "o", "u", "ai", "ou")
_CODAS = ("", "n", "r", "l", "s", "x", "th", "nd")
_COMPANY_KINDS = ("Works", "Industries", "Labs", "Foundry", "Company")
_PRODUCT_KINDS = ("engine", "lantern", "loom", "compass", "kettle", "telescope")
_JOBS = ("inventor", "engineer", "chemist", "architect", "merchant")


@dataclass(frozen=True)
class TwinQuestion:
    """A generated question with the oracle's queries."""

    question: Question
    expert_queries: tuple[str, ...]


@dataclass(frozen=True)
class TwinWorld:
    passages: tuple[Passage, ...]
    train: tuple[TwinQuestion, ...]
    eval: tuple[TwinQuestion, ...]


def _name(rng: random.Random, used: set[str], syllables: int) -> str:
    for _ in range(1000):
        word = "".join(
            rng.choice(_ONSETS) + rng.choice(_VOWELS) + rng.choice(_CODAS) for _ in range(syllables)
        ).capitalize()
        if word not in used:
            used.add(word)
            return word
    raise RuntimeError("name space exhausted")  # internal: sizes are fixed below


def _a(noun: str) -> str:
    return f"{'an' if noun[0] in 'aeiou' else 'a'} {noun}"


def make_world(seed: int = 0) -> TwinWorld:
    """The twin's corpus and questions for ``seed`` (same seed, same world)."""
    rng = random.Random(f"searchqa-twin:{seed}")
    used: set[str] = set()
    cities = [_name(rng, used, 2) for _ in range(16)]
    people = [f"{_name(rng, used, 2)} {_name(rng, used, 2)}" for _ in range(40)]
    companies = [f"{_name(rng, used, 2)} {rng.choice(_COMPANY_KINDS)}" for _ in range(24)]
    products = [_name(rng, used, 3) for _ in range(32)]
    born = {p: (rng.choice(cities), rng.randrange(1850, 1960), rng.choice(_JOBS)) for p in people}
    founded = {
        c: (rng.choice(people), rng.randrange(1880, 1990), rng.choice(cities)) for c in companies
    }
    made = {p: (rng.choice(companies), rng.choice(_PRODUCT_KINDS)) for p in products}

    texts = []
    for city in cities:
        texts.append((city, f"{city} is a city with {rng.randrange(2, 90) * 1000} inhabitants."))
    for person, (city, year, job) in born.items():
        texts.append((person, f"{person} was {_a(job)} born in {city} in {year}."))
    for company, (founder, year, hq) in founded.items():
        texts.append(
            (
                company,
                f"{company} is a firm founded by {founder} in {year}, based in {hq}.",
            )
        )
    for product, (company, kind) in made.items():
        texts.append((product, f"The {product} is {_a(kind)} made by {company}."))
    rng.shuffle(texts)
    passages = tuple(Passage(str(i), f'"{title}"\n{text}') for i, (title, text) in enumerate(texts))

    # (data source, question, answer, oracle queries: the named entity, then the bridge)
    items: list[tuple[str, str, str, tuple[str, ...]]] = []
    for person, (city, _, _) in born.items():
        items.append((DIRECT, f"In which city was {person} born?", city, (person,)))
    for company, (founder, year, _) in founded.items():
        city = born[founder][0]
        items += [
            (DIRECT, f"Who founded {company}?", founder, (company,)),
            (DIRECT, f"In what year was {company} founded?", str(year), (company,)),
            (
                MULTI_HOP,
                f"In which city was the founder of {company} born?",
                city,
                (company, founder),
            ),
        ]
    for product, (company, _) in made.items():
        founder, _, hq = founded[company]
        items += [
            (DIRECT, f"Which company makes the {product}?", company, (product,)),
            (
                MULTI_HOP,
                f"Who founded the company that makes the {product}?",
                founder,
                (product, company),
            ),
            (
                MULTI_HOP,
                f"In which city is the maker of the {product} based?",
                hq,
                (product, company),
            ),
        ]
    rng.shuffle(items)
    questions = tuple(
        TwinQuestion(Question(f"twin-{seed}-{i}", text, (answer,), source), queries)
        for i, (source, text, answer, queries) in enumerate(items)
    )
    return TwinWorld(passages, questions[EVAL_QUESTIONS:], questions[:EVAL_QUESTIONS])
