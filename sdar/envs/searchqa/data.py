"""Search-QA data: corpus passages and questions in Search-R1's formats.

* Corpus: jsonl, one passage a line, ``{"id": "0", "contents": "\\"Title\\"\\ntext"}``
  (wiki-18's format). ``contents`` is what the retriever indexes and returns.
* Questions: jsonl or parquet rows with ``question``, ``golden_answers`` (a list) and
  ``data_source``; ``id`` is optional (default: the row number). Search-R1/verl parquet
  rows that keep the question only in ``extra_info``/``env_kwargs`` and the answers in
  ``reward_model.ground_truth.target`` are read too. Parquet needs ``pyarrow``, imported
  only when a parquet file is read.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sdar.envs.base import EnvError

PARQUET_HELP = "reading parquet question files needs pyarrow: pip install 'sdar[parquet]'"


@dataclass(frozen=True)
class Passage:
    """One retrieved passage; ``score`` is the retriever's (0.0 where it gives none)."""

    id: str
    contents: str
    score: float = 0.0

    @property
    def title(self) -> str:
        """The first line of ``contents`` without its quotes.

        >>> Passage("7", '"Paris"\\nParis is the capital of France.').title
        'Paris'
        """
        return self.contents.split("\n", 1)[0].strip().strip('"')

    @property
    def text(self) -> str:
        """``contents`` after the title line."""
        parts = self.contents.split("\n", 1)
        return parts[1].strip() if len(parts) == 2 else ""


@dataclass(frozen=True)
class Question:
    """One question with its gold answers and the dataset it came from."""

    qid: str
    question: str
    golden_answers: tuple[str, ...]
    data_source: str


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file's bytes (keys on-disk index caches)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_jsonl(path: Path, what: str) -> list[dict[str, Any]]:
    if not path.is_file():
        raise EnvError(f"{what} file {path} not found; pass an existing file")
    rows = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise EnvError(f"{path}:{number}: not valid JSON ({exc})") from None
            if not isinstance(row, dict):
                raise EnvError(f"{path}:{number}: expected a JSON object, got {row!r:.60}")
            rows.append(row)
    return rows


def load_corpus(path: str | Path) -> list[Passage]:
    """Passages of a Search-R1-format jsonl corpus, in file order."""
    path = Path(path)
    passages = []
    for number, row in enumerate(_read_jsonl(path, "corpus"), start=1):
        contents = row.get("contents")
        if contents is None and "text" in row:  # title/text corpora (FlashRAG style)
            contents = f'"{row.get("title", "")}"\n{row["text"]}'
        if not isinstance(contents, str):
            raise EnvError(
                f"{path}: passage {number} has no 'contents' string; corpus lines look like "
                '{"id": "0", "contents": "\\"Title\\"\\ntext"}'
            )
        passages.append(Passage(str(row.get("id", number - 1)), contents))
    if not passages:
        raise EnvError(f"corpus {path} holds no passages")
    return passages


def _read_parquet(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise EnvError(f"questions file {path} not found; pass an existing file")
    try:
        parquet = importlib.import_module("pyarrow.parquet")
    except ImportError:
        raise EnvError(f"{PARQUET_HELP} (to read {path})") from None
    return parquet.read_table(path).to_pylist()


def _nested(row: Mapping[str, Any], *keys: str) -> Any:
    value: Any = row
    for key in keys:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _question(row: Mapping[str, Any], number: int, path: Path) -> Question:
    text = (
        row.get("question")
        or _nested(row, "extra_info", "question")
        or _nested(row, "env_kwargs", "question")
    )
    answers = row.get("golden_answers")
    if answers is None:
        answers = _nested(row, "reward_model", "ground_truth", "target")
    if isinstance(answers, str):
        answers = [answers]
    if not isinstance(text, str) or not text.strip():
        raise EnvError(f"{path}: row {number} has no 'question' text")
    if not isinstance(answers, Sequence) or not answers:
        raise EnvError(f"{path}: row {number} has no 'golden_answers' list")
    qid = row.get("id")
    if qid is None:
        qid = _nested(row, "extra_info", "index")
    return Question(
        qid=str(number if qid is None else qid),
        question=text.strip(),
        golden_answers=tuple(str(a) for a in answers),
        data_source=str(row.get("data_source") or "unknown"),
    )


def load_questions(path: str | Path) -> list[Question]:
    """Questions from a ``.jsonl`` or ``.parquet`` file, in file order."""
    path = Path(path)
    if path.suffix == ".parquet":
        rows = _read_parquet(path)
    elif path.suffix in (".jsonl", ".json"):
        rows = _read_jsonl(path, "questions")
    else:
        raise EnvError(f"questions file {path}: expected a .jsonl or .parquet file")
    questions = [_question(row, i, path) for i, row in enumerate(rows)]
    if not questions:
        raise EnvError(f"questions file {path} holds no questions")
    return questions
