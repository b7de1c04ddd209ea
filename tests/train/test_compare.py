"""`sdar compare` and `sdar sweep`: Student-t intervals, paired differences and missing seeds
on hand-written run folders with known answers, the CLI's JSON and report, and a tiny sweep."""

import json
import math
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from sdar.cli import main
from sdar.train.compare import (
    BEST,
    FINAL,
    build_report,
    find_run_dirs,
    load_run,
    mean_ci,
    parse_seeds,
    sweep,
    t_cdf,
    t_quantile,
)

T2 = 4.303  # t_{0.975, 2}


def write_run(root, method, seed, final=None, best=None, name=None, steps=10):
    """A minimal run directory; final=None leaves out summary.json (a failed run). The panel
    is evaluated at steps 0, 5 and 10: 0.0, ``best`` (default: final) and ``final``, plus a
    skills-in-prompt evaluation at 0.99 that must not count as the best step."""
    d = root / (name or f"{method}-s{seed}")
    d.mkdir(parents=True)
    config = {"preset": "tiny", "algo": {"method": method}, "run": {"seed": seed, "steps": steps}}
    (d / "config.yaml").write_text(yaml.safe_dump(config))
    done = steps if final is not None else 4
    metrics = [
        {
            "step": s,
            "rollout/reward": 0.1 * s + seed,
            "sdar/gate_mean": 0.5,
            "sdar/gate_active_ratio": 0.4 + 0.01 * s,
            "sdar/gap_mean": 0.01 * s,
        }
        for s in range(1, done + 1)
    ]
    (d / "metrics.jsonl").write_text("".join(json.dumps(m) + "\n" for m in metrics))
    if final is None:
        return d
    mid = final if best is None else best
    evals = [
        {"step": 0, "success": 0.0, "with_skills": False},
        {"step": 5, "success": mid, "with_skills": False},
        {"step": 5, "success": 0.99, "with_skills": True},
        {"step": 10, "success": final},  # with_skills absent: a plain evaluation
    ]
    (d / "evals.jsonl").write_text("".join(json.dumps(e) + "\n" for e in evals))
    summary = {
        "method": method,
        "env": "household",
        "steps": steps,
        "eval_before": {"success": 0.0, "per_task_type": {}, "episodes": 8, "valid_ratio": 0.5},
        "eval_after": {"success": final, "per_task_type": {}, "episodes": 8, "valid_ratio": 0.75},
        "wall_seconds": 12.4,
        "reward_curve": [m["rollout/reward"] for m in metrics],
    }
    (d / "summary.json").write_text(json.dumps(summary))
    return d


@pytest.fixture
def three_seeds(tmp_path):
    """grpo 0.1, 0.2, 0.3 and sdar 0.2, 0.4, 0.3 (final); best steps 0.3, 0.3, 0.3 and
    0.5, 0.4, 0.6."""
    for seed, (g, s, gb, sb) in enumerate(
        [(0.1, 0.2, 0.3, 0.5), (0.2, 0.4, 0.3, 0.4), (0.3, 0.3, 0.3, 0.6)]
    ):
        write_run(tmp_path, "grpo", seed, g, gb)
        write_run(tmp_path, "sdar", seed, s, sb)
    return tmp_path


def test_t_quantile_known_values():
    for df, t in [(1, 12.706), (2, 4.303), (4, 2.776), (9, 2.262), (29, 2.045)]:
        assert t_quantile(0.975, df) == pytest.approx(t, abs=6e-4)
    # closed forms for df 1 and 2, the normal limit, symmetry and the CDF round trip
    assert t_quantile(0.975, 1) == pytest.approx(math.tan(math.pi * 0.475), rel=1e-9)
    assert t_quantile(0.975, 2) == pytest.approx(0.95 / math.sqrt(2 * 0.975 * 0.025), rel=1e-9)
    assert t_quantile(0.975, 1e6) == pytest.approx(1.95996, abs=1e-4)
    assert t_quantile(0.025, 3) == pytest.approx(-t_quantile(0.975, 3))
    assert t_quantile(0.5, 7) == pytest.approx(0.0, abs=1e-9)
    assert t_cdf(t_quantile(0.9, 5.5), 5.5) == pytest.approx(0.9, abs=1e-10)
    with pytest.raises(ValueError):
        t_quantile(1.0, 3)


