"""The multi-turn runner talks only to a `RolloutEngine`; the trainer picks it from config,
logs the sampler-trainer log-prob mismatch and stops on a gap."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
import torch

from sdar.envs.registry import get_env_spec
from sdar.envs.vector import VectorEnv
from sdar.models.engine import HFEngine, LogprobGapError, RolloutEngine
from sdar.models.generate import Generation, SamplingParams
from sdar.models.tiny import build_word_tokenizer
from sdar.rollout.runner import RolloutSettings, run_episodes
from sdar.train.config import SdarConfigError, load_config

OPTIONS = {"preset": "tiny", "max_steps": 3}


class FakeEngine:
    """A deterministic engine: always answers ``look``, with ids and log-probs derived
    from the prompt, and records every call."""

    name = "fake"

    def __init__(self, tokenizer) -> None:
        self.tokenizer = tokenizer
        self.calls: list[list[list[int]]] = []
        self.loaded: list[str] = []
        self.sleeps = 0

    def generate(
        self, prompts: Sequence[Sequence[int]], params: SamplingParams, *, generator, seeds=None
    ) -> Generation:
        self.calls.append([list(p) for p in prompts])
        ids = [[len(p) % 5 + 1, 7] for p in prompts]
        lps = [[-0.5, -float(len(p) % 3)] for p in prompts]
        texts = ["<think>x</think><action>look</action>"] * len(prompts)
        return Generation(ids, lps, [True] * len(prompts), texts)

    def load_weights(self, weights) -> None:
        self.loaded = [name for name, _ in weights]

    def sleep(self) -> None:
        self.sleeps += 1


def test_runner_plays_episodes_through_the_engine_only():
    spec = get_env_spec("household")
    tok = build_word_tokenizer(["look go to open take put <action> </action>"])
    engine = FakeEngine(tok)
    assert isinstance(engine, RolloutEngine)
    tasks = [t for t in spec.train_tasks(OPTIONS, 0, 2) for _ in range(3)]  # 2 groups of 3
    groups = [0, 0, 0, 1, 1, 1]
    settings = RolloutSettings(1, True, 1024, SamplingParams(max_new_tokens=4))
    venv = VectorEnv(spec, OPTIONS, len(tasks))
    try:
        trajs, stats = run_episodes(
            engine, tok, venv, spec, tasks, groups, lambda *a: "", settings, torch.Generator()
        )
    finally:
        venv.close()
    assert len(engine.calls) == stats["turns"] == 3
    first = engine.calls[0]  # a group's slots start from the same prompt
    assert first[0] == first[1] == first[2] and first[3] == first[4] == first[5]
    assert first[0] != first[3]
    for t in trajs:
        assert t.length == 3
        for turn, s in enumerate(t.samples):
            assert s.action == "look" and s.valid
            prompt = engine.calls[turn][t.traj]
            assert s.prompt_ids == prompt
            assert s.response_ids == [len(prompt) % 5 + 1, 7]
            assert s.sample_logprobs == [-0.5, -float(len(prompt) % 3)]
    assert stats["tokens_generated"] == 2 * 3 * len(tasks)


def _trainer(tmp_path, *extra):
    from sdar.train.loop import Trainer

    fast = ["run.steps=1", "eval.episodes=2", "sft.episodes=0", "algo.method=grpo"]
    cfg = load_config("tiny", [*fast, "rollout.tasks_per_step=2", "rollout.group_size=2", *extra])
    trainer = Trainer(cfg, tmp_path / "run")
    trainer._prepare(resume=False)
    return trainer


def _step(trainer):
    from sdar.train.setup import make_venv

    venv = make_venv(trainer.cfg, trainer.spec, trainer.options, 4)
    try:
        return trainer.train_step(1, venv)
    finally:
        venv.close()


def test_engine_comes_from_config_and_the_mismatch_is_logged(tmp_path):
    trainer = _trainer(tmp_path, "rollout.dtype=bfloat16")
    assert isinstance(trainer.engine, HFEngine) and trainer.engine.dtype == torch.bfloat16
    metrics, _ = _step(trainer)
    assert 0 < metrics["rollout/logprob_mismatch_mean"] <= metrics["rollout/logprob_mismatch_max"]
    assert metrics["rollout/logprob_mismatch_mean"] < trainer.cfg.rollout.max_logprob_gap
    # after the update the sampling copy is refreshed before the next rollout
    trainer._sync_engine()
    policy = trainer.policy.model.state_dict()
    for name, value in trainer.engine.model.state_dict().items():
        torch.testing.assert_close(value, policy[name].to(torch.bfloat16))


class _OffEngine:
    """Wraps a real engine and reports log-probs 1 nat off, as an unsynced sampler would."""

    def __init__(self, inner) -> None:
        self.inner, self.name = inner, "fake"

    def generate(self, prompts, params, *, generator, seeds=None):
        gen = self.inner.generate(prompts, params, generator=generator, seeds=seeds)
        gen.logprobs = [[lp - 1.0 for lp in row] for row in gen.logprobs]
        return gen

    def load_weights(self, weights) -> None:
        self.inner.load_weights(weights)

    def sleep(self) -> None:
        self.inner.sleep()


def test_guard_stops_the_run_on_a_log_prob_gap(tmp_path):
    trainer = _trainer(tmp_path, "rollout.dtype=float32", "rollout.max_logprob_gap=0.5")
    trainer.engine = _OffEngine(trainer.engine)
    with pytest.raises(LogprobGapError, match="1.000 nats per token"):
        _step(trainer)


def test_vllm_engine_without_vllm_says_how_to_install():
    pytest.importorskip("torch")
    try:
        import vllm  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("vllm is installed")
    with pytest.raises(SdarConfigError, match=r"pip install 'sdar\[vllm\]'"):
        load_config("tiny", ["rollout.engine=vllm"])
    from sdar.models.vllm_engine import import_vllm

    with pytest.raises(ImportError, match=r"pip install 'sdar\[vllm\]'"):
        import_vllm()
    with pytest.raises(SdarConfigError, match="rollout.engine"):
        load_config("tiny", ["rollout.engine=sglang"])
