"""How fast is Search-QA: env steps/s with the oracle, and retrieval queries/s through our
retriever interface vs bm25s called directly on the same index and queries.

One process. Env: the oracle plays every evaluation question (one search and one answer
each on real data); the rate counts `SearchQAEnv.step` time only. Retrieval: the question
texts as queries (the list repeated to at least 2,000), k = 3, one query per call (as the
env issues them) and as many per call as there are questions. Ours
(`BM25Retriever.search`, which also builds the Passage objects) and bm25s direct
(``bm25s.tokenize`` + ``BM25.retrieve``) alternate, ``--repeats`` times, the first to run
switching each time, and the medians are compared (goal: ours >= 0.9x direct). Usage:

    sdar bench searchqa_speed --data-dir ../shared/data/searchqa --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import time

import bm25s

from sdar.envs.searchqa.backend import retriever_for
from sdar.envs.searchqa.options import parse_options
from sdar.envs.searchqa.retrievers import STOPWORDS, BM25Retriever
from sdar.envs.searchqa.spec import SPEC, eval_tasks


def env_rate(options: dict, episodes: int) -> tuple[float, int, float]:
    """(env steps/s, steps, oracle success) over the first ``episodes`` panel questions."""
    env = SPEC.make(options)
    steps, seconds, wins = 0, 0.0, 0
    for task in eval_tasks(options, episodes):
        env.reset(task)
        while (action := env.expert_action()) is not None:
            start = time.perf_counter()
            result = env.step(action)
            seconds += time.perf_counter() - start
            steps += 1
        wins += int(result.info["won"])
    return steps / seconds, steps, wins / episodes


def ours(retriever: BM25Retriever, queries: list[str], batch: int, k: int) -> float:
    start = time.perf_counter()
    for i in range(0, len(queries), batch):
        retriever.search(queries[i : i + batch], k)
    return len(queries) / (time.perf_counter() - start)


def direct(index: bm25s.BM25, queries: list[str], batch: int, k: int) -> float:
    start = time.perf_counter()
    for i in range(0, len(queries), batch):
        tokens = bm25s.tokenize(queries[i : i + batch], stopwords=STOPWORDS, show_progress=False)
        index.retrieve(tokens, k=k, show_progress=False)
    return len(queries) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", help="Search-QA data folder (default: the built-in twin)")
    parser.add_argument("--episodes", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--topk", type=int, default=3)
    args = parser.parse_args()
    options = {"data_dir": args.data_dir} if args.data_dir else {}
    source = args.data_dir or "the built-in twin"

    rate, steps, success = env_rate(options, args.episodes)
    print(f"env ({source}): {rate:,.0f} oracle steps/s ({steps} steps), success {success:.3f}")

    retriever = retriever_for(parse_options(options))
    assert isinstance(retriever, BM25Retriever)
    questions = [t.extra["question"] for t in eval_tasks(options, args.episodes)]
    queries = questions * max(1, 2000 // len(questions))  # long enough timing windows
    for batch in (1, len(questions)):
        rates: dict[str, list[float]] = {"ours": [], "direct": []}
        for repeat in range(args.repeats):
            # alternate who goes first, so drifting load and warm caches hit both alike
            for who in ("ours", "direct") if repeat % 2 == 0 else ("direct", "ours"):
                if who == "ours":
                    rates[who].append(ours(retriever, queries, batch, args.topk))
                else:
                    rates[who].append(direct(retriever.index, queries, batch, args.topk))
        a, b = rates["ours"], rates["direct"]
        mine, theirs = statistics.median(a), statistics.median(b)
        print(
            f"retrieval, {batch:>4} queries/call: ours {mine:,.0f} q/s, bm25s direct "
            f"{theirs:,.0f} q/s, ratio {mine / theirs:.2f} (medians of {args.repeats})"
        )


if __name__ == "__main__":
    main()