def test_mean_ci_small_samples():
    assert mean_ci([])["mean"] is None and mean_ci([])["ci95"] is None
    one = mean_ci([0.4])
    assert one["n"] == 1 and one["mean"] == 0.4 and one["ci95"] is None
    assert "n<2" in one["note"]
    three = mean_ci([0.1, 0.2, 0.3])
    half = T2 * 0.1 / math.sqrt(3)
    assert three["mean"] == pytest.approx(0.2) and three["sd"] == pytest.approx(0.1)
    assert three["ci95"] == pytest.approx([0.2 - half, 0.2 + half], abs=1e-4)
    assert mean_ci([0.3, 0.3])["ci95"] == pytest.approx([0.3, 0.3])


def test_known_means_intervals_and_paired_differences(three_seeds):
    runs = [load_run(p) for p in find_run_dirs([three_seeds])]
    report = build_report(runs, baseline="grpo")
    half = T2 * 0.1 / math.sqrt(3)
    assert report["metric"] == FINAL and report["missing"] == []
    g, s = report["methods"]["grpo"], report["methods"]["sdar"]
    assert list(report["methods"]) == ["grpo", "sdar"]  # the baseline first
    assert (g["n"], g["seeds"], s["n"]) == (3, [0, 1, 2], 3)
    assert g["mean"] == pytest.approx(0.2) and s["mean"] == pytest.approx(0.3)
    assert g["ci95"] == pytest.approx([0.2 - half, 0.2 + half], abs=1e-4)
    assert s["ci95"] == pytest.approx([0.3 - half, 0.3 + half], abs=1e-4)
    p = report["paired"]["sdar"]
    assert list(report["paired"]) == ["sdar"]
    assert (p["baseline"], p["n_pairs"], p["seeds"]) == ("grpo", 3, [0, 1, 2])
    assert p["diffs"] == pytest.approx([0.1, 0.2, 0.0])
    assert p["mean_diff"] == pytest.approx(0.1)
    assert p["ci95"] == pytest.approx([0.1 - half, 0.1 + half], abs=1e-4)
    # best step: max over plain evaluations (the 0.99 with skills does not count)
    best = report["best"]
    assert best["metric"] == BEST
    assert best["methods"]["grpo"]["values"] == pytest.approx([0.3, 0.3, 0.3])
    assert best["methods"]["sdar"]["mean"] == pytest.approx(0.5)
    assert best["methods"]["grpo"]["ci95"] == pytest.approx([0.3, 0.3])
    assert best["paired"]["sdar"]["diffs"] == pytest.approx([0.2, 0.1, 0.3])
    assert best["paired"]["sdar"]["mean_diff"] == pytest.approx(0.2)
    assert report["final"]["paired"] == report["paired"]
    steps = {(r["method"], r["seed"]): r["best_step"] for r in report["runs"]}
    assert steps[("grpo", 0)] == 5 and steps[("grpo", 2)] == 5  # a tie: the earliest step
    assert steps[("sdar", 1)] == 5


