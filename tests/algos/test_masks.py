"""agg_loss: the three aggregation modes by hand, padding rows, masked garbage."""

import math

import pytest
import torch
from torch.testing import assert_close

from sdar.algos import agg_loss

VALUES = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]])
MASK = torch.tensor([[1, 1, 0], [1, 0, 0], [0, 0, 0]], dtype=torch.bool)


@pytest.mark.parametrize(
    ("agg", "expected"),
    [
        # (1 + 2 + 4) / 3 valid tokens
        ("token-mean", 7.0 / 3.0),
        # row means 1.5 and 4; the all-padding third row is not counted: (1.5 + 4) / 2
        ("seq-mean-token-mean", 2.75),
        # row sums 3 and 4: (3 + 4) / 2
        ("seq-mean-token-sum", 3.5),
    ],
)
def test_agg_modes_by_hand(agg, expected):
    assert_close(agg_loss(VALUES, MASK, agg=agg), torch.tensor(expected))
    assert_close(agg_loss(VALUES, MASK.float(), agg=agg), torch.tensor(expected))


@pytest.mark.parametrize("agg", ["token-mean", "seq-mean-token-mean", "seq-mean-token-sum"])
def test_masked_garbage_does_not_leak(agg):
    garbage = VALUES.clone().requires_grad_(True)
    dirty = torch.where(MASK, garbage, torch.tensor([math.inf, -1e30, math.nan]))
    loss = agg_loss(dirty, MASK, agg=agg)
    loss.backward()
    assert_close(loss, agg_loss(VALUES, MASK, agg=agg))
    assert torch.isfinite(garbage.grad).all()
    assert (garbage.grad[~MASK] == 0).all()


@pytest.mark.parametrize("agg", ["token-mean", "seq-mean-token-mean", "seq-mean-token-sum"])
def test_empty_mask_gives_zero(agg):
    assert agg_loss(VALUES, torch.zeros(3, 3), agg=agg) == 0.0


def test_bad_inputs_name_the_argument():
    with pytest.raises(ValueError, match="agg_loss: unknown agg 'mean'"):
        agg_loss(VALUES, MASK, agg="mean")
    with pytest.raises(ValueError, match="agg_loss: mask has shape \\(3, 2\\)"):
        agg_loss(VALUES, MASK[:, :2])
    with pytest.raises(ValueError, match="agg_loss: values has dtype torch.int64"):
        agg_loss(VALUES.long(), MASK)
    with pytest.raises(ValueError, match="values has shape \\(3,\\), expected 2 dims"):
        agg_loss(VALUES[0], MASK[0])


def test_agg_units_count_tokens_or_non_empty_rows():
    from sdar.algos.masks import agg_units

    mask = torch.tensor([[1.0, 1.0, 0.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0]], dtype=torch.float64)
    assert agg_units(mask, "token-mean").item() == 3.0
    assert agg_units(mask, "seq-mean-token-mean").item() == 2.0
    assert agg_units(mask, "seq-mean-token-sum").dtype == torch.float64
    assert agg_units(mask.bool()).dtype == torch.float32
    with pytest.raises(ValueError, match="agg"):
        agg_units(mask, "sum")
