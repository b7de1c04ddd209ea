"""A scripted WebShop oracle: find the goal's product, pick the goal's options, buy.

`expert_action(shop, goal, queries)` reads the shop state and returns the next action.
It is reactive, so it finishes from any state (after random actions too):

* search page: search the instruction text; if that search already ran, the target's
  title (BM25 ranks a product first for its own title);
* results: click the target when it is on the page; else page towards it when it is in
  the hits (``next >`` / ``< prev``); else search again (as on the search page);
* an item page of another product, or a sub page: ``< prev``;
* the target's item page: click the first goal option value not yet chosen, then
  ``buy now``. Synthetic goals name option values; human goals list values, and those
  the product does not offer are skipped.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from sdar.envs.webshop.engine import BUY, DONE, ITEM, NEXT, PREV, RESULTS, SEARCH_PAGE, Shop


def goal_values(goal: Mapping[str, Any]) -> list[str]:
    """The option values a goal asks for (dict values for synthetic goals, else the list)."""
    options = goal["goal_options"]
    return list(options.values()) if isinstance(options, Mapping) else list(options)


def _search(goal: Mapping[str, Any], queries: Collection[str], shop: Shop) -> str:
    first = " ".join(goal["instruction_text"].lower().split())
    if first not in queries:
        return f"search[{first}]"
    return f"search[{' '.join(shop.catalogue.products[goal['asin']]['Title'].lower().split())}]"


def expert_action(shop: Shop, goal: Mapping[str, Any], queries: Collection[str]) -> str | None:
    """The oracle's next action (module docstring); None once the purchase is made."""
    state, target = shop.state, goal["asin"]
    if state.page == DONE:
        return None
    if state.page == SEARCH_PAGE:
        return _search(goal, queries, shop)
    if state.page == RESULTS:
        if target in shop.page_hits():
            return f"click[{target.lower()}]"
        if target in state.hits:
            ahead = state.hits.index(target) >= state.page_no * 10
            return f"click[{NEXT if ahead else PREV}]"
        return _search(goal, queries, shop)
    if state.page != ITEM or state.asin != target:
        return f"click[{PREV}]"
    offered = shop.clickables()
    chosen = set(state.options.values())
    for value in goal_values(goal):
        if value in offered and value not in chosen:
            return f"click[{value}]"
    return f"click[{BUY}]"
