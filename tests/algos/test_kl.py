"""KL estimators by hand, entropy and log-probs from logits against the textbook forms."""

import math

import pytest
import torch
from torch.testing import assert_close

from sdar.algos import entropy_from_logits, kl_penalty, logprobs_from_logits

LP = torch.tensor([[-1.0, -2.0, -0.5]], dtype=torch.float64)
REF = torch.tensor([[-2.0, -1.0, -0.5]], dtype=torch.float64)
# lp - ref = (1, -1, 0); log r = ref - lp = (-1, 1, 0)
E = math.e


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("k1", [1.0, -1.0, 0.0]),
        ("abs", [1.0, 1.0, 0.0]),
        ("k2", [0.5, 0.5, 0.0]),
        ("mse", [0.5, 0.5, 0.0]),
        # exp(log r) - log r - 1: e^-1 + 1 - 1, e - 1 - 1, 1 - 0 - 1
        ("k3", [1 / E, E - 2, 0.0]),
        ("low_var_kl", [1 / E, E - 2, 0.0]),
    ],
)
def test_kl_kinds_by_hand(kind, expected):
    assert_close(kl_penalty(LP, REF, kind), torch.tensor([expected], dtype=torch.float64))


def test_k3_gradient_and_clamps():
    lp = LP.clone().requires_grad_(True)
    kl_penalty(lp, REF, "k3").sum().backward()
    # d/d lp [exp(ref - lp) - (ref - lp) - 1] = 1 - exp(ref - lp)
    assert_close(lp.grad, 1 - torch.exp(REF - LP))
    # log r = 30 is clamped to 20 before exp; low_var_kl then clamps to 10
    lp, ref = torch.tensor([[0.0, -1e4]]), torch.tensor([[30.0, 0.0]])
    assert_close(kl_penalty(lp, ref, "k3")[0, 0], torch.tensor(math.exp(20) - 21))
    assert_close(kl_penalty(lp, ref, "low_var_kl"), torch.tensor([[10.0, 10.0]]))
    for kind in ("k1", "k2", "k3", "low_var_kl", "abs", "mse"):
        assert torch.isfinite(kl_penalty(lp, ref, kind)).all()


def test_kl_bad_inputs():
    with pytest.raises(ValueError, match="kl_penalty: unknown kind 'k4'; expected one of"):
        kl_penalty(LP, REF, "k4")
    with pytest.raises(ValueError, match="ref_logprobs has shape \\(1, 2\\), expected \\(1, 3\\)"):
        kl_penalty(LP, REF[:, :2], "k1")
    with pytest.raises(ValueError, match="kl_penalty: logprobs has dtype torch.int64"):
        kl_penalty(LP.long(), REF, "k1")


def test_entropy_by_hand_and_against_reference():
    # p = (1/4, 3/4): H = -(1/4 ln 1/4 + 3/4 ln 3/4) = 0.562335
    logits = torch.tensor([[[0.0, math.log(3.0)]]], dtype=torch.float64)
    assert_close(
        entropy_from_logits(logits), torch.tensor([[0.5623351446188083]], dtype=torch.float64)
    )
    # uniform over V -> ln V, whatever the offset
    assert_close(entropy_from_logits(torch.full((1, 2, 7), 123.0)), torch.full((1, 2), math.log(7)))

    gen = torch.Generator().manual_seed(0)
    logits = (5 * torch.randn(2, 3, 11, generator=gen, dtype=torch.float64)).requires_grad_(True)
    ours = entropy_from_logits(logits)
    ref = -(torch.softmax(logits, -1) * torch.log_softmax(logits, -1)).sum(-1)
    assert_close(ours, ref)
    w = torch.randn(2, 3, generator=gen, dtype=torch.float64)
    (g_ours,) = torch.autograd.grad((ours * w).sum(), logits)
    (g_ref,) = torch.autograd.grad((ref * w).sum(), logits)
    assert_close(g_ours, g_ref)


def test_entropy_of_extreme_logits_is_finite():
    logits = torch.tensor([[[1e4, -1e4, 0.0]]], requires_grad=True)
    h = entropy_from_logits(logits)
    (grad,) = torch.autograd.grad(h.sum(), logits)
    assert_close(h, torch.zeros(1, 1))
    assert torch.isfinite(grad).all()


def test_logprobs_from_logits_matches_log_softmax_gather():
    gen = torch.Generator().manual_seed(1)
    logits = (3 * torch.randn(2, 4, 9, generator=gen, dtype=torch.float64)).requires_grad_(True)
    ids = torch.randint(0, 9, (2, 4), generator=gen)
    ours = logprobs_from_logits(logits, ids)
    ref = torch.log_softmax(logits, -1).gather(-1, ids.unsqueeze(-1)).squeeze(-1)
    assert_close(ours, ref)
    (g_ours,) = torch.autograd.grad(ours.sum(), logits)
    (g_ref,) = torch.autograd.grad(ref.sum(), logits)
    assert_close(g_ours, g_ref)
    # p = (1/4, 3/4) -> log(3/4) for id 1; extreme logits stay finite
    two = torch.tensor([[[0.0, math.log(3.0)], [1e4, -1e4]]], dtype=torch.float64)
    got = logprobs_from_logits(two, torch.tensor([[1, 1]]))
    assert_close(got, torch.tensor([[math.log(0.75), -2e4]], dtype=torch.float64))


def test_logprobs_from_logits_bad_inputs():
    logits = torch.zeros(2, 3, 5)
    with pytest.raises(ValueError, match="ids must be an integer tensor"):
        logprobs_from_logits(logits, torch.zeros(2, 3))
    with pytest.raises(ValueError, match="ids has shape \\(2, 2\\), expected \\(2, 3\\)"):
        logprobs_from_logits(logits, torch.zeros(2, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="logits has shape \\(2, 3\\), expected 3 dims"):
        logprobs_from_logits(logits[..., 0], torch.zeros(2, 3, dtype=torch.long))
