"""Word tokenizer and tiny model builders."""

from __future__ import annotations

import re

import pytest
import torch
from transformers import AutoTokenizer

from sdar.models.tiny import SPECIAL_TOKENS, build_tiny_model, build_word_tokenizer


def _action(text: str) -> str:
    match = re.search(r"<action>(.*?)</action>", text)
    assert match is not None, text
    return " ".join(match.group(1).split())


def test_actions_and_tags_round_trip(word_tokenizer):
    text = "<think>the apple is in cabinet 1</think> <action>go to cabinet 1</action>"
    ids = word_tokenizer.encode(text, add_special_tokens=False)
    tokens = word_tokenizer.convert_ids_to_tokens(ids)
    for tag in ("<think>", "</think>", "<action>", "</action>"):
        assert tag in tokens
    assert _action(word_tokenizer.decode(ids)) == "go to cabinet 1"


def test_unknown_words_and_punctuation(word_tokenizer):
    ids = word_tokenizer.encode("zebra, cabinet.", add_special_tokens=False)
    assert word_tokenizer.convert_ids_to_tokens(ids) == ["<|unk|>", ",", "cabinet", "."]


def test_special_tokens_and_vocab_order():
    tok = build_word_tokenizer(["b a a", "c"], extra_tokens=["<tool>"], min_count=1)
    assert tok.convert_ids_to_tokens(list(range(len(SPECIAL_TOKENS)))) == list(SPECIAL_TOKENS)
    assert tok.pad_token_id == 0 and tok.unk_token == "<|unk|>"
    assert tok.eos_token == "<|end|>" and tok.padding_side == "left"
    vocab = tok.get_vocab()
    assert vocab["<tool>"] < vocab["a"] < vocab["b"] < vocab["c"]  # count desc, then alphabetical
    assert "c" not in build_word_tokenizer(["b a a", "c a"], min_count=2).get_vocab()


def test_chat_template_renders(word_tokenizer):
    messages = [
        {"role": "system", "content": "look around"},
        {"role": "user", "content": "go to cabinet 1"},
    ]
    text = word_tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert text == "<|system|> look around <|end|> <|user|> go to cabinet 1 <|end|> <|assistant|>"
    ids = word_tokenizer.apply_chat_template(messages, add_generation_prompt=True)["input_ids"]
    assert ids[-1] == word_tokenizer.convert_tokens_to_ids("<|assistant|>")
    assert word_tokenizer.unk_token_id not in ids


def test_save_and_reload(tmp_path, word_tokenizer):
    word_tokenizer.save_pretrained(tmp_path)
    reloaded = AutoTokenizer.from_pretrained(tmp_path)
    text = "<action>take apple 1 from cabinet 1</action>"
    assert reloaded.encode(text) == word_tokenizer.encode(text)
    assert reloaded.chat_template == word_tokenizer.chat_template


@pytest.mark.parametrize("arch", ["llama", "qwen2"])
def test_tiny_model_is_deterministic(word_tokenizer, arch):
    rng_before = torch.get_rng_state()
    a = build_tiny_model(word_tokenizer, arch=arch, seed=3)
    assert torch.equal(torch.get_rng_state(), rng_before)  # global RNG untouched
    b = build_tiny_model(word_tokenizer, arch=arch, seed=3)
    c = build_tiny_model(word_tokenizer, arch=arch, seed=4)
    for (name, pa), pb in zip(a.named_parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb), name
    assert not all(
        torch.equal(pa, pc) for pa, pc in zip(a.parameters(), c.parameters(), strict=True)
    )
    assert a.config.vocab_size == len(word_tokenizer)


def test_tiny_model_rejects_bad_args(word_tokenizer):
    with pytest.raises(ValueError, match="arch"):
        build_tiny_model(word_tokenizer, arch="gpt2")
    with pytest.raises(ValueError, match="divisible"):
        build_tiny_model(word_tokenizer, hidden_size=30, num_heads=4)


def test_slash_joined_words_stay_one_token_and_decode_back():
    """ALFWorld's "put mug 1 in/on desk 1": decoding puts spaces between tokens, so "in/on"
    must be one token or the decoded command ("in / on") is not admissible."""
    from sdar.models.tiny import build_word_tokenizer

    tok = build_word_tokenizer(["put mug 1 in/on desk 1", "<action> </action>"])
    text = "<action> put mug 1 in/on desk 1 </action>"
    ids = tok.encode(text, add_special_tokens=False)
    assert tok.decode(ids) == text and len(ids) == 8
