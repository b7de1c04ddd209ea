"""GRPO group advantages (vs a loop reference) and the RLSD token re-weighting."""

import math

import pytest
import torch
from torch.testing import assert_close

from sdar.algos import grpo_advantages, rlsd_advantages, rlsd_lambda

EPS = 1e-6


def grpo_loop_reference(rewards, group_ids, norm_by_std=True, eps=EPS):
    """One sample at a time, straight from the formula in SDAR_SPEC 1.4."""
    out = []
    for i, gid in enumerate(group_ids):
        peers = [float(rewards[j]) for j, other in enumerate(group_ids) if other == gid]
        if len(peers) < 2 or max(peers) == min(peers):
            out.append(0.0)
            continue
        mean = sum(peers) / len(peers)
        std = math.sqrt(sum((p - mean) ** 2 for p in peers) / (len(peers) - 1))
        centred = float(rewards[i]) - mean
        out.append(centred / (std + eps) if norm_by_std else centred)
    return torch.tensor(out, dtype=torch.float64)


def test_grpo_by_hand_mixed_groups_and_string_ids():
    # a: [1, 0, 2] -> mean 1, unbiased std sqrt((0 + 1 + 1) / 2) = 1 -> A = 0, -1, 1
    # b: singleton -> 0;  c: [2, 2] equal -> 0
    # d: [3, 5] -> mean 4, std sqrt((1 + 1) / 1) = sqrt(2) -> A = -1/sqrt2, +1/sqrt2
    rewards = torch.tensor([1.0, 3.0, 0.0, 2.0, 7.0, 2.0, 2.0, 5.0], dtype=torch.float64)
    ids = ["a", "d", "a", "c", "b", "a", "c", "d"]
    s2 = math.sqrt(2.0)
    expected = torch.tensor(
        [0.0, -1 / (s2 + EPS), -1 / (1 + EPS), 0.0, 0.0, 1 / (1 + EPS), 0.0, 1 / (s2 + EPS)],
        dtype=torch.float64,
    )
    assert_close(grpo_advantages(rewards, ids), expected)
    # without the std: only centred
    centred = torch.tensor([0.0, -1.0, -1.0, 0.0, 0.0, 1.0, 0.0, 1.0], dtype=torch.float64)
    assert_close(grpo_advantages(rewards, ids, norm_by_std=False), centred)


def test_grpo_all_equal_and_singletons_are_exactly_zero():
    # 0.1 is not exact in binary, so a computed mean could leave a tiny residual.
    rewards = torch.full((3,), 0.1)
    assert (grpo_advantages(rewards, [7, 7, 7]) == 0).all()
    assert (grpo_advantages(torch.tensor([1.0, -3.0]), ["x", "y"]) == 0).all()
    assert grpo_advantages(torch.tensor([]), []).shape == (0,)


def test_grpo_vectorised_matches_loop_reference():
    gen = torch.Generator().manual_seed(0)
    n = 60
    rewards = torch.randint(0, 3, (n,), generator=gen).double() * 0.5
    ids = torch.randint(0, 12, (n,), generator=gen)  # mixed sizes, some singletons
    for norm in (True, False):
        expected = grpo_loop_reference(rewards, ids.tolist(), norm_by_std=norm)
        assert_close(grpo_advantages(rewards, ids, norm_by_std=norm), expected)
        str_ids = [f"task-{i}" for i in ids.tolist()]
        assert_close(grpo_advantages(rewards, str_ids, norm_by_std=norm), expected)


def test_grpo_bad_inputs():
    with pytest.raises(ValueError, match="grpo_advantages: group_ids has 2 entries, expected 3"):
        grpo_advantages(torch.zeros(3), [0, 1])
    with pytest.raises(ValueError, match="grpo_advantages: rewards has dtype torch.int64"):
        grpo_advantages(torch.zeros(3, dtype=torch.long), [0, 0, 1])
    with pytest.raises(ValueError, match="rewards has shape \\(3, 1\\), expected 1 dims"):
        grpo_advantages(torch.zeros(3, 1), [0, 0, 1])
    with pytest.raises(ValueError, match="group_ids tensor"):
        grpo_advantages(torch.zeros(3), torch.zeros(3))


def test_rlsd_by_hand():
    adv = torch.tensor([1.0, -2.0, 0.0], dtype=torch.float64)
    old = torch.zeros(3, 2, dtype=torch.float64)
    teacher = torch.tensor([[0.1, -1.0], [0.5, -0.05], [3.0, 3.0]], dtype=torch.float64)
    mask = torch.tensor([[1, 1], [1, 1], [1, 0]])
    # lam = 0.5, clip = 0.2, multiplier = 0.5 + 0.5 w
    # row 0, A > 0: w = exp(0.1) = 1.10517 (inside), exp(-1) = 0.368 -> 0.8
    # row 1, A < 0: w = exp(-0.5) = 0.607 -> 0.8, exp(0.05) = 1.05127 (inside)
    # row 2, A = 0: 0; masked position 0
    e01, e005 = math.exp(0.1), math.exp(0.05)
    expected = torch.tensor(
        [[0.5 + 0.5 * e01, 0.9], [-2 * 0.9, -2 * (0.5 + 0.5 * e005)], [0.0, 0.0]],
        dtype=torch.float64,
    )
    assert_close(rlsd_advantages(adv, teacher, old, mask, lam=0.5), expected)
    # token-level advantages give the same result; lam = 0 is plain GRPO
    adv_bt = adv.unsqueeze(-1).expand(3, 2)
    assert_close(rlsd_advantages(adv_bt, teacher, old, mask, lam=0.5), expected)
    assert_close(rlsd_advantages(adv, teacher, old, mask, lam=0.0), adv_bt * mask)


def test_rlsd_extreme_and_masked_values_stay_finite():
    adv = torch.tensor([1.0, -1.0])
    teacher = torch.tensor([[0.0, 1e30], [-1e4, math.inf]])
    old = torch.tensor([[-1e4, 0.0], [0.0, 0.0]])
    mask = torch.tensor([[1, 0], [1, 0]])
    out = rlsd_advantages(adv, teacher, old, mask, lam=1.0)
    # huge positive gap with A > 0 -> 1.2; huge negative gap with A < 0 -> exp(+1e4) -> 1.2
    assert_close(out, torch.tensor([[1.2, 0.0], [-1.2, 0.0]]))


def test_rlsd_lambda_schedule():
    assert rlsd_lambda(0) == 0.5
    assert rlsd_lambda(50) == 0.25
    assert rlsd_lambda(100) == 0.0
    assert rlsd_lambda(150) == 0.0
    assert rlsd_lambda(10, lam0=1.0, decay_steps=20) == 0.5
    with pytest.raises(ValueError, match="decay_steps"):
        rlsd_lambda(0, decay_steps=0)


def test_rlsd_bad_inputs():
    lp = torch.zeros(2, 3)
    with pytest.raises(ValueError, match="advantages has shape \\(3,\\), expected \\(2,\\)"):
        rlsd_advantages(torch.zeros(3), lp, lp, lp, lam=0.5)
    with pytest.raises(ValueError, match="old_logprobs has shape \\(2, 2\\)"):
        rlsd_advantages(torch.zeros(2), lp, lp[:, :2], lp, lam=0.5)
    with pytest.raises(ValueError, match="lam must be in"):
        rlsd_advantages(torch.zeros(2), lp, lp, lp, lam=1.5)
