"""The command line: help, version, listings, the tiny smoke run and clear errors."""

import json
import re
import subprocess
import sys

import pytest

from sdar import __version__
from sdar.cli import main


def run(*args):
    return subprocess.run(
        [sys.executable, "-m", "sdar.cli", *args], capture_output=True, text=True, timeout=600
    )


def test_version_and_help(capsys):
    with pytest.raises(SystemExit):
        main(["--version"])
    assert __version__ in capsys.readouterr().out
    assert main([]) == 0
    out = capsys.readouterr().out
    for command in ("train", "eval", "sft", "presets", "methods", "envs", "play", "skills"):
        assert command in out


def test_listings(capsys):
    assert main(["presets"]) == 0
    assert "quickstart" in capsys.readouterr().out
    assert main(["methods"]) == 0
    out = capsys.readouterr().out
    for m in ("grpo", "sdar", "opsd", "grpo_opsd", "skill_grpo", "skill_sd", "rlsd"):
        assert m in out
    assert main(["envs"]) == 0
    assert "household" in capsys.readouterr().out


def test_bad_config_gives_one_clear_message():
    out = run("train", "--preset", "tiny", "algo.method=ppo", "optim.lr=fast")
    assert out.returncode == 2
    assert "algo.method: 'ppo' is not one of" in out.stderr
    assert "optim.lr: expected float" in out.stderr
    assert "Traceback" not in out.stderr


def test_missing_model_gives_one_clear_message(tmp_path):
    out = run(
        "train",
        "--preset",
        "tiny",
        "model.name=no-such-org/no-such-model",
        "sft.episodes=0",
        "--output",
        str(tmp_path / "r"),
    )
    assert out.returncode == 2
    assert "not available offline" in out.stderr or "not found" in out.stderr
    assert "Traceback" not in out.stderr


def test_missing_run_dir_for_resume(tmp_path):
    out = run("train", "--resume", str(tmp_path / "nothing"))
    assert out.returncode == 2 and "not a run directory" in out.stderr


def test_play_json(capsys):
    assert main(["play", "household", "--agent", "expert", "--episodes", "6", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["success"] == 1.0
    assert {"success", "per_task_type", "episodes", "steps_per_second"} <= set(result)


def test_skills_show_and_check(capsys):
    assert main(["skills", "show", "--env", "alfworld", "--task", "put a hot mug in cabinet."]) == 0
    out = capsys.readouterr().out
    assert "heat" in out.lower() and "microwave" in out.lower()
    from sdar.skills.bank import builtin_bank_dir

    assert main(["skills", "check", str(builtin_bank_dir("household"))]) == 0


def test_tiny_smoke_run_writes_the_run_directory(tmp_path):
    out = run("train", "--preset", "tiny", "--output", str(tmp_path / "run"), "--quiet")
    assert out.returncode == 0, out.stderr
    assert "success (%), 95% interval" in out.stdout and "run directory" in out.stdout
    assert re.search(r"\[\d+\.\d, \d+\.\d\]", out.stdout)  # Wilson intervals per row
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    for key in ("eval_before", "eval_after"):
        assert {"success", "per_task_type"} <= set(summary[key])
    assert summary["method"] == "sdar" and summary["wall_seconds"] > 0
    for name in (
        "config.yaml",
        "metrics.jsonl",
        "evals.jsonl",
        "trajectories.jsonl",
        "curves.png",
        "checkpoints/LATEST",
        "base_model/config.json",
    ):
        assert (tmp_path / "run" / name).exists(), name
    traj = json.loads((tmp_path / "run" / "trajectories.jsonl").read_text().splitlines()[0])
    assert {"prompt", "response", "action", "valid", "score"} <= set(traj["turns"][0])
    again = run("train", "--preset", "tiny", "--output", str(tmp_path / "run"))
    assert again.returncode == 2 and "--resume" in again.stderr
    ev = run("eval", str(tmp_path / "run"), "--json")
    assert ev.returncode == 0, ev.stderr
    assert 0.0 <= json.loads(ev.stdout)["success"] <= 1.0
    # a model folder with overrides after it (the first must not be taken for a run dir)
    base = str(tmp_path / "run" / "base_model")
    ev = run("eval", "--model", base, "--preset", "tiny", "eval.episodes=3", "--json")
    assert ev.returncode == 0, ev.stderr
    assert json.loads(ev.stdout)["episodes"] == 3


def test_missing_alfworld_data_gives_one_clear_message(tmp_path):
    out = run("play", "alfworld", "--episodes", "1", "--data-dir", str(tmp_path / "none"))
    assert out.returncode == 2
    assert "ALFWORLD_DATA" in out.stderr or "alfworld-download" in out.stderr
    assert "Traceback" not in out.stderr
