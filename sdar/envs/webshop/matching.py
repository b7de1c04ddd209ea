"""The text matching WebShop's reward is built on, reimplemented with the standard library.

* `token_set_ratio`: the fuzzy score WebShop takes from ``thefuzz`` (which calls
  ``rapidfuzz``): both texts lose the characters U+0080-U+00FF, every other
  non-alphanumeric character becomes a space, they are lower-cased and split into token
  sets. If one set contains the other the score is 100; otherwise it is the best Indel
  similarity ``200 * LCS(x, y) / (len(x) + len(y))`` among the pairs built from the
  sorted intersection ``s`` and differences ``d1``, ``d2``: (s + d1, s + d2), (s, s + d1),
  (s, s + d2), rounded to an integer. WebShop counts a match when it is above 85.
* `normalize_color`: the first of WebShop's colour words found in an option value.
* `title_nouns`: the words WebShop's type reward compares. WebShop keeps the NOUN and
  PROPN tokens of spaCy's ``en_core_web_sm``; we keep every alphabetic word that is not a
  function word, which agrees on product titles (mostly capitalised nouns) except at the
  margins (adjectives and verbs count here). See docs/webshop.md, "Deviations".
"""

from __future__ import annotations

import re

_COLOR_TEXT = (
    "alabaster apricot aqua ash asphalt azure banana beige black blue blush bordeaux bronze "
    "brown burgundy camel camo caramel champagne charcoal cheetah chestnut chocolate christmas "
    "coffee cognac copper coral cranberry cream crystal dark denim eggplant elephant espresso "
    "fuchsia gold granite grape graphite grass gray green grey heather indigo ivory ivy khaki "
    "lavender lemon leopard light lilac lime magenta maroon mauve merlot midnight mint mocha "
    "multicolor mushroom mustard natural navy nude olive orange peach pewter pink plum purple "
    "rainbow red rose royal rust sand sapphire seashell silver skull slate steel stone "
    "stonewash sunflower tan taupe teal tiger turquoise violet walnut wheat white wine yellow"
)
COLORS = tuple(_COLOR_TEXT.split())
"""WebShop's colour words, in its order (the first one found wins)."""

_FUNCTION_TEXT = (
    "a an the this that these those and or nor but so yet for of in on at by to from with "
    "without into onto over under up down out off about above below between through per "
    "via vs as is are was were be been being it its it's he she they them their his her "
    "we our you your i me my not no s t w x all any each every both some more most other "
    "such only own same than too very can will just should now also including include "
    "includes"
)
FUNCTION_WORDS = frozenset(_FUNCTION_TEXT.split())
"""Closed-class words that are never nouns in a product title."""

_LATIN1 = {i: None for i in range(128, 256)}
_WORD = re.compile(r"[^\W\d_][^\W_]*(?:'[^\W\d_]+)?")


def normalize_color(value: str) -> str:
    """The first WebShop colour word inside ``value``, else ``value`` unchanged.

    >>> normalize_color("navy | white"), normalize_color("x-large")
    ('navy', 'x-large')
    """
    for color in COLORS:
        if color in value:
            return color
    return value


def fuzz_process(text: str) -> str:
    """Drop U+0080-U+00FF, turn other non-alphanumerics into spaces, lower-case, trim.

    >>> fuzz_process("28\\" x 28\\", Grey/Blue")
    '28  x 28   grey blue'
    """
    kept = text.translate(_LATIN1)
    return "".join(c if c.isalnum() else " " for c in kept).lower().strip()


def lcs_length(a: str, b: str) -> int:
    """Length of the longest common subsequence (bit-parallel, Hyyrö 2004).

    >>> lcs_length("navy blue", "blue navy")
    4
    """
    if len(a) < len(b):
        a, b = b, a
    if not b:
        return 0
    masks: dict[str, int] = {}
    for i, c in enumerate(b):
        masks[c] = masks.get(c, 0) | (1 << i)
    full = (1 << len(b)) - 1
    v = full
    for c in a:
        u = v & masks.get(c, 0)
        v = ((v + u) | (v - u)) & full
    return len(b) - bin(v).count("1")


def indel_ratio(a: str, b: str) -> float:
    """``200 * LCS / (len(a) + len(b))`` (100 for two empty strings)."""
    total = len(a) + len(b)
    return 100.0 if total == 0 else 200.0 * lcs_length(a, b) / total


def token_set_ratio(a: str, b: str) -> int:
    """thefuzz's ``token_set_ratio`` (see the module docstring), an integer in [0, 100].

    >>> token_set_ratio("essential oil", "essential oils"), token_set_ratio("grey", "color: grey")
    (96, 100)
    """
    ta, tb = set(fuzz_process(a).split()), set(fuzz_process(b).split())
    if not ta or not tb:
        return 0
    if ta <= tb or tb <= ta:
        return 100
    sect = " ".join(sorted(ta & tb))
    with_a = f"{sect} {' '.join(sorted(ta - tb))}".strip()
    with_b = f"{sect} {' '.join(sorted(tb - ta))}".strip()
    scores = [indel_ratio(with_a, with_b)]
    if sect:
        scores += [indel_ratio(sect, with_a), indel_ratio(sect, with_b)]
    return int(round(max(scores)))


def title_nouns(title: str) -> list[str]:
    """The title's words that stand in for spaCy's NOUN/PROPN tokens (module docstring).

    >>> title_nouns("Blue Diamond Almonds, Hint of Sea Salt (Pack of 12)")
    ['blue', 'diamond', 'almonds', 'hint', 'sea', 'salt', 'pack']
    """
    words = _WORD.findall(title.lower())
    return [w for w in words if w not in FUNCTION_WORDS and len(w) > 1]
