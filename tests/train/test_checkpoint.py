"""Checkpoint folders: LATEST fall-back, torn writes and full disks (issue 16, points 3, 5)."""

from __future__ import annotations

import errno
import logging
from pathlib import Path

import pytest

from sdar.train import checkpoint as ckpt


class FakeWeights:
    """Stands in for a model and a tokenizer: ``save_pretrained`` writes one file."""

    def save_pretrained(self, folder: Path) -> None:
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / "model.safetensors").write_bytes(b"weights")


def save(run: Path, step: int) -> Path:
    return ckpt.save_checkpoint(run, step, FakeWeights(), FakeWeights(), {"x": step})


def test_latest_is_the_pointed_checkpoint(tmp_path):
    save(tmp_path, 1)
    newest = save(tmp_path, 2)
    assert ckpt.latest_checkpoint(tmp_path) == newest


@pytest.mark.parametrize("damage", ["missing", "no_state", "no_weights"])
def test_latest_at_a_broken_checkpoint_falls_back_with_one_line(tmp_path, caplog, damage):
    save(tmp_path, 1)
    newest = save(tmp_path, 2)
    if damage == "missing":
        for f in sorted(newest.rglob("*"), reverse=True):
            f.unlink() if f.is_file() else f.rmdir()
        newest.rmdir()
    elif damage == "no_state":
        (newest / "state.pt").unlink()
    else:
        (newest / "policy" / "model.safetensors").unlink()
    with caplog.at_level(logging.WARNING, logger="sdar.train.checkpoint"):
        found = ckpt.latest_checkpoint(tmp_path)
    assert found == tmp_path / "checkpoints" / "step_000001"
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "step_000002" in lines[0] and "step_000001" in lines[0]


def test_checkpoint_without_latest_is_found(tmp_path):
    """Killed after the folder rename, before LATEST was first written."""
    first = save(tmp_path, 1)
    (tmp_path / "checkpoints" / "LATEST").unlink()
    assert ckpt.latest_checkpoint(tmp_path) == first


def test_no_complete_checkpoint(tmp_path):
    assert ckpt.latest_checkpoint(tmp_path) is None
    newest = save(tmp_path, 1)
    (newest / "state.pt").unlink()
    assert ckpt.latest_checkpoint(tmp_path) is None


def test_full_disk_while_saving_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    first = save(tmp_path, 1)

    def full(obj, path, *args, **kwargs):
        Path(path).write_bytes(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(ckpt.torch, "save", full)
    with pytest.raises(OSError) as err:
        save(tmp_path, 2)
    assert err.value.errno == errno.ENOSPC
    root = tmp_path / "checkpoints"
    assert (root / "LATEST").read_text() == "step_000001"
    assert sorted(p.name for p in root.iterdir()) == ["LATEST", "step_000001"]  # no leftovers
    monkeypatch.undo()
    assert ckpt.latest_checkpoint(tmp_path) == first and ckpt.load_state(first)["x"] == 1
