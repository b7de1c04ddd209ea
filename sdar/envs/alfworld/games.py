"""ALFWorld game discovery: data directory, splits, task types and the evaluation panel.

Layout (what ``alfworld-download`` produces and ``shared/data/alfworld`` mirrors)::

    <data_dir>/json_2.1.1/<split>/<task_type>-<obj>-<mrecep>-<recep>-<scene>/<trial>/
        game.tw-pddl      the TextWorld game (JSON: pddl_domain, grammar, pddl_problem, solvable)
        traj_data.json    ALFRED metadata, holds ``task_type``

A game is kept when the same rules as alfworld's ``AlfredTWEnv`` hold: both files exist,
``solvable`` is true, the path has no ``movable``/``Sliced``, and the task type read from
the folder name equals ``traj_data.json``'s. This module needs no third-party package.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import random
import re
from dataclasses import dataclass
from pathlib import Path

from sdar.envs.base import ALFRED_TASK_TYPES, EnvError, Task

logger = logging.getLogger(__name__)

TASK_TYPES = ALFRED_TASK_TYPES
SPLITS = ("train", "valid_seen", "valid_unseen")
GAMES_FOLDER = "json_2.1.1"
DEFAULT_DATA_DIR = "~/.cache/alfworld"  # alfworld.info.ALFWORLD_DATA's fallback
DATA_HELP = (
    "Download the data with `alfworld-download` (it writes to $ALFWORLD_DATA, default "
    "~/.cache/alfworld), or point the ALFWORLD_DATA environment variable or the "
    "`data_dir` option at a folder holding json_2.1.1/<split>/.../game.tw-pddl."
)
_SOLVABLE_TAIL = re.compile(rb'"solvable"\s*:\s*(true|false)\s*}\s*$')


@dataclass(frozen=True)
class Game:
    """One playable game. ``rel_path`` is relative to ``<data_dir>/json_2.1.1``."""

    rel_path: str
    path: Path
    task_type: str


def resolve_data_dir(data_dir: str | os.PathLike[str] | None) -> Path:
    """The data folder: the option, else ``$ALFWORLD_DATA``, else ``~/.cache/alfworld``."""
    raw = data_dir if data_dir is not None else os.environ.get("ALFWORLD_DATA", DEFAULT_DATA_DIR)
    return Path(raw).expanduser().resolve()


def split_dir(data_dir: Path, split: str) -> Path:
    """``<data_dir>/json_2.1.1/<split>``, checked to exist (EnvError saying what to do)."""
    if split not in SPLITS:
        raise ValueError(f"unknown ALFWorld split {split!r}; valid splits: {', '.join(SPLITS)}")
    folder = data_dir / GAMES_FOLDER / split
    if not folder.is_dir():
        raise EnvError(f"ALFWorld data not found: {folder} does not exist. {DATA_HELP}")
    return folder


def discover_games(
    data_dir: Path, split: str, task_types: tuple[str, ...] = TASK_TYPES
) -> list[Game]:
    """All playable games of a split with one of ``task_types``, sorted by relative path."""
    folder = split_dir(data_dir, split)
    games = [g for g in _discover_split(str(folder), split) if g.task_type in task_types]
    if not games:
        raise EnvError(
            f"no playable ALFWorld games of types {list(task_types)} under {folder}. {DATA_HELP}"
        )
    return games


@functools.lru_cache(maxsize=8)
def _discover_split(folder: str, split: str) -> tuple[Game, ...]:
    # Cached per process: the full train split has 3,553 games and reading every
    # traj_data.json takes seconds; the files are read-only data.
    root = Path(folder)
    games = []
    for game_file in sorted(root.glob("*/*/game.tw-pddl")):
        game = _check_game(game_file, root, split)
        if game is not None:
            games.append(game)
    logger.debug("found %d ALFWorld games in %s", len(games), root)
    return tuple(sorted(games, key=lambda g: g.rel_path))


def _check_game(game_file: Path, root: Path, split: str) -> Game | None:
    rel = game_file.relative_to(root).as_posix()
    if "movable" in rel or "Sliced" in rel:
        return None
    folder_type = rel.split("-", 1)[0]
    traj_file = game_file.parent / "traj_data.json"
    if folder_type not in TASK_TYPES or not traj_file.is_file() or not _is_solvable(game_file):
        return None
    with traj_file.open(encoding="utf-8") as f:
        traj_type = json.load(f).get("task_type")
    if traj_type != folder_type:
        logger.warning(
            "skipping %s: folder says task type %r, traj_data.json says %r",
            rel,
            folder_type,
            traj_type,
        )
        return None
    return Game(rel_path=f"{split}/{rel}", path=game_file, task_type=folder_type)


def _is_solvable(game_file: Path) -> bool:
    # The key is written last; reading the tail avoids parsing ~0.3 MB per game.
    with game_file.open("rb") as f:
        f.seek(max(0, game_file.stat().st_size - 256))
        match = _SOLVABLE_TAIL.search(f.read())
    if match is not None:
        return match.group(1) == b"true"
    with game_file.open(encoding="utf-8") as f:
        return bool(json.load(f).get("solvable", False))


def evaluation_panel(games: list[Game]) -> list[Game]:
    """The fixed evaluation order: task types interleaved round-robin (in `TASK_TYPES`
    order), each type's games sorted by relative path, so every prefix is balanced
    across types and identical on every machine."""
    by_type = [[g for g in games if g.task_type == t] for t in TASK_TYPES]
    panel: list[Game] = []
    for rank in range(max((len(b) for b in by_type), default=0)):
        panel.extend(b[rank] for b in by_type if rank < len(b))
    return panel


def game_task(game: Game, seed: int) -> Task:
    """The `Task` for one game (the game itself is deterministic; ``seed`` is carried)."""
    return Task(
        task_id=game.rel_path,
        task_type=game.task_type,
        seed=seed,
        data_source="alfworld",
        extra={"game_file": str(game.path)},
    )


def draw_tasks(games: list[Game], seed: int, n: int) -> list[Task]:
    """``n`` seeded draws: shuffled passes over the games, so a batch repeats a game only
    when ``n`` exceeds the number of games."""
    rng = random.Random(seed)
    tasks: list[Task] = []
    while len(tasks) < n:
        order = list(games)
        rng.shuffle(order)
        tasks.extend(game_task(g, rng.randrange(2**31)) for g in order[: n - len(tasks)])
    return tasks


def panel_tasks(games: list[Game], n: int) -> list[Task]:
    """The first ``n`` games of the panel, cycling when ``n`` exceeds its length."""
    panel = evaluation_panel(games)
    return [game_task(panel[i % len(panel)], seed=i) for i in range(n)]
