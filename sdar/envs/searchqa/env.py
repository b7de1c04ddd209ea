"""`SearchQAEnv`: one question at a time, answered through searches (the Search-R1 game).

Episode rules (SDAR_SPEC 1.1, 1.3):

* reset shows the question (``info["goal"]``);
* ``<search>query</search>`` returns the top-k passages (k = 3) as
  ``<information>Doc 1(Title: "...") text ...</information>``;
* ``<answer>text</answer>`` ends the episode: ``won`` is the normalised exact match
  against any gold answer, and the env reward is 1.0 on a match;
* anything else (the projection's "" for a malformed response, an empty query) spends
  the turn and gets a format reminder, ``is_action_valid=False`` (the authors' env sends
  an empty observation instead); an empty ``<answer></answer>`` ends the episode, lost;
* the episode ends, lost, after ``max_steps`` turns (4) without an answer.

The oracle (`expert_action`): issue the task's ``expert_queries`` in turn (the question
text; for two-hop twin questions, then the bridge entity), and answer with the first gold
answer that appears, as whole words, in the passages of any search so far; with none
after its queries, give up with ``<answer>unknown</answer>``. So on real data its
success equals answer recall@k of the question-text search.
"""

from __future__ import annotations

import re
from typing import Any

from sdar.envs.base import EnvError, StepResult, Task
from sdar.envs.searchqa.answers import answer_in_passages, exact_match
from sdar.envs.searchqa.data import Passage
from sdar.envs.searchqa.retrievers import Retriever

FORMAT_REMINDER = (
    "Your previous response held no valid action. To search, write the query between "
    "<search> and </search>. To give the final answer, write it between <answer> and "
    "</answer>. Try again."
)
GIVE_UP = "unknown"
_ACTION = re.compile(r"^\s*<(search|answer)>(.*)</\1>\s*$", re.IGNORECASE | re.DOTALL)


def parse_action(action: str) -> tuple[str, str] | None:
    """``("search"|"answer", content)`` for a projected action, else None.

    >>> parse_action("<search> who wrote Dune </search>")
    ('search', 'who wrote Dune')
    >>> parse_action("look") is None
    True
    """
    match = _ACTION.match(action)
    return (match.group(1).lower(), match.group(2).strip()) if match else None


def render_passages(passages: list[Passage]) -> str:
    """The observation for one search (Search-R1's ``Doc i(Title: ...)`` layout)."""
    docs = "\n".join(
        f'Doc {i}(Title: "{p.title}") {p.text}'.rstrip() for i, p in enumerate(passages, start=1)
    )
    return f"<information>{docs}</information>"


class SearchQAEnv:
    """An `Env` for Search-QA questions over one retriever (module docstring for rules)."""

    def __init__(self, retriever: Retriever, *, topk: int = 3, max_steps: int = 4) -> None:
        self.retriever = retriever
        self.topk = topk
        self.max_steps = max_steps
        self._task: Task | None = None
        self._done = True
        self._turns = 0
        self._found: str | None = None
        self._next_query = 0
        self._last: list[Passage] = []

    def reset(self, task: Task) -> tuple[str, dict[str, Any]]:
        missing = [k for k in ("question", "answers") if k not in task.extra]
        if missing:
            raise EnvError(
                f"Search-QA task {task.task_id!r} lacks extra[{', '.join(missing)}]; build "
                "tasks with the searchqa spec's train_tasks/eval_tasks"
            )
        self._task = task
        self._done = False
        self._turns = 0
        self._found = None
        self._next_query = 0
        self._last = []
        info = self._info(won=False, valid=True)
        info["goal"] = self.question
        return self.question, info

    @property
    def question(self) -> str:
        assert self._task is not None
        return str(self._task.extra["question"])

    def step(self, action: str) -> StepResult:
        if self._task is None or self._done:
            raise EnvError("SearchQAEnv.step called on a finished episode; call reset(task) first")
        self._turns += 1
        parsed = parse_action(action)
        # An empty answer is still an answer (and wrong); an empty query searches nothing.
        valid = parsed is not None and (parsed[0] == "answer" or bool(parsed[1]))
        won, answer = False, None
        if not valid:
            observation = FORMAT_REMINDER
        elif parsed[0] == "search":
            observation = self._search(parsed[1])
        else:
            answer = parsed[1]
            won = exact_match(answer, self._task.extra["answers"])
            observation = ""
        self._done = answer is not None or self._turns >= self.max_steps
        info = self._info(won=won, valid=valid)
        if answer is not None:
            info["answer"] = answer
        return StepResult(observation, 1.0 if won else 0.0, self._done, info)

    def _search(self, query: str) -> str:
        assert self._task is not None
        self._last = self.retriever.search([query], self.topk)[0]
        queries = self._task.extra.get("expert_queries") or [self.question]
        if self._next_query < len(queries) and query == queries[self._next_query]:
            self._next_query += 1
        if self._found is None:
            self._found = answer_in_passages(
                [p.contents for p in self._last], self._task.extra["answers"]
            )
        return render_passages(self._last)

    def expert_action(self) -> str | None:
        """The oracle's next action (module docstring); None once the episode is over."""
        if self._task is None or self._done:
            return None
        if self._found is not None:
            return f"<answer>{self._found}</answer>"
        queries = self._task.extra.get("expert_queries") or [self.question]
        if self._next_query < len(queries):
            return f"<search>{queries[self._next_query]}</search>"
        return f"<answer>{GIVE_UP}</answer>"

    def close(self) -> None:
        self._task = None
        self._done = True

    def _info(self, *, won: bool, valid: bool) -> dict[str, Any]:
        assert self._task is not None
        return {
            "won": won,
            "admissible_actions": None,
            "task_type": self._task.task_type,
            "is_action_valid": valid,
            "data_source": self._task.data_source,
            "candidate_actions": [f"<search>{self.question}</search>"]
            + [f"<answer>{p.title}</answer>" for p in self._last],
        }
