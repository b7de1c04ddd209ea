"""The rollout engine: shared prefill, the hf engine's sampling copy, the weight source,
the log-prob mismatch and its guard, and the vLLM adapters (without vLLM)."""

from __future__ import annotations

import copy
from types import SimpleNamespace

import pytest
import torch

from sdar.models.engine import (
    HFEngine,
    LogprobGapError,
    RolloutEngine,
    check_logprob_gap,
    hf_weights,
    logprob_mismatch,
    sampling_dtype,
)
from sdar.models.generate import SamplingParams, generate
from sdar.models.load import load_policy
from sdar.models.logprobs import score
from sdar.models.vllm_engine import generation_from_outputs, vllm_sampling_kwargs
from tests.models.conftest import chat_prompts

STOPS = ("</action>",)


def _groups(tok, tasks: int, g: int) -> list[list[int]]:
    """``tasks`` distinct prompts, each repeated ``g`` times (a group's first turn)."""
    return [p for p in chat_prompts(tok, tasks) for _ in range(g)]


def test_shared_group_prefill_gives_the_same_samples_as_separate_prefill(tiny):
    """Exact: the same ids for the same seed. The shared prefill runs the common prefix and
    each distinct prompt once and copies their cache rows, so every row starts from the same
    logits (to fp32 rounding of differently shaped matmuls: log-probs within 1e-5) and the
    generator is drawn in the same order."""
    model, tok = tiny
    prompts = _groups(tok, 5, 4)
    params = SamplingParams(max_new_tokens=12, temperature=1.0, stop_strings=STOPS)
    runs = {
        share: generate(
            model,
            tok,
            prompts,
            params,
            generator=torch.Generator().manual_seed(7),
            batch_size=8,
            share_prefill=share,
        )
        for share in (True, False)
    }
    assert runs[True].ids == runs[False].ids
    assert runs[True].finished == runs[False].finished
    for a, b in zip(runs[True].logprobs, runs[False].logprobs, strict=True):
        torch.testing.assert_close(torch.tensor(a), torch.tensor(b), atol=1e-5, rtol=0)
    # a group's rows still differ: sharing the prefill does not share the samples
    assert len({tuple(runs[True].ids[i]) for i in range(4)}) > 1


def test_shared_prefill_log_probs_are_the_trainer_s(tiny):
    model, tok = tiny
    prompts = _groups(tok, 3, 3)
    params = SamplingParams(max_new_tokens=10, temperature=0.8, stop_strings=STOPS)
    out = generate(model, tok, prompts, params, generator=torch.Generator().manual_seed(1))
    scored, _ = score(model, prompts, out.ids, pad_id=tok.pad_token_id, temperature=0.8)
    mean, worst = logprob_mismatch(out.logprobs, scored)
    assert worst < 1e-4 and mean < 1e-5


def test_hf_engine_is_a_rollout_engine_and_samples_like_generate(tiny):
    model, tok = tiny
    engine = HFEngine(model, tok, dtype=torch.float32, batch_size=8)
    assert isinstance(engine, RolloutEngine) and engine.model is model
    prompts = _groups(tok, 3, 2)
    params = SamplingParams(max_new_tokens=8, stop_strings=STOPS)
    a = engine.generate(prompts, params, generator=torch.Generator().manual_seed(3))
    b = generate(model, tok, prompts, params, generator=torch.Generator().manual_seed(3))
    assert a.ids == b.ids and a.texts == b.texts


def test_bf16_engine_samples_from_a_copy_refreshed_by_load_weights(tiny):
    model, tok = tiny
    model = copy.deepcopy(model)
    engine = HFEngine(model, tok, dtype=torch.bfloat16, batch_size=8)
    assert engine.model is not model and next(engine.model.parameters()).dtype == torch.bfloat16
    assert next(model.parameters()).dtype == torch.float32  # the trained weights stay fp32
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01)
    engine.load_weights(hf_weights(model))
    for name, value in model.state_dict().items():
        torch.testing.assert_close(engine.model.state_dict()[name], value.to(torch.bfloat16))
    prompts = chat_prompts(tok, 4)
    params = SamplingParams(max_new_tokens=8, stop_strings=STOPS)
    out = engine.generate(prompts, params, generator=torch.Generator().manual_seed(0))
    scored, _ = score(model, prompts, out.ids, pad_id=tok.pad_token_id)
    mean, worst = logprob_mismatch(out.logprobs, scored)
    assert 0 < mean < 0.05 and worst < 0.5  # bf16 rounding, visible but small
    with pytest.raises(KeyError, match="unknown parameter"):
        engine.load_weights([("not.a.weight", torch.zeros(1))])


