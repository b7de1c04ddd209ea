"""Answer matching as Search-R1 scores it (SQuAD normalisation, exact match).

``normalize_answer`` lower-cases, drops ASCII punctuation, removes the articles a/an/the
and collapses whitespace. A prediction is correct when its normalised form equals the
normalised form of any gold answer (EM). Retrieval recall and the oracle use
`answer_in_passages`: a normalised gold answer that occurs in the normalised passage as whole
words ("paris" in "in paris france", not in "parisian").
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Sequence

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)


def normalize_answer(text: str) -> str:
    """SQuAD normalisation.

    >>> normalize_answer("  The Eiffel-Tower, Paris! ")
    'eiffeltower paris'
    """
    text = text.lower().translate(_PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, gold_answers: Iterable[str]) -> bool:
    """True if the normalised prediction equals any normalised gold answer.

    >>> exact_match("the Beatles", ["Beatles", "The Fab Four"])
    True
    >>> exact_match("Beatles band", ["Beatles"])
    False
    """
    predicted = normalize_answer(prediction)
    return any(predicted == normalize_answer(g) for g in gold_answers)


def answer_in_passages(passages: Sequence[str], gold_answers: Sequence[str]) -> str | None:
    """The first gold answer (in gold order) found as whole words in any passage.

    Gold answers that normalise to nothing never match.

    >>> answer_in_passages(["A Parisian cafe.", "Born in Paris, France."], ["London", "paris"])
    'paris'
    >>> answer_in_passages(["A Parisian cafe."], ["Paris"]) is None
    True
    """
    haystacks = [f" {normalize_answer(p)} " for p in passages]
    for gold in gold_answers:
        needle = normalize_answer(gold)
        if needle and any(f" {needle} " in h for h in haystacks):
            return gold
    return None
