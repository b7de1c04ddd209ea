"""One full training step of every method on a tiny model and the built-in world."""

import json

import pytest
import torch

from sdar.train.config import load_config
from sdar.train.loop import Trainer, assign_scores, compute_advantages
from sdar.train.methods import METHODS

FAST = ["run.steps=1", "eval.episodes=2", "sft.episodes=0", "run.save_every=1"]


def one_step(tmp_path, method, *extra):
    beta = ["algo.gate_beta=0"] if method == "grpo_opsd" else []
    cfg = load_config("tiny", [f"algo.method={method}", *FAST, *beta, *extra])
    trainer = Trainer(cfg, tmp_path / method)
    trainer._prepare(resume=False)
    venv = __import__("sdar.train.setup", fromlist=["make_venv"]).make_venv(
        cfg, trainer.spec, trainer.options, 4
    )
    try:
        metrics, trajs = trainer.train_step(1, venv)
    finally:
        venv.close()
    return trainer, metrics, trajs


@pytest.mark.parametrize("method", [m for m, s in METHODS.items() if s.trains])
def test_one_step_of_every_method_has_the_right_terms(tmp_path, method):
    trainer, metrics, trajs = one_step(tmp_path, method)
    spec = METHODS[method]
    assert ("sdar/gate_mean" in metrics) == (spec.distill == "sdar")
    assert ("skill_sd/loss" in metrics) == (spec.distill == "skill_sd")
    assert ("actor/pg_loss" in metrics) == spec.pg
    assert ("rlsd/lambda" in metrics) == spec.rlsd
    assert ("teacher/prompt_tokens" in metrics) == spec.needs_teacher
    assert "actor/kl" in metrics and "actor/entropy" in metrics
    assert metrics["rollout/samples"] == sum(t.length for t in trajs)
    if method == "grpo_opsd":
        assert metrics["sdar/gate_mean"] == pytest.approx(0.5)
    for t in trajs:
        for s in t.samples:
            assert bool(s.privileged) == (spec.needs_teacher or spec.student_skills)
            # Skill-GRPO: the student prompt itself carries the skills.
            prompt = trainer.policy.tokenizer.decode(s.prompt_ids)
            assert ("Privileged Skill Information" in prompt) == spec.student_skills


def test_response_ids_scored_equal_ids_generated(tmp_path):
    trainer, _, trajs = one_step(tmp_path, "sdar")
    samples = [s for t in trajs for s in t.samples]
    from sdar.train.scoring import score_samples

    scores = score_samples(
        samples,
        trainer.policy,
        trainer.spec,
        need_ref=True,
        need_teacher=True,
        teacher_kind="live",
        teacher_placement="prefix",
        teacher_max_prompt_tokens=4096,
        history_length=1,
        think=False,
        temperature=1.0,
        token_budget=4096,
    )
    for s, ctx, old in zip(samples, scores.contexts, scores.old, strict=True):
        assert ctx.response_ids == s.response_ids
        assert len(old) == len(s.response_ids)
        assert "Privileged Skill Information" in trainer.policy.tokenizer.decode(ctx.prompt_ids)
        assert s.privileged and s.privileged.split()[-1] in trainer.policy.tokenizer.decode(
            ctx.prompt_ids
        )
        assert "Privileged" not in trainer.policy.tokenizer.decode(s.prompt_ids)


def test_reference_is_the_initial_policy(tmp_path):
    trainer, _, trajs = one_step(tmp_path, "grpo", "optim.lr=0.05")
    ref = trainer.policy.reference
    changed = any(
        not torch.equal(p, q)
        for p, q in zip(trainer.policy.model.parameters(), ref.parameters(), strict=True)
    )
    assert changed, "the update should move the policy away from the reference"
    from sdar.models.load import load_policy

    base, _ = load_policy(str(trainer.run_dir / "base_model"))
    for p, q in zip(base.parameters(), ref.parameters(), strict=True):
        assert torch.equal(p, q)


def test_scores_and_advantages_follow_the_spec(tmp_path):
    trainer, _, trajs = one_step(tmp_path, "grpo")
    samples = assign_scores(trajs, trainer.spec, 10.0, 0.1)
    for t in trajs:
        for s in t.samples:
            assert s.score == pytest.approx(10.0 * t.won - 0.1 * (not s.valid))
    adv = compute_advantages(samples, trajs, "step", True)
    assert adv.shape == (len(samples),) and torch.isfinite(adv).all()


