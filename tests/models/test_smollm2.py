"""The real SmolLM2-135M-Instruct: GGUF -> cached Hugging Face folder -> policy.

Marked slow: dequantising the GGUF takes about a minute on a 2-core CPU (the GGUF reader parses
the 49k-entry vocabulary three times: config, weights, tokenizer).
"""

from __future__ import annotations

import time

import pytest
import torch

from sdar.models.generate import SamplingParams, generate
from sdar.models.load import SMOLLM2_DIRNAME, load_policy, resolve_model
from sdar.models.logprobs import score

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def smollm2_cache(tmp_path_factory):
    """A fresh sdar cache holding the materialised SmolLM2 folder."""
    pytest.importorskip("gguf")
    cache = tmp_path_factory.mktemp("sdar-cache")
    resolve_model("smollm2-135m", cache_dir=cache)
    return cache


@pytest.fixture(scope="session")
def smollm2(smollm2_cache):
    return load_policy("HuggingFaceTB/SmolLM2-135M-Instruct", cache_dir=smollm2_cache)


def test_materialised_once_atomically(smollm2_cache):
    models = smollm2_cache / "models"
    assert [p.name for p in models.iterdir()] == [SMOLLM2_DIRNAME]  # no temp dir left behind
    folder = models / SMOLLM2_DIRNAME
    assert (folder / "config.json").is_file() and (folder / "tokenizer.json").is_file()
    start = time.perf_counter()
    assert resolve_model("smollm2-135m", cache_dir=smollm2_cache) == folder
    assert time.perf_counter() - start < 1.0  # reused, not rebuilt


def test_tokenizer_chat_template_and_forward(smollm2):
    model, tok = smollm2
    assert tok.padding_side == "left" and tok.eos_token == "<|im_end|>"
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    text = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert "<|im_start|>user\nWhat is the capital of France?<|im_end|>" in text
    assert text.endswith("<|im_start|>assistant\n")
    ids = tok.apply_chat_template(messages, add_generation_prompt=True)["input_ids"]
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits
    assert logits.shape == (1, len(ids), model.config.vocab_size)
    assert torch.isfinite(logits).all()


def test_greedy_answer_and_scoring(smollm2):
    model, tok = smollm2
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    prompt = list(tok.apply_chat_template(messages, add_generation_prompt=True)["input_ids"])
    params = SamplingParams(max_new_tokens=12, greedy=True)
    out = generate(model, tok, [prompt], params, generator=torch.Generator().manual_seed(0))
    assert "Paris" in out.texts[0] and out.finished[0]
    assert out.ids[0][-1] == tok.eos_token_id
    (lp,), _ = score(model, [prompt], out.ids, pad_id=tok.pad_token_id)
    torch.testing.assert_close(lp, torch.tensor(out.logprobs[0]), atol=1e-4, rtol=0)
