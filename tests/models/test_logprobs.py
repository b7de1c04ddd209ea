"""Response log-probs: layout, micro-batching, gradients, temperature, entropy."""

from __future__ import annotations

import torch

from sdar.models.logprobs import collate, response_logprobs, score
from tests.models.conftest import chat_prompts


def _responses(n: int, vocab: int) -> list[list[int]]:
    gen = torch.Generator().manual_seed(0)
    return [torch.randint(7, vocab, (1 + (i * 5) % 11,), generator=gen).tolist() for i in range(n)]


def test_collate_layout():
    batch = collate([[5, 6, 7], [8]], [[1], [2, 3]], pad_id=0, device="cpu")
    assert batch.prompt_len == 3
    assert batch.input_ids.tolist() == [[5, 6, 7, 1, 0], [0, 0, 8, 2, 3]]
    assert batch.attention_mask.tolist() == [[1, 1, 1, 1, 0], [0, 0, 1, 1, 1]]
    assert batch.position_ids.tolist() == [[0, 1, 2, 3, 3], [0, 0, 0, 1, 2]]
    assert batch.response_mask.tolist() == [[1, 0], [1, 1]]
    assert batch.responses.tolist() == [[1, 0], [2, 3]]


def test_score_matches_full_forward(tiny):
    model, tok = tiny
    prompt, response = chat_prompts(tok, 1)[0], [9, 10, 11]
    with torch.no_grad():
        logits = model(torch.tensor([prompt + response])).logits[0].float()
    expected = torch.log_softmax(logits / 0.5, -1)[len(prompt) - 1 : -1]
    expected = expected.gather(-1, torch.tensor(response)[:, None])[:, 0]
    (got,), _ = score(model, [prompt], [response], pad_id=tok.pad_token_id, temperature=0.5)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)


def test_micro_batching_matches_one_batch_in_input_order(tiny):
    model, tok = tiny
    prompts = chat_prompts(tok, 10)
    responses = _responses(10, len(tok))
    kwargs = {"pad_id": tok.pad_token_id, "with_entropy": True}
    big_lp, big_ent = score(model, prompts, responses, token_budget=10**6, **kwargs)
    small_lp, small_ent = score(model, prompts, responses, token_budget=40, **kwargs)
    for i, response in enumerate(responses):
        assert big_lp[i].shape == (len(response),)
        torch.testing.assert_close(small_lp[i], big_lp[i], atol=1e-5, rtol=0)
        torch.testing.assert_close(small_ent[i], big_ent[i], atol=1e-5, rtol=0)
        (alone,), _ = score(model, [prompts[i]], [response], pad_id=tok.pad_token_id)
        torch.testing.assert_close(alone, big_lp[i], atol=1e-5, rtol=0)


def test_entropy_bounds_and_empty_response(tiny):
    model, tok = tiny
    prompts = chat_prompts(tok, 2)
    lps, ents = score(model, prompts, [[9, 10], []], pad_id=tok.pad_token_id, with_entropy=True)
    assert lps[1].shape == ents[1].shape == (0,)
    assert (ents[0] > 0).all() and (ents[0] <= torch.log(torch.tensor(float(len(tok))))).all()
    assert (lps[0] < 0).all()


def test_response_logprobs_gradient_and_mask(tiny):
    model, tok = tiny
    prompts = chat_prompts(tok, 3)
    batch = collate(prompts, [[9, 10, 11, 12], [9], [13, 14]], tok.pad_token_id, "cpu")
    model.zero_grad()
    lp, ent = response_logprobs(model, batch, with_entropy=True)
    assert lp.shape == ent.shape == batch.response_mask.shape
    assert lp.requires_grad
    pad = batch.response_mask == 0
    assert (lp[pad] == 0).all() and (ent[pad] == 0).all()
    # gradient flows from real tokens only: a loss on padded positions gives zero gradient
    (lp * pad).sum().backward(retain_graph=True)
    assert all(p.grad is None or (p.grad == 0).all() for p in model.parameters())
    lp.sum().backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
    model.zero_grad()
