"""Every bad input the CLI can get: rc 2, one line on stderr, no traceback, and the line
names the offending key, flag or path (issue 16, points 4-7)."""

from __future__ import annotations

import errno
import subprocess
import sys
from pathlib import Path

import pytest

from sdar.cli import main

pytestmark = pytest.mark.reliability


def sdar(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sdar.cli", *args], capture_output=True, text=True, timeout=120
    )


def assert_one_clear_line(out: subprocess.CompletedProcess | tuple, *names: str) -> str:
    rc, err = (out.returncode, out.stderr) if hasattr(out, "returncode") else out
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc == 2, (rc, err[-3000:])
    assert "Traceback" not in err, err[-3000:]
    assert len(lines) == 1, err
    for name in names:
        assert name in lines[0], (name, lines[0])
    return lines[0]


@pytest.mark.parametrize(
    "override, allowed",
    [
        ("run.save_every=0", ">= 1"),
        ("sft.batch_size=0", ">= 1"),
        ("run.steps=-3", ">= 0"),
        ("sft.epochs=-1", ">= 1"),
        ("rollout.temperature=0", "> 0"),
        ("rollout.top_p=0", "(0, 1]"),
        ("rollout.top_p=1.5", "(0, 1]"),
        ("optim.betas=[0.9,1.2]", "[0, 1)"),
    ],
)
def test_out_of_range_config_value(override, allowed):
    key, value = override.split("=")
    line = assert_one_clear_line(sdar("train", "--preset", "tiny", override), key, allowed)
    assert value.split(",")[-1].strip("[]") in line


def test_config_error_does_not_import_torch():
    """Point 7: the config is checked before torch/transformers load (5-6 s before)."""
    code = (
        "import sys; from sdar.cli import main; rc = main(['train', 'run.steps=-3']); "
        "print(rc, 'torch' in sys.modules, 'transformers' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["2", "False", "False"], out.stdout + out.stderr[-2000:]


def test_output_under_a_file(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    target = blocker / "run"
    line = assert_one_clear_line(
        sdar("train", "--preset", "tiny", "--output", str(target)), str(blocker)
    )
    assert "not a directory" in line and "--output" in line


def test_output_that_is_a_file(tmp_path):
    target = tmp_path / "file"
    target.write_text("x")
    line = assert_one_clear_line(sdar("train", "--preset", "tiny", "--output", str(target)))
    assert f"{target} is a file" in line and "--output" in line


def test_output_on_a_read_only_file_system(tmp_path, monkeypatch, capsys):
    # Root ignores permission bits (CI runs as root), so the error is injected where the
    # run directory is created.
    target = tmp_path / "ro" / "run"

    def read_only(self, *args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", str(self))

    monkeypatch.setattr(Path, "mkdir", read_only)
    rc = main(["train", "--preset", "tiny", "--output", str(target)])
    line = assert_one_clear_line((rc, capsys.readouterr().err), str(target), "read-only")
    assert "--output" in line


def test_full_disk_during_a_run(tmp_path, monkeypatch, capsys):
    """ENOSPC anywhere in a run: one line naming the file, and how to continue."""
    import sdar.train.loop

    path = tmp_path / "run" / "checkpoints" / ".tmp_step_000002" / "state.pt"

    def full(self, resume=False):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(sdar.train.loop.Trainer, "run", full)
    rc = main(["train", "--preset", "tiny", "--output", str(tmp_path / "run")])
    line = assert_one_clear_line((rc, capsys.readouterr().err), str(path), "--resume")
    assert "no space left" in line.lower()


def test_resume_of_a_missing_run(tmp_path):
    assert_one_clear_line(sdar("train", "--resume", str(tmp_path / "nothing")), "nothing")


@pytest.mark.parametrize("options", ["{bad", "[1, 2]", '"tiny"'])
def test_play_bad_options_json(options):
    line = assert_one_clear_line(sdar("play", "household", "--options", options), "--options")
    assert '{"preset": "tiny"}' in line


def test_unknown_preset():
    assert_one_clear_line(sdar("train", "--preset", "no-such-preset"), "no-such-preset")