def test_missing_seeds_failed_runs_and_duplicates_are_reported(three_seeds):
    write_run(three_seeds, "grpo", 3)  # failed: no summary.json, metrics up to step 4
    write_run(three_seeds, "sdar", 3, 0.5)
    write_run(three_seeds, "sdar", 4, 0.6)  # grpo has no run for seed 4 at all
    write_run(three_seeds, "sdar", 0, 0.9, name="sdar-s0-copy")  # a second sdar seed 0
    write_run(three_seeds, "opsd", 0, 0.1)  # n = 1
    write_run(three_seeds, "rlsd", 0)  # no finished run at all: a row with n = 0
    runs = [load_run(p) for p in find_run_dirs([three_seeds])]
    report = build_report(runs, baseline="grpo")
    reasons = {(m["method"], m["seed"]): m["reason"] for m in report["missing"]}
    assert "no summary.json" in reasons[("grpo", 3)] and "step 4 of 10" in reasons[("grpo", 3)]
    assert "no run directory" in reasons[("grpo", 4)]
    assert "duplicate" in reasons[("sdar", 0)]
    assert "left out of the paired difference" in reasons[("sdar", 4)]
    for seed in (1, 2, 3, 4):
        assert ("opsd", seed) in reasons
    unpaired = [m for m in report["missing"] if "paired" in m["reason"]]
    assert {(m["method"], m["seed"]) for m in unpaired} == {("sdar", 3), ("sdar", 4)}
    assert report["methods"]["grpo"]["n"] == 3
    assert report["methods"]["sdar"]["seeds"] == [0, 1, 2, 3, 4]
    assert report["methods"]["sdar"]["values"][0] == pytest.approx(0.2)  # not the copy
    assert report["paired"]["sdar"]["n_pairs"] == 3
    assert report["paired"]["sdar"]["mean_diff"] == pytest.approx(0.1)
    opsd = report["methods"]["opsd"]
    assert opsd["n"] == 1 and opsd["ci95"] is None and "n<2" in opsd["note"]
    assert report["paired"]["opsd"]["ci95"] is None
    assert report["methods"]["rlsd"]["n"] == 0 and report["methods"]["rlsd"]["mean"] is None
    assert report["paired"]["rlsd"]["n_pairs"] == 0
    status = {r["run_dir"].rsplit("/", 1)[1]: (r["finished"], r["used"]) for r in report["runs"]}
    assert status["grpo-s3"] == (False, False) and status["sdar-s0-copy"] == (True, False)


