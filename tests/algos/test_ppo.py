"""Dual-clip PPO: each regime by hand, gradients, metrics, masking, extremes."""

import math

import pytest
import torch
from torch.testing import assert_close

from sdar.algos import ppo_clip_loss


def one_token(ratio, adv, **kwargs):
    """Loss, metrics and d loss / d logprob for a single token with the given ratio."""
    lp = torch.tensor([[math.log(ratio)]], dtype=torch.float64, requires_grad=True)
    old = torch.zeros(1, 1, dtype=torch.float64)
    loss, metrics = ppo_clip_loss(
        lp, old, torch.tensor([adv], dtype=torch.float64), torch.ones(1, 1), **kwargs
    )
    loss.backward()
    return loss.item(), metrics, lp.grad.item()


@pytest.mark.parametrize(
    ("ratio", "adv", "loss", "clipped", "dual", "grad"),
    [
        # A > 0, r = 1.5: l1 = -1.5, l2 = -1.2 -> max = -1.2 (clipped, no gradient)
        (1.5, 1.0, -1.2, 1.0, 0.0, 0.0),
        # A > 0, r = 0.5: l1 = -0.5, l2 = -0.8 -> max = -0.5; d(-A r)/d log r = -A r = -0.5
        (0.5, 1.0, -0.5, 0.0, 0.0, -0.5),
        # A < 0, r = 0.5: l1 = 0.5, l2 = 0.8 -> 0.8 (clipped); below c|A| = 3
        (0.5, -1.0, 0.8, 1.0, 0.0, 0.0),
        # A < 0, r = 2: l1 = 2, l2 = 1.2 -> 2 (unclipped, under the cap 3); grad -A r = 2
        (2.0, -1.0, 2.0, 0.0, 0.0, 2.0),
        # A < 0, r = 4: l1 = 4 > c|A| = 3 -> capped at 3 by the dual clip, no gradient
        (4.0, -1.0, 3.0, 0.0, 1.0, 0.0),
        # A < 0, |A| = 2, r = 5: l1 = 10 -> capped at c|A| = 6
        (5.0, -2.0, 6.0, 0.0, 1.0, 0.0),
        # A = 0: nothing
        (3.0, 0.0, 0.0, 0.0, 0.0, 0.0),
    ],
)
def test_regimes_by_hand(ratio, adv, loss, clipped, dual, grad):
    got_loss, metrics, got_grad = one_token(ratio, adv)
    assert got_loss == pytest.approx(loss)
    assert got_grad == pytest.approx(grad)
    assert metrics["pg_clipfrac"].item() == clipped
    assert metrics["pg_clipfrac_lower"].item() == dual
    assert metrics["pg_loss"].item() == pytest.approx(loss)
    assert metrics["ppo_kl"].item() == pytest.approx(-math.log(ratio))


def test_dual_clip_disabled_and_asymmetric_clip():
    # no dual clip: A < 0, r = 4 -> l1 = 4 is kept
    assert one_token(4.0, -1.0, dual_clip=None)[0] == pytest.approx(4.0)
    # clip_high = 0.28: A > 0, r = 1.5 -> -1.28; clip_low = 0.1: A < 0, r = 0.5 -> 0.9
    assert one_token(1.5, 1.0, clip_high=0.28)[0] == pytest.approx(-1.28)
    assert one_token(0.5, -1.0, clip_low=0.1)[0] == pytest.approx(0.9)


def test_token_mean_metrics_and_broadcast():
    # row 0: A = 1, r = (1.5, 0.5) -> (-1.2, -0.5); row 1: A = -1, r = (4, 2) -> (3, 2)
    lp = torch.tensor([[1.5, 0.5], [4.0, 2.0]]).log()
    old = torch.zeros(2, 2)
    adv = torch.tensor([1.0, -1.0])
    mask = torch.ones(2, 2)
    loss, metrics = ppo_clip_loss(lp, old, adv, mask)
    assert_close(loss, torch.tensor((-1.2 - 0.5 + 3.0 + 2.0) / 4))
    assert_close(metrics["pg_clipfrac"], torch.tensor(0.25))
    assert_close(metrics["pg_clipfrac_lower"], torch.tensor(0.25))
    assert_close(metrics["ppo_kl"], -lp.mean())
    loss_bt, _ = ppo_clip_loss(lp, old, adv.unsqueeze(-1).expand(2, 2), mask)
    assert_close(loss_bt, loss)
    # seq-mean-token-sum: row sums -1.7 and 5 -> mean 1.65
    loss_sum, _ = ppo_clip_loss(lp, old, adv, mask, agg="seq-mean-token-sum")
    assert_close(loss_sum, torch.tensor(1.65))
    assert all(not m.requires_grad and m.dim() == 0 for m in metrics.values())


@pytest.mark.parametrize("junk", [1e4, math.inf, math.nan])
def test_masked_garbage_changes_nothing(junk):
    gen = torch.Generator().manual_seed(0)
    lp = (-torch.rand(3, 5, generator=gen)).requires_grad_(True)
    old = -torch.rand(3, 5, generator=gen)
    adv = torch.randn(3, 5, generator=gen)
    mask = torch.rand(3, 5, generator=gen) > 0.4
    loss, metrics = ppo_clip_loss(lp, old, adv, mask)
    (grad,) = torch.autograd.grad(loss, lp)

    lp2 = torch.where(mask, lp.detach(), torch.tensor(junk)).requires_grad_(True)
    old2 = torch.where(mask, old, torch.tensor(-junk))
    adv2 = torch.where(mask, adv, torch.tensor(junk * 1e26))
    loss2, metrics2 = ppo_clip_loss(lp2, old2, adv2, mask.float())
    (grad2,) = torch.autograd.grad(loss2, lp2)
    assert_close(loss2, loss)
    assert_close(grad2, grad)
    for name in metrics:
        assert_close(metrics2[name], metrics[name])


def test_extreme_logprobs_stay_finite():
    lp = torch.tensor([[-1e4, 0.0, -1e4, 0.0]], requires_grad=True)
    old = torch.tensor([[0.0, -1e4, 0.0, -1e4]])
    for adv in (torch.tensor([1.0]), torch.tensor([-1.0])):
        for dual in (3.0, None):
            loss, metrics = ppo_clip_loss(lp, old, adv, torch.ones(1, 4), dual_clip=dual)
            (grad,) = torch.autograd.grad(loss, lp)
            assert torch.isfinite(loss) and torch.isfinite(grad).all()
            assert all(torch.isfinite(m) for m in metrics.values())


def test_bad_inputs_name_the_argument():
    lp = torch.zeros(2, 4)
    adv = torch.zeros(2)
    with pytest.raises(
        ValueError,
        match="ppo_clip_loss: old_logprobs has shape \\(2, 3\\), expected \\(2, 4\\) like logprobs",
    ):
        ppo_clip_loss(lp, lp[:, :3], adv, lp)
    with pytest.raises(ValueError, match="ppo_clip_loss: logprobs has dtype torch.int64"):
        ppo_clip_loss(lp.long(), lp, adv, lp)
    with pytest.raises(ValueError, match="advantages has shape \\(3,\\)"):
        ppo_clip_loss(lp, lp, torch.zeros(3), lp)
    with pytest.raises(ValueError, match="mask has shape"):
        ppo_clip_loss(lp, lp, adv, lp[0])
    with pytest.raises(ValueError, match="dual_clip must be > 1"):
        ppo_clip_loss(lp, lp, adv, lp, dual_clip=1.0)
    with pytest.raises(ValueError, match="unknown agg 'sum'"):
        ppo_clip_loss(lp, lp, adv, lp, agg="sum")
