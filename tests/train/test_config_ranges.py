"""Every numeric config key has a declared range, checked at load time (issue 16, point 4)."""

from __future__ import annotations

import dataclasses
import typing

import pytest

from sdar.train.config import RANGES, Config, SdarConfigError, load_config

NUMERIC = (int, float)


def numeric_keys() -> list[str]:
    """Dotted keys of every int/float field (optional or a tuple of numbers too)."""
    keys = []
    for section, cls in typing.get_type_hints(Config).items():
        if not dataclasses.is_dataclass(cls):
            continue
        for name, tp in typing.get_type_hints(cls).items():
            args = set(typing.get_args(tp)) - {type(None), Ellipsis}
            if tp in NUMERIC or (args and args <= set(NUMERIC)):
                keys.append(f"{section}.{name}")
    return keys


def test_every_numeric_field_of_every_section_has_a_range():
    keys = numeric_keys()
    assert "run.save_every" in keys and "optim.betas" in keys and "algo.invalid_penalty" in keys
    assert sorted(set(keys) - set(RANGES)) == []
    assert sorted(set(RANGES) - set(keys)) == []  # no stale entries


def test_defaults_are_inside_their_ranges():
    cfg = Config()
    for key, allowed in RANGES.items():
        section, name = key.split(".")
        value = getattr(getattr(cfg, section), name)
        for v in value if isinstance(value, tuple) else (value,):
            assert v is None or v in allowed, (key, v, allowed)


@pytest.mark.parametrize(
    "override, message",
    [
        ("run.save_every=0", "run.save_every: must be >= 1, got 0"),
        ("sft.batch_size=0", "sft.batch_size: must be >= 1, got 0"),
        ("run.steps=-3", "run.steps: must be >= 0, got -3"),
        ("sft.epochs=-1", "sft.epochs: must be >= 1, got -1"),
        ("rollout.temperature=0", "rollout.temperature: must be > 0, got 0.0"),
        ("rollout.top_p=0", "rollout.top_p: must be in (0, 1], got 0.0"),
        ("optim.betas=[0.9,1.0]", "optim.betas: must be in [0, 1), got 1.0"),
        ("algo.invalid_penalty=-1", "algo.invalid_penalty: must be >= 0, got -1.0"),
    ],
)
def test_out_of_range_values_name_key_value_and_range(override, message):
    with pytest.raises(SdarConfigError) as err:
        load_config("tiny", [override])
    assert str(err.value).splitlines() == [message]


def test_boundaries_and_none_are_accepted():
    cfg = load_config("tiny", ["run.steps=0", "rollout.top_p=1", "algo.invalid_penalty=null"])
    assert cfg.run.steps == 0 and cfg.rollout.top_p == 1.0 and cfg.algo.invalid_penalty is None


def test_several_errors_one_line_each():
    with pytest.raises(SdarConfigError) as err:
        load_config("tiny", ["run.save_every=0", "sft.epochs=-1", "algo.method=ppo"])
    lines = str(err.value).splitlines()
    assert len(lines) == 3 and all(line.split(":")[0].count(".") == 1 for line in lines)
