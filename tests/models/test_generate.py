"""Token-in/token-out sampling: ids, logprobs, padding, stops and seeding."""

from __future__ import annotations

import copy

import pytest
import torch

from sdar.models.generate import SamplingParams, generate, sample_next
from sdar.models.logprobs import score
from tests.models.conftest import chat_prompts

STOPS = ("</action>", "cabinet 1")


def _gen(model, tok, prompts, params, seed=0, **kwargs):
    return generate(
        model, tok, prompts, params, generator=torch.Generator().manual_seed(seed), **kwargs
    )


def test_sampled_ids_are_scored_ids_and_logprobs_match(tiny):
    model, tok = tiny
    prompts = chat_prompts(tok, 12)
    params = SamplingParams(max_new_tokens=16, temperature=0.7, stop_strings=STOPS)
    out = _gen(model, tok, prompts, params, batch_size=5)
    scored, _ = score(model, prompts, out.ids, pad_id=tok.pad_token_id, temperature=0.7)
    for ids, sampled, lp in zip(out.ids, out.logprobs, scored, strict=True):
        assert len(ids) == len(sampled) == len(lp) > 0
        torch.testing.assert_close(lp, torch.tensor(sampled), atol=1e-4, rtol=0)


def test_prompt_alone_equals_prompt_in_padded_batch(tiny):
    model, tok = tiny
    prompts = chat_prompts(tok, 7)
    params = SamplingParams(max_new_tokens=8, greedy=True)
    batch = _gen(model, tok, prompts, params, eos_ids=())
    for i in (0, 3, 6):  # shortest, middle and longest prompt
        alone = _gen(model, tok, [prompts[i]], params, eos_ids=())
        assert alone.ids[0] == batch.ids[i]
        torch.testing.assert_close(
            torch.tensor(alone.logprobs[0]), torch.tensor(batch.logprobs[i]), atol=1e-5, rtol=0
        )
        (lp_alone,), _ = score(model, [prompts[i]], alone.ids, pad_id=tok.pad_token_id)
        lp_batch, _ = score(model, prompts, batch.ids, pad_id=tok.pad_token_id)
        torch.testing.assert_close(lp_alone, lp_batch[i], atol=1e-5, rtol=0)


def test_stop_strings_eos_and_max_new_tokens(tiny):
    model, tok = tiny
    prompts = chat_prompts(tok, 48)
    params = SamplingParams(max_new_tokens=12, temperature=2.0, stop_strings=STOPS)
    out = _gen(model, tok, prompts, params)
    eos = tok.eos_token_id
    hit = {"stop": 0, "eos": 0, "cut": 0}
    for ids, finished in zip(out.ids, out.finished, strict=True):
        assert 1 <= len(ids) <= params.max_new_tokens
        text, before = tok.decode(ids), tok.decode(ids[:-1])
        assert not any(s in before for s in STOPS)  # nothing sampled after a stop
        assert eos not in ids[:-1]
        if any(s in text for s in STOPS):
            hit["stop"] += 1
            assert finished
        elif ids[-1] == eos:
            hit["eos"] += 1
            assert finished
        else:
            hit["cut"] += 1
            assert not finished and len(ids) == params.max_new_tokens
    assert all(hit.values()), hit  # every way to end was exercised


def _biased(model, tok, words: list[str], bias: float) -> torch.nn.Module:
    """A copy of ``model`` whose lm_head favours ``words`` by ``bias`` logits."""
    biased = copy.deepcopy(model)
    head = torch.nn.Linear(model.config.hidden_size, model.config.vocab_size, bias=True)
    with torch.no_grad():
        head.weight.copy_(model.lm_head.weight)
        head.bias.zero_()
        head.bias[tok.convert_tokens_to_ids(words)] = bias
    biased.lm_head = head
    return biased


def test_multi_token_stop_string_keeps_completing_token(tiny):
    model, tok = tiny
    model = _biased(model, tok, ["cabinet", "1"], 4.0)
    out = _gen(model, tok, chat_prompts(tok, 16), SamplingParams(12, stop_strings=STOPS))
    multi = [ids for ids in out.ids if tok.decode(ids).endswith("cabinet 1")]
    assert multi, "no sample ended with the two-token stop string"
    for ids in multi:
        assert tok.convert_ids_to_tokens(ids[-2:]) == ["cabinet", "1"]


def test_same_seed_same_samples_different_seed_different(tiny):
    model, tok = tiny
    prompts = chat_prompts(tok, 8)
    params = SamplingParams(max_new_tokens=10)
    rng_before = torch.get_rng_state()
    a = _gen(model, tok, prompts, params, seed=1)
    b = _gen(model, tok, prompts, params, seed=1)
    c = _gen(model, tok, prompts, params, seed=2)
    assert a.ids == b.ids and a.logprobs == b.logprobs
    assert a.ids != c.ids
    assert torch.equal(torch.get_rng_state(), rng_before)  # global RNG untouched


def test_results_in_input_order_across_batch_sizes(tiny):
    model, tok = tiny
    prompts = chat_prompts(tok, 9)
    params = SamplingParams(max_new_tokens=6, greedy=True)
    one = _gen(model, tok, prompts, params, batch_size=64)
    small = _gen(model, tok, prompts, params, batch_size=2)
    assert one.ids == small.ids
    assert one.texts == tok.batch_decode(one.ids, skip_special_tokens=True)


def test_sample_next_truncation():
    logits = torch.tensor([[3.0, 2.0, 1.0, 0.0]]).repeat(200, 1)
    gen = torch.Generator().manual_seed(0)
    ids, lp = sample_next(logits, SamplingParams(top_k=2), gen)
    assert set(ids.tolist()) == {0, 1}
    torch.testing.assert_close(lp, torch.log_softmax(logits, -1).gather(-1, ids[:, None])[:, 0])
    ids, _ = sample_next(logits, SamplingParams(top_p=0.5), gen)
    assert set(ids.tolist()) == {0}  # p(0) = 0.64 already covers top_p
    ids, lp = sample_next(logits, SamplingParams(greedy=True, temperature=2.0), gen)
    assert set(ids.tolist()) == {0}
    torch.testing.assert_close(lp[0], torch.log_softmax(logits[0] / 2.0, -1)[0])


def test_sampling_params_validation():
    with pytest.raises(ValueError, match="temperature.*top_p.*top_k"):
        SamplingParams(temperature=0.0, top_p=1.5, top_k=-1)
    with pytest.raises(ValueError, match="max_new_tokens"):
        SamplingParams(max_new_tokens=0)