def test_resume_after_kill_repeats_the_next_step(tmp_path):
    """A run stopped after step 1 and resumed gives the same step-2 metrics."""
    overrides = ["run.steps=2", "eval.episodes=2", "run.save_every=1", "eval.every=0"]
    full = Trainer(load_config("tiny", overrides), tmp_path / "full")
    full.run()
    cut = Trainer(load_config("tiny", [*overrides[1:], "run.steps=1"]), tmp_path / "cut")
    cut.run()
    # continue the cut run as if it had been launched for 2 steps and killed after step 1
    resumed = Trainer(load_config("tiny", overrides), tmp_path / "cut")
    resumed.run(resume=True)
    rows = lambda d: [json.loads(x) for x in (d / "metrics.jsonl").read_text().splitlines()]  # noqa: E731
    a, b = rows(tmp_path / "full"), rows(tmp_path / "cut")
    assert [r["step"] for r in b] == [1, 2]
    skip = ("time/",)
    for key, value in a[1].items():
        if not key.startswith(skip):
            assert b[1][key] == pytest.approx(value, rel=1e-5, abs=1e-6), key
    summary = json.loads((tmp_path / "cut" / "summary.json").read_text())
    assert {"eval_before", "eval_after", "wall_seconds", "method"} <= set(summary)


def test_lora_step_uses_adapters_off_as_reference(tmp_path):
    trainer, metrics, _ = one_step(tmp_path, "sdar", "model.lora_rank=4", "teacher.kind=frozen")
    assert trainer.policy.lora and trainer.policy.reference is None
    trainable = [n for n, p in trainer.policy.model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    assert "sdar/gate_mean" in metrics and "actor/kl" in metrics


def test_ema_teacher_keeps_its_own_weights(tmp_path):
    trainer, metrics, _ = one_step(tmp_path, "sdar", "teacher.kind=ema", "optim.lr=0.05")
    policy = trainer.policy
    assert policy.ema is not None
    name, param = next(iter(policy.trainable().items()))
    assert not torch.equal(policy.ema[name], param.detach())
    with policy.as_teacher("ema"):
        assert torch.equal(param.detach(), policy.ema[name])
    assert not torch.equal(param.detach(), policy.ema[name])


@pytest.mark.parametrize(
    "extra",
    [
        ["algo.divergence=reverse_kl"],
        ["algo.divergence=jsd"],
        ["algo.gate=entropy"],
        ["algo.gate=soft_or"],
    ],
)
def test_ablation_variants_run_a_step(tmp_path, extra):
    _, metrics, _ = one_step(tmp_path, "sdar", *extra)
    assert ("sdar/divergence" in metrics) == extra[0].startswith("algo.divergence")
    assert all(v == v for v in metrics.values() if isinstance(v, float))  # no NaN


def test_a_step_with_the_ucb_skill_bandit_feeds_it_task_skills(tmp_path):
    """The bandit used to be fed ``general_skills`` (always given, no arm) and stopped the run."""
    trainer, _, trajs = one_step(tmp_path, "sdar", "skills.strategy=ucb")
    counts = trainer.retriever.state_dict()["counts"]
    assert sum(sum(arms.values()) for arms in counts.values()) == len(trajs)
    assert all("general_skills" not in arms for arms in counts.values())


def test_summary_has_reference_agents_and_a_panel_hash_stable_across_processes(tmp_path):
    """eval.reference_agents plays random and expert on the run's own panel; the panel's
    hash is the same in a fresh interpreter (another process, another hash seed)."""
    import subprocess
    import sys

    cfg = load_config(
        "quickstart",
        [
            "run.steps=0",
            "eval.episodes=6",
            "sft.episodes=0",
            "eval.reference_agents=[random, expert]",
        ],
    )
    summary = Trainer(cfg, tmp_path / "run").run()
    ref = summary["panel_reference"]
    assert set(ref) == {"random", "expert"}
    assert ref["expert"]["success"] == 1.0 and ref["expert"]["episodes"] == 6
    counts = summary["eval_before"]["per_task_type_episodes"]
    assert ref["random"]["per_task_type_episodes"] == counts
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["panel_reference"] == ref
    # run.steps=0 (a warm start only) evaluates the panel once, not twice
    assert len((tmp_path / "run" / "evals.jsonl").read_text().splitlines()) == 1
    code = (
        "from sdar.train.config import load_config; from sdar.train.setup import env_parts; "
        "from sdar.train.evaluate import panel_hash; "
        "c = load_config('quickstart', ['eval.episodes=6']); s, o = env_parts(c); "
        "print(panel_hash(s.eval_tasks(o, 6)))"
    )
    env = {**__import__("os").environ, "PYTHONHASHSEED": "123"}
    other = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert other.stdout.strip() == summary["panel_hash"] and len(summary["panel_hash"]) == 16
