"""An on-disk cache of ALFWorld walkthroughs, keyed by game file.

Planning a game's walkthrough with fast-downward takes 0.01 s for most games but minutes
for a few (docs/alfworld.md), and the plan from a game's initial state never changes, so
it is computed once per machine and read back afterwards. One small JSON file per game,
named by a hash of the game's resolved path, size and modification time (an edited or
replaced game file misses the cache). Files are written to a temporary name and renamed,
so concurrent env workers never read half a plan.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from pathlib import Path

logger = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/sdar/alfworld-plans`` (``~/.cache/sdar/alfworld-plans``)."""
    root = os.environ.get("XDG_CACHE_HOME") or Path("~/.cache").expanduser()
    return Path(root) / "sdar" / "alfworld-plans"


def _entry(cache_dir: Path, game: Path) -> Path:
    stat = game.stat()
    key = f"{game.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}"
    return cache_dir / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.json"


def load_plan(cache_dir: Path, game: Path) -> list[str] | None:
    """The cached walkthrough of ``game``, or None (not cached, or unreadable)."""
    try:
        data = json.loads(_entry(cache_dir, game).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    plan = data.get("plan") if isinstance(data, dict) else None
    if not isinstance(plan, list) or not all(isinstance(a, str) for a in plan):
        return None
    return plan


def store_plan(cache_dir: Path, game: Path, plan: list[str]) -> None:
    """Cache ``plan`` for ``game``; a cache that cannot be written only costs time later."""
    entry = _entry(cache_dir, game)
    tmp = entry.with_name(f".{entry.name}.{os.getpid()}.tmp")
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps({"game": str(game), "plan": plan}), encoding="utf-8")
        os.replace(tmp, entry)
    except OSError as exc:
        logger.warning("could not cache the ALFWorld plan of %s in %s: %s", game, cache_dir, exc)
        with contextlib.suppress(OSError):
            tmp.unlink()
