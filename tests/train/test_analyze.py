"""`run.token_records` and `sdar analyze` (issue 15): the records of a tiny run, the
statistics on hand-made records with known answers, the CLI and the resume truncation."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from sdar import algos
from sdar.cli import main
from sdar.train.analyze import (
    HIST_EDGES,
    PLOTS,
    RECORDS,
    analyze_records,
    privileged_hash,
    write_analysis,
)
from sdar.train.config import SdarConfigError, load_config
from sdar.train.dist import DistContext
from sdar.train.loop import Trainer
from sdar.train.scoring import Scores

FIELDS = {
    "step",
    "group",
    "traj",
    "turn",
    "task_type",
    "valid",
    "score",
    "response_len",
    "gaps",
    "teacher_prompt_tokens",
    "skill_tokens",
    "privileged_hash",
    "privileged_len",
}
TINY = ["run.steps=2", "run.token_records=0.5", "sft.episodes=0", "eval.episodes=1"]


def _rows(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("analyze") / "run"
    assert main(["train", "--preset", "tiny", "--output", str(out), "--quiet", *TINY]) == 0
    return out


def test_tiny_run_records_a_share_of_samples_with_one_gap_per_response_token(run_dir):
    records = _rows(run_dir / RECORDS)
    metrics = _rows(run_dir / "metrics.jsonl")
    assert [m["step"] for m in metrics] == [1, 2]
    for m in metrics:  # ceil(0.5 * samples) per step (no padding, nothing dropped here)
        assert m["teacher/dropped_ratio"] == 0
        mine = [r for r in records if r["step"] == m["step"]]
        assert len(mine) == math.ceil(0.5 * m["rollout/samples"])
        assert len({(r["traj"], r["turn"]) for r in mine}) == len(mine)
    for r in records:
        assert FIELDS <= set(r) <= FIELDS | {"privileged"}
        assert 1 <= r["response_len"] == len(r["gaps"]) <= 12  # tiny: max_new_tokens 12
        assert all(g == round(g, 4) for g in r["gaps"])
        assert r["skill_tokens"] > 0 and r["teacher_prompt_tokens"] > r["skill_tokens"]


def test_each_privileged_text_is_stored_once_per_hash(run_dir):
    records = _rows(run_dir / RECORDS)
    with_text = [r for r in records if "privileged" in r]
    hashes = [r["privileged_hash"] for r in with_text]
    assert len(hashes) == len(set(hashes)) == len({r["privileged_hash"] for r in records})
    for r in with_text:
        assert privileged_hash(r["privileged"]) == r["privileged_hash"]
        assert len(r["privileged"]) == r["privileged_len"]
        # the first record with this hash holds the text
        assert records.index(r) == min(
            i for i, x in enumerate(records) if x["privileged_hash"] == r["privileged_hash"]
        )


def test_cli_json_layout_pngs_and_markdown(run_dir, tmp_path, capsys):
    out = tmp_path / "an"
    assert main(["analyze", str(run_dir), "--json", "--out", str(out)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report) == {
        "run_dir",
        "records",
        "tokens",
        "gate_beta",
        "gap",
        "gate",
        "by_turn",
        "by_position",
        "by_step",
        "training",
        "teacher_context",
        "plots",
        "out",
    }
    records = _rows(run_dir / RECORDS)
    assert report["records"] == len(records)
    assert report["tokens"] == sum(r["response_len"] for r in records)
    assert sum(report["gap"]["histogram"]["counts"]) == report["tokens"]
    assert report["gate_beta"] == 5.0
    assert [r["step"] for r in report["by_step"]] == [1, 2]
    assert len(report["by_position"]) == 10
    assert [r["step"] for r in report["training"]] == [1, 2]
    assert set(report["training"][0]) == {
        "step",
        "sdar/gate_mean",
        "sdar/gate_active_ratio",
        "sdar/gap_mean",
    }
    ctx = report["teacher_context"]
    assert ctx["distinct"] == len(ctx["texts"]) == len({r["privileged_hash"] for r in records})
    assert all(e["text"] and len(e["text"]) == e["length"] for e in ctx["texts"])
    assert report["plots"] == list(PLOTS)
    for name in PLOTS:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (out / "analysis.md").read_text()
    for title in ("Gap histogram", "Gap by turn index", "Teacher-context audit"):
        assert f"## {title}" in md
    assert ctx["texts"][0]["text"].splitlines()[0] in md
    # without --out: RUN_DIR/analysis, and a short text summary
    assert main(["analyze", str(run_dir)]) == 0
    assert "analysis.md" in capsys.readouterr().out
    assert (run_dir / "analysis" / "analysis.md").is_file()


def test_statistics_on_hand_made_records_have_known_answers(tmp_path):
    def rec(step, turn, gaps, text, task_type="a"):
        r = {
            "step": step,
            "turn": turn,
            "task_type": task_type,
            "response_len": len(gaps),
            "gaps": gaps,
            "privileged_hash": privileged_hash(text),
            "privileged_len": len(text),
        }
        return r

    records = [
        rec(1, 0, [-1.0, 1.0, -9.0, 8.0], "x") | {"privileged": "x"},
        rec(1, 1, [0.0, -0.25], "x", "b"),
        rec(2, 0, [2.0, -3.0, 0.5, 0.25, -0.5], "yy") | {"privileged": "yy"},
    ]
    metrics = [
        {"step": 1, "sdar/gate_mean": 0.4, "sdar/gate_active_ratio": 0.3, "sdar/gap_mean": -1},
        {"step": 2, "rollout/reward": 0.0},
    ]
    report = analyze_records(records, beta=2.0, metrics=metrics)
    gaps = [g for r in records for g in r["gaps"]]
    assert report["tokens"] == 11 and report["records"] == 3
    assert report["gap"]["mean"] == pytest.approx(sum(gaps) / 11)
    assert report["gap"]["negative_share"] == pytest.approx(5 / 11)
    counts = dict(zip([None, *HIST_EDGES], report["gap"]["histogram"]["counts"], strict=True))
    # bins [lo, hi): -9 below -8, 8 at the top edge, 0 in [0, 0.5), -0.25 in [-0.5, 0)
    assert counts[None] == 1 and counts[8.0] == 1
    assert counts[0.0] == 2 and counts[-0.5] == 2 and counts[0.5] == 1
    assert counts[-1.0] == 1 and counts[1.0] == 1 and counts[2.0] == 1 and counts[-3.0] == 1
    assert sum(report["gap"]["histogram"]["counts"]) == 11
    by_turn = {r["turn"]: r for r in report["by_turn"]}
    assert by_turn[0]["tokens"] == 9 and by_turn[1]["tokens"] == 2
    assert by_turn[0]["mean_gap"] == pytest.approx((-1 + 1 - 9 + 8 + 2 - 3 + 0.5 + 0.25 - 0.5) / 9)
    assert by_turn[1]["mean_gap"] == pytest.approx(-0.125)
    assert by_turn[1]["negative_share"] == pytest.approx(0.5)
    by_step = {r["step"]: r for r in report["by_step"]}
    assert by_step[1]["negative_share"] == pytest.approx(3 / 6)
    assert by_step[2]["negative_share"] == pytest.approx(2 / 5)
    # relative position t / n in 10 bins: first tokens in bin 0, the last of 4 in bin 7
    pos = report["by_position"]
    assert pos[0]["tokens"] == 3 and pos[0]["mean_gap"] == pytest.approx((-1 + 0 + 2) / 3)
    assert pos[7]["tokens"] == 1 and pos[7]["mean_gap"] == pytest.approx(8.0)
    assert pos[9]["tokens"] == 0 and pos[9]["mean_gap"] is None
    # the gate is sdar.algos' gap gate, sigmoid(beta * gap)
    gate = algos.get_gate("gap")(torch.tensor([gaps]), None, torch.ones(1, 11), 2.0)
    assert report["gate"]["mean"] == pytest.approx(float(gate.mean()))
    assert report["gate"]["active_ratio"] == pytest.approx(float((gate > 0.5).float().mean()))
    assert report["training"] == [metrics[0]]
    ctx = report["teacher_context"]
    assert ctx["distinct"] == 2
    x, y = ctx["texts"]
    assert (x["text"], x["records"], x["task_types"], x["length"]) == ("x", 2, {"a": 1, "b": 1}, 1)
    assert (y["text"], y["first_step"], y["length"]) == ("yy", 2, 2)
    # a run folder with these records and a config: beta comes from algo.gate_beta
    (tmp_path / RECORDS).write_text("".join(json.dumps(r) + "\n" for r in records))
    (tmp_path / "config.yaml").write_text("algo: {gate_beta: 2.0}\n")
    written = write_analysis(tmp_path)
    assert written["gate"] == report["gate"] and written["plots"] == list(PLOTS)


def test_a_run_without_records_gets_one_error_line(tmp_path, capsys):
    (tmp_path / "metrics.jsonl").write_text('{"step": 1}\n')
    assert main(["analyze", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "run.token_records=0.1" in err and err.startswith("sdar analyze: error:")


def test_token_records_share_is_range_checked():
    with pytest.raises(SdarConfigError, match=r"run.token_records: must be in \[0, 1\]"):
        load_config("tiny", ["run.token_records=1.5"])
    assert load_config("tiny", []).run.token_records == 0.0


def test_record_tokens_picks_seeded_teacher_scored_samples_once(tmp_path):
    cfg = load_config("tiny", ["run.token_records=0.5"])
    task = SimpleNamespace(task_type="t")
    samples = [
        SimpleNamespace(
            step=i,
            group=0,
            traj=i,
            task=task,
            valid=True,
            score=1.0,
            response_ids=list(range(n)),
            privileged="skill text",
        )  # fmt: skip
        for i, n in enumerate([3, 5, 2, 4])
    ]
    samples.append(samples[0])  # a pad copy
    old = [torch.full((len(s.response_ids),), -1.0) for s in samples]
    teacher = [torch.linspace(-2, 0, len(s.response_ids)) for s in samples]
    ok = [True, True, False, True, True]  # sample 2: teacher context dropped
    contexts = [SimpleNamespace(prompt_ids=[0] * 9, skill_tokens=4) for _ in samples]
    scores = Scores(old, None, None, teacher, ok, contexts, {})

    def record(run_dir: Path) -> list[dict]:
        fake = SimpleNamespace(cfg=cfg, dist=DistContext(), run_dir=run_dir)
        fake._privileged_seen = set()
        Trainer._record_tokens(fake, 3, samples, scores)
        return _rows(run_dir / RECORDS)

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first, again = record(tmp_path / "a"), record(tmp_path / "b")
    assert first == again  # seeded by (seed, step)
    assert len(first) == 2  # ceil(0.5 * 3 teacher-scored distinct samples)
    assert sorted({r["traj"] for r in first}) == sorted(r["traj"] for r in first)
    for r in first:
        assert r["traj"] != 2 and r["step"] == 3 and r["turn"] == r["traj"]
        s = samples[r["traj"]]
        assert r["response_len"] == len(s.response_ids) == len(r["gaps"])
        want = (teacher[r["traj"]] - old[r["traj"]]).tolist()
        assert r["gaps"] == [round(g, 4) for g in want]
        assert (r["teacher_prompt_tokens"], r["skill_tokens"]) == (9, 4)
    assert ["privileged" in r for r in first] == [True, False]
    # off, or a method without a teacher: nothing written
    fake = SimpleNamespace(cfg=load_config("tiny", []), dist=DistContext(), run_dir=tmp_path)
    Trainer._record_tokens(fake, 3, samples, scores)
    fake.cfg = cfg
    Trainer._record_tokens(fake, 3, samples, Scores(old, None, None, None, None, None, {}))
    assert not (tmp_path / RECORDS).exists()


def test_resume_cuts_records_after_the_checkpoint_and_remembers_stored_texts(run_dir, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(run_dir, run, ignore=shutil.ignore_patterns("analysis"))
    before = (run / RECORDS).read_text()
    late = {"step": 3, "privileged_hash": "feedfeedfeed", "privileged": "lost", "gaps": []}
    with open(run / RECORDS, "a") as f:
        f.write(json.dumps(late) + "\n" + '{"step": 3, "torn')
    cfg = load_config("tiny", TINY)
    trainer = Trainer(cfg, run)
    assert trainer._prepare(resume=True) == 3
    assert (run / RECORDS).read_text() == before
    stored = {r["privileged_hash"] for r in _rows(run / RECORDS) if "privileged" in r}
    assert trainer._privileged_seen == stored and "feedfeedfeed" not in stored
