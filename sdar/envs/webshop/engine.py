"""The shop's pages and navigation: WebShop's text mode, without a web server.

Pages (the visible texts WebShop's ``text`` mode shows, in order; the instruction, which
every page repeats, is left out: the prompt shows it once):

* search: ``Search`` (a search bar);
* results: ``Back to Search``, ``Page P (Total results: N)``, ``< Prev`` (from page 2),
  ``Next >`` (always, as in WebShop), then per product its ASIN, title and price, 10 a
  page out of the top 50 hits;
* item: ``Back to Search``, ``< Prev``, each option name followed by its values, the
  title, ``Price: ...``, ``Rating: N.A.``, ``Description``, ``Features``, ``Reviews``,
  ``Buy Now``;
* description / features / reviews: ``Back to Search``, ``< Prev``, then the text, the
  bullet points or the reviews (none in the 1,000-product set);
* done: ``Thank you for shopping with us!``, ``Your score (min 0.0, max 1.0)``, the score.

Actions: ``search[query]`` (any page, as in WebShop; listed only on the
search page) and ``click[x]`` for a clickable of the current page: lower-cased button
texts, lower-cased ASINs and option values. Clicking an option value selects it for its
option; ``< Prev`` goes from an item page back to its results page (options are
cleared, as WebShop clears them) and from a sub page back to the item; ``Buy Now`` ends
the episode. Anything else changes nothing and is reported as not executed.

Reading actions is looser than WebShop's (which needs ``click[<exact text>]``): case and
white space are ignored, around the brackets and inside the target (``click [ 18 " x
18 " ]`` clicks ``18" x 18"``), since word-level tokenizers space out punctuation and
some option values hold non-breaking spaces.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sdar.envs.webshop.catalogue import Catalogue
from sdar.envs.webshop.search import ShopSearch

PAGE_SIZE = 10
"""Products per results page (WebShop's PRODUCT_WINDOW)."""
SEARCH_PAGE, RESULTS, ITEM, DONE = "search", "results", "item", "done"
SUB_PAGES = ("description", "features", "reviews")
BACK, PREV, NEXT, BUY = "back to search", "< prev", "next >", "buy now"
SEARCH_ACTION = "search[<your query>]"
"""How the available actions list a search (the query is the agent's)."""
_ACTION = re.compile(r"^\s*(search|click)\s*\[(.*)\]\s*$", re.IGNORECASE | re.DOTALL)


def parse_action(action: str) -> tuple[str, str] | None:
    """``"click[Buy Now]" -> ("click", "buy now")``; None when it is neither form.

    >>> parse_action("search[red shoes]"), parse_action("click [ Buy Now ]"), parse_action("buy")
    (('search', 'red shoes'), ('click', 'buy now'), None)
    """
    match = _ACTION.match(action)
    if match is None:
        return None
    return match.group(1).lower(), " ".join(match.group(2).lower().split())


def click_key(text: str) -> str:
    """``text`` lower-cased, without white space: how loosely a click may be written."""
    return "".join(text.lower().split())


def resolve_click(target: str, clickables: list[str]) -> str | None:
    """The clickable ``target`` names: equal up to case and runs of white space, else the
    only one equal once all white space is dropped; None when there is none (or several).

    >>> resolve_click('18 " x 18 "', ['18" x 18"', "20 x 20"])
    '18" x 18"'
    >>> sizes = ["39x49in", "39 x 49 in"]
    >>> resolve_click("39 x 49 in", sizes), resolve_click("39x49 in", sizes)
    ('39 x 49 in', None)
    """
    wanted = " ".join(target.lower().split())
    for c in clickables:
        if " ".join(c.lower().split()) == wanted:
            return c
    loose = {c for c in clickables if click_key(c) == click_key(target)}
    return loose.pop() if len(loose) == 1 else None


@dataclass
class ShopState:
    """Where one shopper is: the page, the last search, the product and its options."""

    page: str = SEARCH_PAGE
    query: str = ""
    hits: list[str] = field(default_factory=list)
    page_no: int = 1
    asin: str | None = None
    options: dict[str, str] = field(default_factory=dict)


class Shop:
    """One shopping session over a catalogue (`ShopState` plus the page rules)."""

    def __init__(self, catalogue: Catalogue, search: ShopSearch) -> None:
        self.catalogue = catalogue
        self.engine = search
        self.state = ShopState()

    def restart(self) -> None:
        """Back to an empty search page."""
        self.state = ShopState()

    def act(self, action: str) -> bool:
        """Apply ``action``; False (and no change) when the page cannot take it."""
        parsed = parse_action(action)
        if parsed is None or self.state.page == DONE:
            return False
        kind, arg = parsed
        if kind == "search":
            if not arg:
                return False
            self._results(arg, self.engine.search(arg), 1)
            return True
        return self._click(arg)

    def _results(self, query: str, hits: list[str], page_no: int) -> None:
        self.state = ShopState(page=RESULTS, query=query, hits=hits, page_no=page_no)

    def _click(self, target: str) -> bool:
        s = self.state
        resolved = resolve_click(target, self.clickables())
        if resolved is None:
            return False
        target = resolved
        if target == BACK:
            self.restart()
        elif target == BUY:
            s.page = DONE
        elif s.page == RESULTS and target in (NEXT, PREV):
            self._results(s.query, s.hits, s.page_no + (1 if target == NEXT else -1))
        elif s.page == RESULTS:
            s.page, s.asin, s.options = ITEM, target.upper(), {}
        elif target == PREV and s.page == ITEM:
            self._results(s.query, s.hits, s.page_no)
        elif target == PREV:
            s.page = ITEM
        elif target in SUB_PAGES:
            s.page = target
        else:
            s.options[self._option_name(target)] = target
        return True

    def _option_name(self, value: str) -> str:
        # WebShop keys clickables by text, so a value shared by two options is the last one.
        assert self.state.asin is not None
        options = self.catalogue.products[self.state.asin]["options"]
        return [name for name, values in options.items() if value in values][-1]

    def page_hits(self) -> list[str]:
        """ASINs shown on the current results page."""
        s = self.state
        return s.hits[(s.page_no - 1) * PAGE_SIZE : s.page_no * PAGE_SIZE]

    def has_search_bar(self) -> bool:
        return self.state.page == SEARCH_PAGE

    def clickables(self) -> list[str]:
        """The current page's clickable texts, in WebShop's order (buttons, links, options)."""
        s = self.state
        if s.page == RESULTS:
            prev = [PREV] if s.page_no > 1 else []
            return [BACK, *prev, NEXT, *(a.lower() for a in self.page_hits())]
        if s.page == ITEM:
            assert s.asin is not None
            values = [
                v for vals in self.catalogue.products[s.asin]["options"].values() for v in vals
            ]
            return [BACK, PREV, *SUB_PAGES, BUY, *dict.fromkeys(values)]
        if s.page in SUB_PAGES:
            return [BACK, PREV]
        return []

    def texts(self, score: float | None = None) -> list[str]:
        """The visible texts of the current page (module docstring)."""
        s = self.state
        if s.page == SEARCH_PAGE:
            return ["Search"]
        if s.page == DONE:
            return ["Thank you for shopping with us!", "Your score (min 0.0, max 1.0)", str(score)]
        if s.page == RESULTS:
            nav = (["< Prev"] if s.page_no > 1 else []) + ["Next >"]
            lines = ["Back to Search", f"Page {s.page_no} (Total results: {len(s.hits)})", *nav]
            for asin in self.page_hits():
                product = self.catalogue.products[asin]
                lines += [asin, product["Title"], product["Price"]]
            return lines
        assert s.asin is not None
        product = self.catalogue.products[s.asin]
        head = ["Back to Search", "< Prev"]
        if s.page == "description":
            return [*head, product["Description"]]
        if s.page == "features":
            return [*head, *product["BulletPoints"]]
        if s.page == "reviews":
            return head
        lines = list(head)
        for name, values in product["options"].items():
            lines += [name, *values]
        lines += [product["Title"], f"Price: {product['Price']}", "Rating: N.A."]
        return [*lines, "Description", "Features", "Reviews", "Buy Now"]
