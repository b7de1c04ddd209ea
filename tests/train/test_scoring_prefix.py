"""The teacher pass with the prefix cache equals the pass without it, on real contexts."""

from __future__ import annotations

import torch

from sdar.train.scoring import score_samples
from tests.train.test_loop import one_step


def test_teacher_prefix_cache_gives_the_same_logprobs(tmp_path):
    trainer, _, trajs = one_step(tmp_path, "sdar")
    samples = [s for t in trajs for s in t.samples]
    for placement in ("prefix", "system"):
        check_placement(trainer, samples, placement)


def check_placement(trainer, samples, placement: str) -> None:
    kw = dict(
        need_ref=False,
        need_teacher=True,
        teacher_kind="live",
        teacher_placement=placement,
        teacher_max_prompt_tokens=4096,
        history_length=1,
        think=False,
        temperature=1.0,
        token_budget=2048,
    )
    cached = score_samples(samples, trainer.policy, trainer.spec, teacher_prefix_cache=True, **kw)
    plain = score_samples(samples, trainer.policy, trainer.spec, teacher_prefix_cache=False, **kw)
    for a, b in zip(cached.teacher, plain.teacher, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
    assert cached.metrics["teacher/prefix_cached_ratio"] > 0.2
    assert plain.metrics["teacher/prefix_cached_ratio"] == 0.0
