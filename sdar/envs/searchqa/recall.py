"""Answer recall of a retriever: how often a gold answer is in the top-k passages.

recall@k = (1/N) * sum over questions of 1[some normalised gold answer occurs, as whole
words, in the normalised contents of one of the top-k passages retrieved for the question
text]. This is the ceiling of the one-search oracle, whose success equals recall@k.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sdar.envs.searchqa.answers import answer_in_passages
from sdar.envs.searchqa.data import Question
from sdar.envs.searchqa.retrievers import Retriever


def retrieval_recall(
    retriever: Retriever, questions: Sequence[Question], topk: int, *, batch_size: int = 256
) -> dict[str, Any]:
    """``{"recall", "per_data_source", "questions", "topk"}`` for the question texts as queries."""
    if not questions:
        raise ValueError("retrieval_recall needs at least one question")
    hits: dict[str, list[bool]] = {}
    for start in range(0, len(questions), batch_size):
        batch = questions[start : start + batch_size]
        results = retriever.search([q.question for q in batch], topk)
        for question, passages in zip(batch, results, strict=True):
            found = answer_in_passages([p.contents for p in passages], question.golden_answers)
            hits.setdefault(question.data_source, []).append(found is not None)
    total = sum(sum(h) for h in hits.values())
    return {
        "recall": total / len(questions),
        "per_data_source": {ds: sum(h) / len(h) for ds, h in sorted(hits.items())},
        "questions": len(questions),
        "topk": topk,
    }
