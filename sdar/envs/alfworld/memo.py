"""Memoised TatSu parsing for TextWorld's PDDL text grammar, scoped to our env's calls.

Profiling real games (docs/alfworld.md) puts most of a step in TextWorld's
``_gather_infos``: every admissible action's command template and the feedback go through
``ContextSensitiveGrammar.derive``, which re-parses its start string with TatSu on every
call, and the grammar's conditions re-parse their query text (``Rule.parse_conjunctive_
query``) on every use. Both parses are pure functions of a string drawn from a small,
fixed set (the game's templates and rules), so they are memoised here; the derivation
itself, which reads the game state, still runs every time.

`MemoisedTextWorld` wraps one TextWorld env: only while its own ``load``/``reset``/``step``
run are the two parse functions of ``textworld.envs.pddl.textgen`` swapped for memoised
ones (restored afterwards, so other TextWorld envs in the process are untouched), and the
memo lives on the wrapper. Parsed symbols are deep-copied per use because ``derive``
mutates them. Envs are stepped from one thread per process (VectorEnv uses processes).
"""

from __future__ import annotations

import copy
import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any


class MemoisedTextWorld:
    """A TextWorld env whose grammar parses are memoised per template string."""

    def __init__(self, env: Any) -> None:
        self._env = env
        self._textgen = importlib.import_module("textworld.envs.pddl.textgen")
        self._symbols: dict[tuple[str, tuple], list] = {}
        self._queries: dict[str, Any] = {}
        self.parse_calls = 0
        """Parses actually run (memo misses), for tests and benchmarks."""

    def __getattr__(self, name: str) -> Any:  # _pddl_state, _entity_infos, ...
        return getattr(self._env, name)

    def load(self, path: str) -> Any:
        with self._memoised():
            return self._env.load(path)

    def reset(self) -> Any:
        with self._memoised():
            return self._env.reset()

    def step(self, command: str) -> Any:
        with self._memoised():
            return self._env.step(command)

    @contextmanager
    def _memoised(self) -> Iterator[None]:
        textgen = self._textgen
        parse, rule = textgen._parse_and_convert, textgen.Rule

        def parse_symbols(text: str, **kwargs: Any) -> list:
            key = (text, tuple(sorted(kwargs.items())))
            if key not in self._symbols:
                self.parse_calls += 1
                self._symbols[key] = parse(text, **kwargs)
            return copy.deepcopy(self._symbols[key])

        def parse_query(expression: str) -> Any:
            if expression not in self._queries:
                self.parse_calls += 1
                self._queries[expression] = rule.parse_conjunctive_query(expression)
            return self._queries[expression]

        textgen._parse_and_convert = parse_symbols
        textgen.Rule = SimpleNamespace(parse_conjunctive_query=parse_query)
        try:
            yield
        finally:
            textgen._parse_and_convert, textgen.Rule = parse, rule
