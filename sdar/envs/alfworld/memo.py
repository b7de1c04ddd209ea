"""Memoised TatSu parsing for TextWorld's PDDL text grammar, scoped to our env's calls.

Profiling real games (docs/alfworld.md) puts most of a step in TextWorld's
``_gather_infos``: every admissible action's command template and the feedback go through
``ContextSensitiveGrammar.derive``, which re-parses its start string with TatSu on every
call, and the grammar's conditions re-parse their query text (``Rule.parse_conjunctive_
query``) on every use. Both parses are pure functions of a string drawn from a small,
fixed set (the game's templates and rules), so they are memoised here. Derivations that
read the game state (feedback, conditions) still run every time; a start string made of
literal text and ``{expression}`` symbols only (the admissible actions' command
templates) reads nothing but the action's variables, whose entity infos are fixed from
one ``load`` to the next, so its derived text is memoised per (template, variable
mapping) and cleared at every load.

`MemoisedTextWorld` wraps one TextWorld env: only while its own ``load``/``reset``/``step``
run are the two parse functions of ``textworld.envs.pddl.textgen`` and the game grammar's
``derive`` swapped for memoised ones (restored afterwards, so other TextWorld envs in the
process are untouched), and the memo lives on the wrapper. Parsed symbols are deep-copied
per use because ``derive`` mutates them. Envs are stepped from one thread per process
(VectorEnv uses processes).
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
        self._derived: dict[tuple[str, tuple], str] = {}
        self._plain: dict[str, bool] = {}
        self.parse_calls = 0
        """Parses actually run (memo misses), for tests and benchmarks."""

    def __getattr__(self, name: str) -> Any:  # _pddl_state, _entity_infos, ...
        return getattr(self._env, name)

    def load(self, path: str) -> Any:
        self._derived.clear()  # new entity infos (names)
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

        plain_types = (textgen.TerminalSymbol, textgen.EvalSymbol)
        grammar = getattr(self._env, "_logic", None)
        grammar = grammar.grammar if grammar is not None else None

        def derive(start: str, context: dict | None = None) -> str:
            context = {} if context is None else context
            if start not in self._plain:
                symbols = parse_symbols(start, rule_name="symbols", trace=False)
                self._plain[start] = all(isinstance(x, plain_types) for x in symbols)
            if not self._plain[start] or "mapping" not in context:
                return type(grammar).derive(grammar, start, context)
            key = (start, tuple(sorted((p.name, v.name) for p, v in context["mapping"].items())))
            if key not in self._derived:
                self._derived[key] = type(grammar).derive(grammar, start, context)
            return self._derived[key]

        textgen._parse_and_convert = parse_symbols
        textgen.Rule = SimpleNamespace(parse_conjunctive_query=parse_query)
        if grammar is not None:
            grammar.derive = derive
        try:
            yield
        finally:
            textgen._parse_and_convert, textgen.Rule = parse, rule
            if grammar is not None:
                del grammar.derive