def test_weight_source_is_the_state_dict(tiny):
    model, _ = tiny
    got = dict(hf_weights(model))
    want = model.state_dict()
    assert got.keys() == want.keys()
    for name in want:
        assert torch.equal(got[name], want[name])


def test_weight_source_of_a_lora_model_is_the_merged_state_dict(tiny_dir):
    model, _ = load_policy(str(tiny_dir), lora={"r": 4, "alpha": 8}, seed=0)
    with torch.no_grad():  # non-zero adapters (B starts at zero)
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.1, generator=torch.Generator().manual_seed(len(name)))
    got = dict(hf_weights(model))
    want = copy.deepcopy(model).merge_and_unload().state_dict()
    assert got.keys() == want.keys()
    for name in want:
        torch.testing.assert_close(got[name], want[name], atol=1e-6, rtol=1e-6)
    base, _ = load_policy(str(tiny_dir))
    assert got.keys() == base.state_dict().keys()  # plain Hugging Face names
    changed = [n for n in want if not torch.equal(got[n], base.state_dict()[n])]
    assert changed and all("proj" in n for n in changed)


def test_logprob_mismatch_by_hand():
    sampled = [[-1.0, -2.0], [-0.5], []]
    trainer = [torch.tensor([-1.5, -2.0]), torch.tensor([-0.25]), torch.tensor([])]
    mean, worst = logprob_mismatch(sampled, trainer)
    assert mean == pytest.approx((0.5 + 0.0 + 0.25) / 3)
    assert worst == pytest.approx(0.5)
    assert logprob_mismatch([], []) == (0.0, 0.0)
    with pytest.raises(ValueError, match="2 sampled log-probs for 1 tokens"):
        logprob_mismatch([[-1.0, -1.0]], [torch.tensor([-1.0])])


def test_logprob_gap_guard():
    check_logprob_gap(0.1, 0.5, "hf")
    check_logprob_gap(9.0, 0.0, "vllm")  # 0 disables it
    with pytest.raises(LogprobGapError, match=r"rollout.max_logprob_gap=0.5"):
        check_logprob_gap(0.8, 0.5, "vllm")


def test_sampling_dtype():
    cpu = torch.device("cpu")
    assert sampling_dtype("float32", cpu) == torch.float32
    assert sampling_dtype("bfloat16", cpu) == torch.bfloat16
    assert sampling_dtype("auto", cpu) in (torch.float32, torch.bfloat16)


def test_vllm_sampling_kwargs_and_outputs(word_tokenizer):
    tok = word_tokenizer
    params = SamplingParams(max_new_tokens=9, temperature=0.7, top_k=0, stop_strings=STOPS)
    kw = vllm_sampling_kwargs(params, 123, [3])
    assert kw["max_tokens"] == 9 and kw["temperature"] == 0.7 and kw["top_k"] == -1
    assert kw["stop"] == ["</action>"] and kw["include_stop_str_in_output"]
    assert kw["logprobs"] == 0 and kw["seed"] == 123 and kw["stop_token_ids"] == [3]
    assert vllm_sampling_kwargs(SamplingParams(greedy=True), 0, [])["temperature"] == 0.0

    def output(ids, lps, reason):
        steps = [{t: SimpleNamespace(logprob=lp)} for t, lp in zip(ids, lps, strict=True)]
        done = SimpleNamespace(token_ids=ids, logprobs=steps, finish_reason=reason)
        return SimpleNamespace(outputs=[done])

    ids = tok.encode("go to cabinet 1")
    gen = generation_from_outputs(
        [output(ids, [-0.5] * len(ids), "stop"), output(ids[:2], [-1.0, -2.0], "length")], tok
    )
    assert gen.ids == [ids, ids[:2]] and gen.finished == [True, False]
    assert gen.logprobs[1] == [-1.0, -2.0]
    assert gen.texts[0] == tok.decode(ids, skip_special_tokens=True)
