"""Shared tiny models for the sdar.models tests."""

from __future__ import annotations

import pytest
import torch

from sdar.models.tiny import build_tiny_model, build_word_tokenizer, save_tiny

TEXTS = [
    "You are in the middle of a room. Looking around you, you see a cabinet 1, a drawer 2.",
    "Your task is to: put a clean apple in the fridge.",
    "go to cabinet 1 open drawer 2 take apple 1 from cabinet 1 look inventory",
]


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Tiny models run fastest on one thread; with two, a busy core stalls every op."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def word_tokenizer():
    return build_word_tokenizer(TEXTS)


@pytest.fixture(scope="session", params=["llama", "qwen2"])
def tiny(request, word_tokenizer):
    """``(model, tokenizer)``: a random fp32 tiny model of each architecture."""
    return build_tiny_model(word_tokenizer, arch=request.param, seed=0), word_tokenizer


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory, word_tokenizer):
    """A saved tiny llama folder that `load_policy` loads."""
    model = build_tiny_model(word_tokenizer, arch="llama", seed=0)
    return save_tiny(model, word_tokenizer, tmp_path_factory.mktemp("tiny-llama"))


def chat_prompts(tokenizer, n: int) -> list[list[int]]:
    """``n`` chat prompts of different lengths, as token ids."""
    prompts = []
    for i in range(n):
        content = "go to cabinet 1 " + "look " * (i % 7)
        enc = tokenizer.apply_chat_template(
            [{"role": "user", "content": content}], add_generation_prompt=True
        )
        prompts.append(list(enc["input_ids"]))
    return prompts
