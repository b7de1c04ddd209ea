"""Name tables: contents, lookups, errors listing the valid names, public signatures."""

import inspect

import pytest

import sdar.algos as algos
from sdar.algos import (
    ADVANTAGE_ESTIMATORS,
    DIVERGENCES,
    GATES,
    KL_KINDS,
    get_advantage_estimator,
    get_divergence,
    get_gate,
    get_kl_kind,
    grpo_advantages,
    lookup,
)
from sdar.algos.registry import TABLES


def test_tables_hold_the_documented_names():
    assert set(ADVANTAGE_ESTIMATORS) == {"grpo"}
    assert set(KL_KINDS) == {"k1", "k2", "k3", "low_var_kl", "abs", "mse"}
    assert set(GATES) == {"gap", "entropy", "soft_or", "none"}
    assert set(DIVERGENCES) == {"reverse_kl", "forward_kl", "jsd"}
    assert set(TABLES["agg"]) == {"token-mean", "seq-mean-token-mean", "seq-mean-token-sum"}
    for table in TABLES.values():
        assert isinstance(table, dict)
        assert all(callable(fn) for fn in table.values())


def test_lookups_return_table_entries():
    assert get_advantage_estimator("grpo") is grpo_advantages
    assert get_kl_kind("low_var_kl") is KL_KINDS["low_var_kl"]
    assert get_gate("soft_or") is GATES["soft_or"]
    assert get_divergence("jsd") is DIVERGENCES["jsd"]
    for table_name, table in TABLES.items():
        for name, fn in table.items():
            assert lookup(table_name, name) is fn


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: get_advantage_estimator("gae"), "unknown advantage estimator 'gae'.*'grpo'"),
        (lambda: get_kl_kind("k4"), "unknown KL kind 'k4'.*'k1', 'k2', 'k3'"),
        (lambda: get_gate("sharp"), "unknown gate 'sharp'.*'entropy', 'gap', 'none', 'soft_or'"),
        (lambda: get_divergence("tvd"), "unknown divergence 'tvd'.*'forward_kl', 'jsd'"),
        (lambda: lookup("optimizer", "adam"), "unknown table_name 'optimizer'.*'gate'"),
        (lambda: lookup("kl", "k9"), "lookup: unknown kl 'k9'"),
        (lambda: lookup("gate", None), "unknown gate None"),
    ],
)
def test_unknown_names_raise_listing_valid_names(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_public_signatures():
    """Keyword names are part of the contract other packages call."""
    expected = {
        "agg_loss": ["values", "mask", "agg"],
        "grpo_advantages": ["rewards", "group_ids", "norm_by_std", "eps"],
        "ppo_clip_loss": [
            "logprobs",
            "old_logprobs",
            "advantages",
            "mask",
            "clip_low",
            "clip_high",
            "dual_clip",
            "agg",
        ],
        "kl_penalty": ["logprobs", "ref_logprobs", "kind"],
        "sdar_loss": ["logprobs", "teacher_logprobs", "mask", "beta", "gate", "entropy", "agg"],
        "distill_divergence": ["student_logits", "teacher_logits", "mask", "kind", "topk"],
        "skill_sd_loss": ["logprobs", "old_logprobs", "teacher_logprobs", "mask", "agg"],
        "rlsd_advantages": [
            "advantages",
            "teacher_logprobs",
            "old_logprobs",
            "mask",
            "lam",
            "clip",
        ],
        "rlsd_lambda": ["step", "lam0", "decay_steps"],
        "entropy_from_logits": ["logits"],
        "logprobs_from_logits": ["logits", "ids"],
    }
    for name, params in expected.items():
        assert list(inspect.signature(getattr(algos, name)).parameters) == params, name
    assert set(expected) <= set(algos.__all__)
