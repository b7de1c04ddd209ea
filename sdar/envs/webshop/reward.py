"""WebShop's purchase score (Yao et al. 2022, section 3.2 and ``engine/goal.py``), our code.

For a goal with attributes ``A``, options ``O`` and a price bound, buying product ``p``
at price ``x`` with the chosen options ``o`` scores::

    score = r_type * (n_attr + n_opt + [x <= price_upper]) / (|A| + |O| + 1)

* ``n_attr``: goal attributes matched by one of ``p``'s attributes
  (``token_set_ratio > 85``), or else found verbatim in its lower-cased title, bullet
  points or description.
* ``n_opt``: goal options matched (``token_set_ratio > 85``, after `normalize_color` on
  both sides) by one of the chosen option values. For synthetic goals WebShop passes the
  goal's ``(name, value)`` pairs, not the values, so the goal side is the text of the
  pair ``"('size', 'large')"``, and its colour normalisation only fires when the name or
  the value is exactly a colour word. We keep that: it is why an exact purchase scores
  1.0 on 93.4% of the synthetic goals, not all of them.
* ``r_type`` (product type): 1.0 when the query matches, two or more breadcrumb levels
  are shared, or more than 20% of the goal title's nouns are in the bought title;
  otherwise 0.5; and 0.1 if under 10% of the nouns match, 0.0 if none do (a goal title
  without nouns counts as 20%).

The score is in [0, 1]; the environment pays ``success_reward`` only when it is 1.0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sdar.envs.webshop.matching import COLORS, normalize_color, title_nouns, token_set_ratio

MATCH_THRESHOLD = 85
"""A fuzzy match needs a `token_set_ratio` above this."""


def type_reward(bought: Mapping[str, Any], goal: Mapping[str, Any]) -> dict[str, Any]:
    """``{"r_type", "query_match", "category_match", "title_score"}`` (module docstring)."""
    query_match = bought["query"] == goal["query"]
    levels = {x.strip() for x in bought["product_category"].split("›")}
    goal_levels = {x.strip() for x in goal["product_category"].split("›")}
    category_match = len(levels & goal_levels) >= 2
    wanted = title_nouns(goal["name"])
    have = set(title_nouns(bought["name"]))
    title_score = len(have & set(wanted)) / len(wanted) if wanted else 0.2
    r_type = 1.0 if (query_match or category_match or title_score > 0.2) else 0.5
    if title_score < 0.1:
        r_type = 0.1
    if title_score == 0.0:
        r_type = 0.0
    return {
        "r_type": r_type,
        "query_match": query_match,
        "category_match": category_match,
        "title_score": title_score,
    }


def attribute_matches(bought: Mapping[str, Any], attributes: Sequence[str]) -> int:
    """How many goal attributes the bought product has (fuzzy, then verbatim in its text)."""
    text = (
        bought["Title"].lower(),
        " ".join(bought["BulletPoints"]).lower(),
        bought["Description"].lower(),
    )
    count = 0
    for wanted in attributes:
        fuzzy = any(
            token_set_ratio(have, wanted) > MATCH_THRESHOLD for have in bought["Attributes"]
        )
        if fuzzy or any(wanted in t for t in text):
            count += 1
    return count


def goal_option_texts(goal_options: Mapping[str, str] | Sequence[str]) -> list[str]:
    """The goal side of option matching, normalised as WebShop does (module docstring)."""
    if isinstance(goal_options, Mapping):
        pairs = list(goal_options.items())
        # WebShop's normalize_color tests `word in (name, value)`: tuple membership.
        return [next((c for c in COLORS if c in pair), str(pair)) for pair in pairs]
    return [normalize_color(v) for v in goal_options]


def option_matches(chosen: Sequence[str], goal_options: Mapping[str, str] | Sequence[str]) -> int:
    """How many goal options one of the chosen option values matches."""
    have = [normalize_color(v) for v in chosen]
    return sum(
        any(token_set_ratio(h, wanted) > MATCH_THRESHOLD for h in have)
        for wanted in goal_option_texts(goal_options)
    )


def purchase_score(
    bought: Mapping[str, Any],
    goal: Mapping[str, Any],
    price: float,
    chosen: Mapping[str, str],
) -> tuple[float, dict[str, Any]]:
    """``(score, parts)`` for buying ``bought`` at ``price`` with options ``chosen``.

    ``parts`` holds ``r_type``, ``attr_matches``, ``option_matches``, ``price_ok`` and the
    type reward's ``query_match``, ``category_match``, ``title_score``.
    """
    kind = type_reward(bought, goal)
    n_attr = attribute_matches(bought, goal["attributes"])
    n_opt = option_matches(list(chosen.values()), goal["goal_options"])
    price_ok = price <= goal["price_upper"]
    total = len(goal["attributes"]) + len(goal["goal_options"]) + 1
    score = kind["r_type"] * (n_attr + n_opt + int(price_ok)) / total
    parts = dict(kind, attr_matches=n_attr, option_matches=n_opt, price_ok=price_ok)
    return score, parts
