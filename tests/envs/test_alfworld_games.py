"""ALFWorld discovery, splits, options and the evaluation panel (needs the data only)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from sdar.envs.alfworld.games import (
    SPLITS,
    TASK_TYPES,
    discover_games,
    evaluation_panel,
    resolve_data_dir,
)
from sdar.envs.alfworld.options import parse_options
from sdar.envs.alfworld.spec import SPEC, eval_tasks, train_tasks
from sdar.envs.base import EnvError

DATA = Path(
    os.environ.get("ALFWORLD_DATA")
    or Path(__file__).resolve().parents[2] / "../shared/data/alfworld"
).resolve()
needs_data = pytest.mark.skipif(
    not (DATA / "json_2.1.1").is_dir(), reason=f"ALFWorld data not found at {DATA}"
)


def test_options_defaults_and_errors():
    config = parse_options({})
    assert (config.split, config.eval_split, config.max_steps) == ("train", "valid_seen", 50)
    assert config.task_types == TASK_TYPES
    with pytest.raises(ValueError, match="unknown ALFWorld option 'spilt'"):
        parse_options({"spilt": "train"})
    with pytest.raises(ValueError) as err:
        parse_options({"max_steps": 0, "eval_split": "test", "task_types": ["cook"]})
    message = str(err.value)
    assert "max_steps" in message and "eval_split" in message and "'cook'" in message


def test_data_dir_resolution(monkeypatch, tmp_path):
    monkeypatch.setenv("ALFWORLD_DATA", str(tmp_path))
    assert resolve_data_dir(None) == tmp_path.resolve()
    assert resolve_data_dir("/x/y") == Path("/x/y")
    monkeypatch.delenv("ALFWORLD_DATA")
    assert resolve_data_dir(None) == (Path.home() / ".cache/alfworld").resolve()


def test_missing_data_dir_is_a_clear_env_error(tmp_path):
    with pytest.raises(EnvError, match="alfworld-download") as err:
        eval_tasks({"data_dir": str(tmp_path / "nowhere")}, 3)
    assert "ALFWORLD_DATA" in str(err.value) and "json_2.1.1" in str(err.value)


@needs_data
def test_task_type_of_every_game_matches_traj_data():
    counts = {}
    for split in SPLITS:
        for game in discover_games(DATA, split):
            traj = json.loads((game.path.parent / "traj_data.json").read_text())
            assert game.task_type == traj["task_type"], game.rel_path
            assert game.rel_path.startswith(f"{split}/{game.task_type}-")
            counts[split] = counts.get(split, 0) + 1
    assert counts == {"train": 36, "valid_seen": 24, "valid_unseen": 24}


@needs_data
def test_panel_is_fixed_interleaved_and_cycles():
    options = {"data_dir": str(DATA)}
    panel = eval_tasks(options, 30)
    assert [t.task_type for t in panel[:6]] == list(TASK_TYPES)
    ids = [t.task_id for t in panel]
    assert ids[24:] == ids[:6]  # 24 valid_seen games, then it cycles
    games = discover_games(DATA, "valid_seen")
    assert [g.rel_path for g in games] == sorted(g.rel_path for g in games)
    assert [t.task_id for t in panel[:24]] == [g.rel_path for g in evaluation_panel(games)]
    assert eval_tasks(options, 30) == panel
    unseen = eval_tasks({**options, "eval_split": "valid_unseen"}, 2)
    assert all(t.task_id.startswith("valid_unseen/") for t in unseen)
    assert Path(panel[0].extra["game_file"]).is_file()


@needs_data
def test_train_draws_are_seeded_and_filtered():
    options = {"data_dir": str(DATA), "task_types": ["pick_two_obj_and_place"]}
    first = train_tasks(options, 7, 10)
    assert first == train_tasks(options, 7, 10) != train_tasks(options, 8, 10)
    assert {t.task_type for t in first} == {"pick_two_obj_and_place"}
    assert all(t.task_id.startswith("train/") for t in first)
    assert len({t.task_id for t in first[:6]}) == 6  # a full pass before any repeat
    assert SPEC.task_types == TASK_TYPES and SPEC.name == "alfworld"
    assert (SPEC.success_reward, SPEC.invalid_penalty, SPEC.max_steps) == (10.0, 0.1, 50)
