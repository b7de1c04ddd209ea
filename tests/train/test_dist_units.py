"""The single-process side of sdar.train.dist and the metric reduction over ranks."""

from __future__ import annotations

import pytest

from sdar.train.dist import DistContext, init_distributed
from sdar.train.loop import reduce_metrics


def test_a_plain_process_has_identity_collectives(monkeypatch):
    monkeypatch.delenv("RANK", raising=False)
    ctx = init_distributed("cpu")
    assert not ctx.enabled and ctx.is_main and ctx.world == 1
    assert ctx.all_reduce([1.0, 2.5]) == [1.0, 2.5]
    assert ctx.all_gather_object({"a": 1}) == [{"a": 1}]
    assert ctx.broadcast_object("x") == "x"
    ctx.barrier()


def test_reduce_metrics_sums_counts_and_weights_means():
    rank0 = {
        "step": 3,
        "rollout/reward": 1.0,
        "rollout/tokens_generated": 100.0,
        "rollout/advantage_abs_mean": 0.5,
        "teacher/prompt_tokens": 200.0,
        "rollout/logprob_mismatch_max": 0.1,
        "time/rollout": 2.0,
        "actor/grad_norm": 0.7,
    }
    rank1 = {
        **rank0,
        "rollout/reward": 4.0,
        "rollout/tokens_generated": 50.0,
        "rollout/advantage_abs_mean": 2.0,
        "teacher/prompt_tokens": 500.0,
        "rollout/logprob_mismatch_max": 0.3,
        "time/rollout": 5.0,
    }
    out = reduce_metrics(
        [(rank0, {"trajs": 3, "samples": 10}), (rank1, {"trajs": 1, "samples": 30})]
    )
    assert out["step"] == 3 and out["actor/grad_norm"] == 0.7  # global already: rank 0's
    assert out["rollout/tokens_generated"] == 150.0
    assert out["rollout/reward"] == pytest.approx((3 * 1.0 + 1 * 4.0) / 4)  # per trajectory
    assert out["rollout/advantage_abs_mean"] == pytest.approx((10 * 0.5 + 30 * 2.0) / 40)
    assert out["teacher/prompt_tokens"] == pytest.approx((10 * 200 + 30 * 500) / 40)
    assert out["rollout/logprob_mismatch_max"] == 0.3 and out["time/rollout"] == 5.0


def test_dist_context_enabled_only_with_a_backend():
    assert not DistContext(world=2).enabled
    assert DistContext(backend="gloo").enabled
