"""`sdar bench step` and `sdar bench envs` run on tiny settings and print their keys."""

from __future__ import annotations

import json
import sys

import pytest

from sdar.bench import envs, step
from tests.envs.test_alfworld import DATA, needs_alfworld


def _json_of(module, argv: list[str], monkeypatch, capsys) -> dict:
    monkeypatch.setattr(sys, "argv", ["sdar bench", *argv])
    module.main()
    return json.loads(capsys.readouterr().out)


@pytest.fixture(autouse=True)
def one_torch_thread():
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_bench_step_json_keys(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    argv = ["--json", "--quick", "--preset", "tiny", "--repeats", "1"]
    out = _json_of(step, [*argv, "rollout.tasks_per_step=1"], monkeypatch, capsys)
    for key in (
        "sdar_grpo_step_time_ratio",
        "sdar_grpo_peak_memory_ratio",
        "teacher_prefix_cache_speedup",
        "load_before",
    ):
        assert out[key] > 0, key
    assert out["teacher_prefix_cache_max_abs_diff"] < 1e-4
    assert set(out["grpo_s"]) == {"rollout", "advantages", "score", "update", "step"}


def test_bench_envs_json_keys_household(monkeypatch, capsys):
    argv = ["--json", "--quick", "--rounds", "1", "--families", "household"]
    out = _json_of(envs, argv, monkeypatch, capsys)
    assert out["household_expert_steps_per_s"] > 0 and out["skipped"] == {}


@needs_alfworld
def test_bench_alfworld_vs_raw_textworld_keys():
    out = envs.alfworld_vs_raw(str(DATA), games=1, steps=2, rounds=1)
    assert out["alfworld_vs_raw_textworld"] > 0 and out["alfworld_same_observations"]
