"""Per-slot seeds: a slot plays the same episode whichever other slots share its calls, as
when a data-parallel process holds half of the rollout slots."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from sdar.envs.registry import get_env_spec
from sdar.envs.vector import VectorEnv
from sdar.models.engine import HFEngine
from sdar.models.generate import SamplingParams, mix_seed
from sdar.models.tiny import build_tiny_model, build_word_tokenizer
from sdar.rollout.runner import RolloutSettings, run_episodes

OPTIONS = {"preset": "tiny", "max_steps": 4}
VOCAB = [
    "You are in the middle of a room . Looking quickly around you , you see a cabinet 1 , "
    "a drawer 1 , a fridge 1 , a microwave 1 , and a sinkbasin 1 . Your task is to : "
    "go to open take put look inventory",
]
FAVOURED = ["<action>", "</action>", "look", "inventory"]


@pytest.fixture(scope="module")
def policy():
    """A tiny model nudged towards a few words (``look`` ends an episode: `_EndsOnLook`)."""
    tok = build_word_tokenizer(VOCAB)
    model = build_tiny_model(tok, seed=0)
    with torch.no_grad():
        bias = torch.zeros(model.config.vocab_size)
        bias[tok.convert_tokens_to_ids(FAVOURED)] = 3.0
        head = torch.nn.Linear(model.config.hidden_size, model.config.vocab_size, bias=True)
        head.weight.copy_(model.lm_head.weight)
        head.bias.copy_(bias)
    model.lm_head = head
    model.config.tie_word_embeddings = False
    return model, tok


class _Recorder:
    """Wraps an engine and keeps every call's seeds."""

    name = "recorder"

    def __init__(self, inner) -> None:
        self.inner, self.seeds = inner, []

    def generate(self, prompts, params, *, generator, seeds=None):
        self.seeds.append(seeds)
        return self.inner.generate(prompts, params, generator=generator, seeds=seeds)

    def load_weights(self, weights) -> None:
        self.inner.load_weights(weights)

    def sleep(self) -> None:
        self.inner.sleep()


class _EndsOnLook:
    """The household env, except that an action containing ``look`` ends the episode, so
    slots finish at different turns (a random tiny policy never wins)."""

    def __init__(self, venv: VectorEnv) -> None:
        self.venv = venv

    def reset(self, tasks):
        return self.venv.reset(tasks)

    def step(self, actions):
        results = self.venv.step(actions)
        return [
            dataclasses.replace(r, done=True) if r is not None and a and "look" in a else r
            for a, r in zip(actions, results, strict=True)
        ]


def _play(policy, slots: list[int], tasks, seeds, *, generator_seed: int = 0):
    model, tok = policy
    spec = get_env_spec("household")
    settings = RolloutSettings(
        2, False, 1024, SamplingParams(max_new_tokens=8, stop_strings=spec.stop_strings)
    )
    engine = _Recorder(HFEngine(model, tok))
    venv = VectorEnv(spec, OPTIONS, len(slots))
    try:
        trajs, _ = run_episodes(
            engine,
            tok,
            _EndsOnLook(venv),
            spec,
            [tasks[i] for i in slots],
            [i // 2 for i in slots],
            lambda *a: "",
            settings,
            torch.Generator().manual_seed(generator_seed),
            slot_seeds=[seeds[i] for i in slots],
        )
    finally:
        venv.close()
    return trajs, engine.seeds


def _moves(traj) -> list[tuple]:
    return [
        (s.step, tuple(s.prompt_ids), tuple(s.response_ids), s.action, s.valid, s.done)
        for s in traj.samples
    ]


def test_slots_play_the_same_alone_or_together(policy):
    spec = get_env_spec("household")
    tasks = [t for t in spec.train_tasks(OPTIONS, 0, 2) for _ in range(2)]  # 2 groups of 2
    seeds = [2**40 + 17 * i for i in range(4)]
    together, calls = _play(policy, [0, 1, 2, 3], tasks, seeds)
    halves = [_play(policy, [0, 1], tasks, seeds)[0], _play(policy, [2, 3], tasks, seeds)[0]]
    apart, _ = _play(policy, [3, 1], tasks, seeds, generator_seed=5)  # other order, generator
    split = halves[0] + halves[1]
    for i, traj in enumerate(together):
        assert _moves(traj) == _moves(split[i]), i
        for a, b in zip(traj.samples, split[i].samples, strict=True):
            torch.testing.assert_close(
                torch.tensor(a.sample_logprobs), torch.tensor(b.sample_logprobs), atol=1e-5, rtol=0
            )
    assert _moves(apart[0]) == _moves(together[3]) and _moves(apart[1]) == _moves(together[1])
    # turn t of slot i is sampled with mix_seed(seed_i, t), for the active slots only
    for turn, turn_seeds in enumerate(calls):
        active = [i for i, t in enumerate(together) if t.length > turn]
        assert turn_seeds == [mix_seed(seeds[i], turn) for i in active]
    # the test means something: the two slots of a group share a first prompt but not their
    # samples, and the episodes do not all end together (slots leave the calls mid-way)
    assert together[0].samples[0].prompt_ids == together[1].samples[0].prompt_ids
    assert _moves(together[0]) != _moves(together[1])
    assert len({t.length for t in together}) > 1, [t.length for t in together]


def test_slot_seeds_must_match_slots(policy):
    spec = get_env_spec("household")
    tasks = spec.train_tasks(OPTIONS, 0, 2)
    with pytest.raises(ValueError, match="1 slot seeds for 2 slots"):
        run_episodes(
            HFEngine(*policy),
            policy[1],
            None,
            spec,
            tasks,
            [0, 1],
            lambda *a: "",
            RolloutSettings(1, False, 1024, SamplingParams(4)),
            torch.Generator(),
            slot_seeds=[1],
        )
