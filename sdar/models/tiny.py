"""Tiny randomly initialised Llama/Qwen2 policies with a word-level tokenizer.

For tests and CPU quickstarts: a vocabulary built from the environment's own texts keeps the
embedding small, and tags such as ``<action>`` stay single tokens so a tiny policy can learn
the action format in a few steps.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import torch
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
from transformers import (
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedModel,
    PreTrainedTokenizerFast,
    Qwen2Config,
    Qwen2ForCausalLM,
)

PAD, UNK, BOS, END = "<|pad|>", "<|unk|>", "<|bos|>", "<|end|>"
ROLE_TOKENS = ("<|system|>", "<|user|>", "<|assistant|>")
SPECIAL_TOKENS = (PAD, UNK, BOS, END, *ROLE_TOKENS)
DEFAULT_TAGS = tuple(
    f"<{close}{tag}>"
    for tag in ("think", "action", "answer", "search", "information")
    for close in ("", "/")
)
# A tag like <action> or </think>, else a word (words joined by slashes, such as ALFWorld's
# "in/on", stay one token: decoding puts spaces between tokens, and "put mug 1 in / on
# desk 1" is not the command "put mug 1 in/on desk 1"), else one punctuation character.
_WORD_PATTERN = r"</?[A-Za-z_]+>|\w+(?:/\w+)*|[^\w\s]"
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|> ' + message['content'] + ' <|end|> ' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>' }}{% endif %}"
)
_ARCHS = {"llama": (LlamaConfig, LlamaForCausalLM), "qwen2": (Qwen2Config, Qwen2ForCausalLM)}


def _pre_tokenizer() -> pre_tokenizers.PreTokenizer:
    """Split on whitespace, then into tags, words and single punctuation characters."""
    return pre_tokenizers.Sequence(
        [
            pre_tokenizers.WhitespaceSplit(),
            pre_tokenizers.Split(Regex(_WORD_PATTERN), behavior="isolated"),
        ]
    )


def build_word_tokenizer(
    texts: Iterable[str], *, extra_tokens: Sequence[str] = (), min_count: int = 1
) -> PreTrainedTokenizerFast:
    """A word-level tokenizer over the words of ``texts`` that occur ``min_count`` times or more.

    Ids: the special tokens first (``<|pad|>`` 0, ``<|unk|>`` 1, ``<|bos|>`` 2, ``<|end|>`` 3,
    then the role tokens), then `DEFAULT_TAGS` and ``extra_tokens``, then words by descending
    count (ties alphabetical), so the vocabulary is deterministic. ``<|end|>`` closes every chat
    turn and is the eos token. Decoding joins words with spaces.
    """
    pre = _pre_tokenizer()
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(piece for piece, _ in pre.pre_tokenize_str(text))
    vocab: dict[str, int] = {}
    for token in (*SPECIAL_TOKENS, *DEFAULT_TAGS, *extra_tokens):
        vocab.setdefault(token, len(vocab))
    for word, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        if count >= min_count:
            vocab.setdefault(word, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    tok.pre_tokenizer = pre
    tok.decoder = decoders.WordPiece(prefix="##", cleanup=True)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token=PAD,
        unk_token=UNK,
        bos_token=BOS,
        eos_token=END,
        additional_special_tokens=list(ROLE_TOKENS),
        padding_side="left",
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build_tiny_model(
    tokenizer: PreTrainedTokenizerFast,
    *,
    arch: str = "llama",
    hidden_size: int = 64,
    num_layers: int = 2,
    num_heads: int = 4,
    intermediate_size: int | None = None,
    max_position_embeddings: int = 2048,
    seed: int = 0,
) -> PreTrainedModel:
    """A randomly initialised causal LM sized to ``tokenizer``; same seed, same weights.

    ``intermediate_size`` defaults to ``4 * hidden_size``. Initialisation runs under a forked
    RNG, so the caller's global torch RNG state is untouched.
    """
    if arch not in _ARCHS:
        raise ValueError(f"arch: expected one of {sorted(_ARCHS)}, got {arch!r}")
    if hidden_size % num_heads:
        raise ValueError(f"hidden_size {hidden_size} must be divisible by num_heads {num_heads}")
    config_cls, model_cls = _ARCHS[arch]
    config = config_cls(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=intermediate_size or 4 * hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_heads,
        max_position_embeddings=max_position_embeddings,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=True,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = model_cls(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model.eval()


def save_tiny(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerFast, path: str | os.PathLike
) -> Path:
    """Save a Hugging Face folder that `sdar.models.load.load_policy` loads."""
    path = Path(path)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