def test_cli_json_layout(three_seeds, capsys):
    write_run(three_seeds, "grpo", 3)
    assert main(["compare", str(three_seeds), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["metric"] == FINAL and out["baseline"] == "grpo"
    assert set(out["methods"]["sdar"]) >= {"n", "mean", "ci95", "seeds"}
    assert set(out["paired"]["sdar"]) >= {"baseline", "n_pairs", "mean_diff", "ci95"}
    assert out["paired"]["sdar"]["mean_diff"] == pytest.approx(0.1)
    missing = {(m["method"], m["seed"]): m["reason"] for m in out["missing"]}
    assert set(missing) == {("grpo", 3), ("sdar", 3)}
    assert "failed" in missing[("grpo", 3)] and "no run directory" in missing[("sdar", 3)]
    assert out["best"]["metric"] == BEST and out["final"]["metric"] == FINAL
    assert out["best"]["paired"]["sdar"]["mean_diff"] == pytest.approx(0.2)
    assert len(out["runs"]) == 7
    # --metric selects the top-level tables; the baseline can be any method
    runs = [str(p) for p in sorted(three_seeds.iterdir())]
    assert main(["compare", *runs, "--json", "--metric", BEST, "--baseline", "sdar"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["metric"] == BEST and list(out["paired"]) == ["grpo"]
    assert out["paired"]["grpo"]["mean_diff"] == pytest.approx(-0.2)


def test_cli_text_table(three_seeds, capsys):
    write_run(three_seeds, "sdar", 3, 0.5)
    assert main(["compare", str(three_seeds)]) == 0
    out = capsys.readouterr().out
    assert "== eval_after.success" in out and "== best.success" in out
    assert "vs grpo" in out and "+0.100" in out
    assert "missing or failed:" in out and "sdar seed 3" in out
    # one row per finished run: before, final, gain, best (its step), validity, wall time
    runs = out.split("== runs")[1].splitlines()
    row = next(line.split() for line in runs if line.split()[:2] == ["sdar", "1"])
    assert row[:6] == ["sdar", "1", "0.000", "0.400", "+0.400", "0.400"], row
    assert row[6:] == ["(5)", "0.500", "->", "0.750", "12", "s"], row


def test_cli_out_writes_report_and_plots(three_seeds, tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["compare", str(three_seeds), "--out", str(out)]) == 0
    capsys.readouterr()
    text = (out / "report.md").read_text()
    assert f"sdar compare {three_seeds} --out {out}" in text
    assert "| sdar | 3 | 0.300 |" in text and "| vs grpo |" in text
    assert "## Runs" in text and "grpo-s2" in text and "(step 5)" in text
    assert "| grpo | 2 | 0.000 | 0.300 | +0.300 | 0.300 (5) | 0.500 -> 0.750 | 12 s |" in text
    for name in ("success.png", "gate.png", "reward.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"]({name})" in text


def test_bad_input_is_one_line(tmp_path, capsys):
    assert main(["compare", str(tmp_path / "nope")]) == 2
    assert "not a directory" in capsys.readouterr().err
    assert main(["compare", str(tmp_path)]) == 2
    assert "neither a run directory" in capsys.readouterr().err


def test_parse_seeds():
    assert parse_seeds("0-4") == [0, 1, 2, 3, 4]
    assert parse_seeds("0,2,5") == [0, 2, 5]
    assert parse_seeds("0-2, 7") == [0, 1, 2, 7]
    for bad in ("", "a", "3-1", "-1", "1-"):
        with pytest.raises(ValueError, match="--seeds"):
            parse_seeds(bad)
    with pytest.raises(ValueError, match="run.seed"):
        sweep("tiny", ["grpo"], [0], "unused", ["run.seed=3"])


def test_sweep_commands_and_a_failed_run(tmp_path, monkeypatch, capsys):
    """The commands sweep runs, and a run that fails: the others go on, compare lists it,
    the exit status is 1 (subprocess replaced by a fake: no training)."""
    import sdar.train.compare as compare

    calls = []

    def fake_run(cmd, check):
        calls.append(cmd)
        if "--resume" in cmd:  # the sdar runs fail again
            return subprocess.CompletedProcess(cmd, 1)
        method, seed = cmd[cmd.index("--output") + 1].rsplit("/", 1)[1].split("-s")
        # grpo finishes; sdar dies after its config.yaml (no summary.json)
        final = 0.25 if method == "grpo" else None
        write_run(tmp_path, method, int(seed), final, name=f"sweep/{method}-s{seed}")
        return subprocess.CompletedProcess(cmd, 0 if final else 1)

    monkeypatch.setattr(compare.subprocess, "run", fake_run)
    out = tmp_path / "sweep"
    argv = ["sweep", "--preset", "tiny", "--methods", "grpo,sdar", "--seeds", "0,1"]
    assert main([*argv, "--out", str(out), "optim.lr=0.01"]) == 1
    assert len(calls) == 4
    assert calls[0][3:] == [
        "train",
        "--quiet",
        "--preset",
        "tiny",
        "--output",
        str(out / "grpo-s0"),
        "run.seed=0",
        "optim.lr=0.01",
        "algo.method=grpo",
    ]
    text = capsys.readouterr().out
    assert "sdar-s1: trained (failed, exit 1)" in text
    assert "sdar seed 1" in text and "no summary.json" in (out / "report.md").read_text()
    calls.clear()
    assert main([*argv, "--out", str(out)]) == 1  # grpo skipped, sdar resumed (fails again)
    assert [c[4:6] for c in calls] == [["--quiet", "--resume"]] * 2
    assert calls[0][6] == str(out / "sdar-s0")


def test_sweep_tiny_trains_skips_and_resumes(tmp_path, capsys):
    out = tmp_path / "sweep"
    argv = ["sweep", "--preset", "tiny", "--methods", "grpo,sdar", "--seeds", "0"]
    # one torch thread: on a shared 2-core machine two threads per run are several times slower
    argv += ["--out", str(out), "run.steps=1", "eval.episodes=2", "run.threads=1"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    for name in ("grpo-s0", "sdar-s0"):
        assert (out / name / "summary.json").is_file() and f"{name}: trained" in text
    report = (out / "report.md").read_text()
    assert "| grpo | 1 |" in report and "| sdar | 1 |" in report
    assert (out / "success.png").is_file()
    config = yaml.safe_load((out / "sdar-s0" / "config.yaml").read_text())
    assert (config["algo"]["method"], config["run"]["seed"], config["run"]["steps"]) == (
        "sdar",
        0,
        1,
    )
    # a rerun skips the finished run and resumes the one without summary.json
    kept = (out / "grpo-s0" / "summary.json").stat().st_mtime_ns
    (out / "sdar-s0" / "summary.json").unlink()
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "grpo-s0: skipped" in text and "sdar-s0: resumed" in text
    assert (out / "grpo-s0" / "summary.json").stat().st_mtime_ns == kept
    assert (out / "sdar-s0" / "summary.json").is_file()


def test_wilson_interval_known_values():
    from sdar.train.compare import wilson_interval

    lo, hi = wilson_interval(5, 10)
    assert lo == pytest.approx(0.2366, abs=1e-4) and hi == pytest.approx(0.7634, abs=1e-4)
    lo, hi = wilson_interval(0, 128)
    assert lo == 0.0 and hi == pytest.approx(0.0291, abs=1e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_sweep_shared_warm_start_and_jobs(tmp_path, monkeypatch):
    """--share-warm-start: one `sdar sft` per seed first, then every run of that seed starts
    from it; --jobs 2 runs two at a time with half the cores each (fake subprocess)."""
    import threading

    import sdar.train.compare as compare

    calls, lock = [], threading.Lock()
    running, peak = [0], [0]

    def fake_run(cmd, check):
        with lock:
            calls.append(cmd)
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.05)
        if cmd[3] == "sft":
            base = Path(cmd[cmd.index("--output") + 1]) / "base_model"
            base.mkdir(parents=True)
            (base / "config.json").write_text("{}")
        with lock:
            running[0] -= 1
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.setattr(compare.subprocess, "run", fake_run)
    monkeypatch.setattr(compare.os, "cpu_count", lambda: 4)
    out = tmp_path / "sw"
    records = sweep("tiny", ["grpo", "grpo_opsd"], [0, 1], out, jobs=2, share_warm_start=True)
    assert [c[3] for c in calls[:2]] == ["sft", "sft"]
    assert sorted(c[c.index("--output") + 1] for c in calls[:2]) == [
        str((out / "warm-starts" / f"s{s}").resolve()) for s in (0, 1)
    ]
    trains = calls[2:]
    assert len(trains) == 4 and all(c[3] == "train" for c in trains)
    for c in trains:
        seed = c[c.index("--output") + 1].rsplit("-s", 1)[1]
        warm = (out / "warm-starts" / f"s{seed}" / "base_model").resolve()
        assert f"model.name={warm}" in c and "sft.episodes=0" in c and "run.threads=2" in c
    assert peak[0] == 2
    assert [(r["method"], r["seed"], r["action"]) for r in records] == [
        ("grpo", 0, "trained"),
        ("grpo", 1, "trained"),
        ("grpo_opsd", 0, "trained"),
        ("grpo_opsd", 1, "trained"),
    ]
    # GRPO+OPSD is the SDAR term with beta = 0, whatever the preset's gate_beta
    assert all(("algo.gate_beta=0" in c) == ("algo.method=grpo_opsd" in c) for c in trains)
    # a second sweep reuses the warm starts (no sft) and resumes nothing that has no config
    calls.clear()
    sweep("tiny", ["grpo"], [0], out, share_warm_start=True)
    assert [c[3] for c in calls] == ["train"]
    with pytest.raises(ValueError, match="--jobs"):
        sweep("tiny", ["grpo"], [0], out, jobs=0)
