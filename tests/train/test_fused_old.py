"""optim.fuse_old_logprobs: the update's own forward supplies the old log-probs when the
step makes one optimizer step, with the same result as a separate scoring pass."""

import copy

import pytest
import torch

from sdar.models.load import has_dropout
from sdar.train.config import load_config
from sdar.train.loop import Trainer
from sdar.train.scoring import score_for_config
from sdar.train.setup import make_venv
from sdar.train.update import UpdateInputs, update_policy
from tests.train.test_fidelity import one_step

FAST = ["run.steps=1", "eval.episodes=2", "sft.episodes=0", "algo.kl_coef=0.01"]


def rollout(tmp_path, method, *extra):
    cfg = load_config("tiny", [f"algo.method={method}", *FAST, *extra])
    trainer = Trainer(cfg, tmp_path / method)
    trainer._prepare(resume=False)
    venv = make_venv(cfg, trainer.spec, trainer.options, 4)
    try:
        out = trainer._rollout(1, venv)
    finally:
        venv.close()
    samples, adv = trainer._advantages(1, out.trajs)
    return trainer, samples, adv


def run_update(trainer, samples, adv, scores, mini_batch_size):
    cfg = trainer.cfg
    model = copy.deepcopy(trainer.policy.model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.05)
    optim = cfg.optim.__class__(**{**vars(cfg.optim), "mini_batch_size": mini_batch_size})
    metrics = update_policy(
        model,
        optimizer,
        None,
        UpdateInputs(samples, scores, adv, 0.5),
        trainer.method,
        cfg.algo,
        optim,
        pad_id=trainer.policy.pad_id,
        device=trainer.policy.device,
        temperature=cfg.rollout.temperature,
        generator=torch.Generator().manual_seed(0),
    )
    return model, metrics


@pytest.mark.parametrize("method", ["grpo", "sdar", "rlsd", "skill_sd"])
def test_fused_old_logprobs_give_the_same_update(tmp_path, method):
    trainer, samples, adv = rollout(tmp_path, method)
    n = len(samples)
    scored = score_for_config(samples, trainer.policy, trainer.spec, trainer.cfg, True)
    fused = score_for_config(samples, trainer.policy, trainer.spec, trainer.cfg, True, None, False)
    assert fused.old is None and fused.teacher is not None
    a, ma = run_update(trainer, samples, adv, scored, n)
    b, mb = run_update(trainer, samples, adv, fused, n)
    # the update filled the old log-probs: equal to the scoring pass up to round-off
    assert fused.old is not None and len(fused.old) == n
    for x, y, s in zip(fused.old, scored.old, samples, strict=True):
        assert x.shape == (len(s.response_ids),)
        torch.testing.assert_close(x, y.float(), atol=1e-5, rtol=0)
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(p, q, atol=1e-5, rtol=1e-4)
    assert mb["actor/loss"] == pytest.approx(ma["actor/loss"], abs=1e-5)
    moved = any(
        not torch.equal(p, q)
        for p, q in zip(b.parameters(), trainer.policy.model.parameters(), strict=True)
    )
    assert moved


def test_fused_old_logprobs_refuse_several_mini_batches(tmp_path):
    trainer, samples, adv = rollout(tmp_path, "grpo")
    assert len(samples) > 2
    fused = score_for_config(samples, trainer.policy, trainer.spec, trainer.cfg, False, None, False)
    with pytest.raises(ValueError, match="mini-batches"):
        run_update(trainer, samples, adv, fused, 2)


@pytest.mark.parametrize(
    ("fuse", "mini", "old_pass"), [(True, 4096, False), (True, 2, True), (False, 4096, True)]
)
def test_train_step_fuses_only_when_one_mini_batch(tmp_path, monkeypatch, fuse, mini, old_pass):
    """The trainer asks for the old pass exactly when the samples need several optimizer
    steps (or fusing is off), and reports the sampler/trainer mismatch either way."""
    from sdar.train import scoring

    asked: list[bool] = []
    real = scoring.score_samples

    def spy(*args, need_old=True, **kwargs):
        asked.append(need_old)
        return real(*args, need_old=need_old, **kwargs)

    monkeypatch.setattr(scoring, "score_samples", spy)
    flags = [f"optim.fuse_old_logprobs={str(fuse).lower()}", f"optim.mini_batch_size={mini}"]
    _, metrics, trajs = one_step(
        tmp_path, "algo.method=sdar", *FAST, *flags, "optim.micro_batch_size=2"
    )
    assert sum(t.length for t in trajs) > 2
    assert asked == [old_pass]
    assert 0.0 <= metrics["rollout/logprob_mismatch_mean"] < 1e-3
    assert metrics["actor/optimizer_steps"] >= 1


def test_has_dropout():
    from transformers import LlamaConfig, LlamaForCausalLM

    assert not has_dropout(torch.nn.Sequential(torch.nn.Linear(2, 2)))
    assert has_dropout(torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Dropout(0.1)))
    assert not has_dropout(torch.nn.Sequential(torch.nn.Dropout(0.0)))

    tiny = dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2)
    tiny.update(vocab_size=32, num_key_value_heads=2)
    assert not has_dropout(LlamaForCausalLM(LlamaConfig(**tiny)))
    assert has_dropout(LlamaForCausalLM(LlamaConfig(**tiny, attention_dropout=0.1)))
