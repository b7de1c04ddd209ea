"""Shared-prefix scoring: the same log-probs and entropies as scoring the full sequences."""

from __future__ import annotations

import pytest
import torch

from sdar.models.load import autocast_context
from sdar.models.logprobs import score
from sdar.models.prefix import score_grouped, score_with_shared_prefix, shared_prefix_groups
from tests.models.conftest import chat_prompts


def _ids(n: int, lo: int, hi: int, seed: int) -> list[int]:
    return torch.randint(lo, hi, (n,), generator=torch.Generator().manual_seed(seed)).tolist()


def _responses(n: int, vocab: int) -> list[list[int]]:
    return [_ids(1 + (i * 5) % 11, 7, vocab, i) for i in range(n)]


def _close(got: list[torch.Tensor], expected: list[torch.Tensor], atol: float) -> None:
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        torch.testing.assert_close(g, e, atol=atol, rtol=0)


def test_shared_prefix_equals_full_sequence_with_padding_and_entropy(tiny):
    """Different suffix lengths (left padding after the prefix), small micro-batches."""
    model, tok = tiny
    prefix = _ids(30, 7, len(tok), 99)
    suffixes = chat_prompts(tok, 7)
    responses = _responses(7, len(tok))
    kw = dict(pad_id=tok.pad_token_id, temperature=0.7, with_entropy=True, token_budget=160)
    full, full_ent = score(model, [prefix + s for s in suffixes], responses, **kw)
    got, got_ent = score_with_shared_prefix(model, prefix, suffixes, responses, **kw)
    _close(got, full, atol=1e-5)
    _close(got_ent, full_ent, atol=1e-5)


@pytest.mark.parametrize("budget", [200, 100_000])
def test_grouped_scoring_in_input_order(tiny, budget):
    """Two privileged blocks, identical first-turn prompts, and prompts with no shared prefix,
    mixed in micro-batches (a large budget) or apart (a small one)."""
    model, tok = tiny
    blocks = [_ids(24, 7, len(tok), 1), _ids(40, 7, len(tok), 2)]
    base = chat_prompts(tok, 6)
    prompts = [blocks[i % 2] + base[i] for i in range(6)] + [blocks[0] + base[0]] * 3 + base[:2]
    responses = _responses(len(prompts), len(tok))
    groups, rest = shared_prefix_groups(prompts)
    assert sorted(rest + [i for g in groups for i in g.indices]) == list(range(len(prompts)))
    assert len(groups) >= 2 and all(g.prefix_len >= 24 for g in groups)  # block + chat header
    assert set(rest) >= {9, 10}  # the chat header alone is too short to be worth a group
    kw = dict(pad_id=tok.pad_token_id, temperature=1.0, with_entropy=True, token_budget=budget)
    full, full_ent = score(model, prompts, responses, **kw)
    got, got_ent, cached = score_grouped(model, prompts, responses, **kw)
    _close(got, full, atol=1e-5)
    _close(got_ent, full_ent, atol=1e-5)
    assert 0.3 < cached < 1.0


def test_grouping_never_leaves_an_empty_suffix():
    same = [[5] * 40] * 4
    groups, rest = shared_prefix_groups(same)
    assert rest == [] and groups[0].prefix_len == 39
    # 64 + 39 + 4 + 40 = 147 tokens beat one group at 20 tokens: 64 + 20 + 4 * 20 + 20 = 184
    groups, rest = shared_prefix_groups(same + [[5] * 20 + [6] * 20])
    assert rest == [4] and [g.prefix_len for g in groups] == [39]
    groups, rest = shared_prefix_groups(same + [[5] * 20 + [6] * 20] * 4)
    assert rest == [] and sorted(g.prefix_len for g in groups) == [39, 39]
    assert shared_prefix_groups([]) == ([], [])
    assert shared_prefix_groups([[1, 2, 3], [4, 5]]) == ([], [0, 1])


def test_shared_prefix_under_bf16_autocast(tiny):
    """The policy's compute precision: cached and full passes agree to bf16 rounding."""
    model, tok = tiny
    prefix = _ids(30, 7, len(tok), 5)
    suffixes = chat_prompts(tok, 4)
    responses = _responses(4, len(tok))
    with autocast_context(torch.device("cpu"), torch.bfloat16):
        full, _ = score(model, [prefix + s for s in suffixes], responses, pad_id=tok.pad_token_id)
        got, _ = score_with_shared_prefix(
            model, prefix, suffixes, responses, pad_id=tok.pad_token_id
        )
    _close(got, full, atol=0.05)


def test_empty_prefix_rejected(tiny):
    model, tok = tiny
    with pytest.raises(ValueError, match="empty prefix"):
        score_with_shared_prefix(model, [], [[5]], [[6]], pad_id=tok.pad_token_id)
