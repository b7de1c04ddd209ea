"""kill -9 at every phase of a tiny run, then resume: the result equals an uninterrupted
run (issue 16, points 1-3). Kill points are deterministic (killer.py kills the process
from inside at a named point), so no test waits on a sleep."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file

pytestmark = pytest.mark.reliability

KILLER = Path(__file__).with_name("killer.py")
OVERRIDES = [
    "run.steps=3",
    "run.save_every=2",
    "run.threads=1",
    "env.options.max_steps=3",
    "rollout.max_new_tokens=8",
    "eval.episodes=2",
]
# Each resume is itself killed at the next point; together they cover the warm start,
# every stage of a step, kills before and after the first checkpoint, a torn state.pt
# and a checkpoint written but not yet pointed at by LATEST.
KILLS = [
    ("sft", 1),  # during the warm start: base_model/ must not look finished
    ("rollout", 1),  # step 1, before any checkpoint: logs must be cut back to step 0
    ("update", 2),  # step 2 updated in memory, not saved
    ("save", 1),  # step 2's state.pt half written
    ("score", 3),  # step 3, after the step-2 checkpoint
    ("latest", 1),  # step 3's checkpoint in place, LATEST still at step 2
]


def sdar(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sdar.cli", *args], capture_output=True, text=True, timeout=300
    )


def start_args(run: Path) -> list[str]:
    return ["train", "--preset", "tiny", "--output", str(run), "--quiet", *OVERRIDES]


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []


def without_times(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if "time" not in k and "seconds" not in k} for r in records]


def assert_same_run(expected: Path, got: Path) -> None:
    for name in ("metrics.jsonl", "evals.jsonl"):
        assert without_times(rows(got / name)) == without_times(rows(expected / name)), name
    assert [r["step"] for r in rows(got / "metrics.jsonl")] == [1, 2, 3]
    traj = "trajectories.jsonl"
    assert (got / traj).read_bytes() == (expected / traj).read_bytes()
    weights = "checkpoints/step_000003/policy/model.safetensors"
    a, b = (load_file(d / weights) for d in (expected, got))
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)
    summary = json.loads((got / "summary.json").read_text())
    assert len(summary["reward_curve"]) == 3


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("reference") / "run"
    out = sdar(*start_args(run))
    assert out.returncode == 0, out.stderr[-3000:]
    return run


def test_kill_at_every_phase_then_resume_equals_uninterrupted(reference, tmp_path):
    run = tmp_path / "run"
    for i, (phase, n) in enumerate(KILLS):
        args = start_args(run) if i == 0 else ["train", "--resume", str(run), "--quiet"]
        out = subprocess.run(
            [sys.executable, str(KILLER), phase, str(n), *args],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert out.returncode == -signal.SIGKILL, (phase, out.returncode, out.stderr[-3000:])
    out = sdar("train", "--resume", str(run), "--quiet")
    assert out.returncode == 0, out.stderr[-3000:]
    assert_same_run(reference, run)


def test_dangling_latest_falls_back_to_the_newest_complete_checkpoint(reference, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(reference, run)
    shutil.rmtree(run / "checkpoints" / "step_000003")  # LATEST now names a missing folder
    out = sdar("train", "--resume", str(run), "--quiet")
    assert out.returncode == 0, out.stderr[-3000:]
    notes = [line for line in out.stderr.splitlines() if "LATEST" in line]
    assert len(notes) == 1 and "step_000002" in notes[0], out.stderr[-3000:]
    assert_same_run(reference, run)
