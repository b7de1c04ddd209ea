import pytest

from sdar.train.config import (
    SdarConfigError,
    config_from_dict,
    list_presets,
    load_config,
    parse_overrides,
)
from sdar.train.methods import METHODS

PAPER = ["alfworld-qwen2.5-3b", "alfworld-qwen2.5-7b", "alfworld-qwen3-1.7b"]


@pytest.mark.parametrize("name", [n for n, _ in list_presets()])
def test_every_preset_loads(name):
    cfg = load_config(name)
    assert cfg.preset == name
    assert cfg.description


def test_required_presets_exist():
    names = {n for n, _ in list_presets()}
    assert {"quickstart", "tiny", "household-smollm2-cpu", "alfworld-tiny-cpu", *PAPER} <= names


@pytest.mark.parametrize("preset", PAPER)
@pytest.mark.parametrize("method", [m for m, spec in METHODS.items() if spec.trains])
def test_paper_recipes_accept_every_method(preset, method):
    extra = ["algo.gate_beta=0"] if method == "grpo_opsd" else []
    cfg = load_config(preset, [f"algo.method={method}", *extra])
    assert cfg.optim.lr == 1e-6 and cfg.rollout.group_size == 8 and cfg.rollout.tasks_per_step == 16
    assert cfg.algo.kl_coef == 0.01 and cfg.algo.sdar_coef == 0.01 and cfg.algo.gate_beta in (0, 5)
    assert cfg.eval.temperature == 0.4 and cfg.run.steps == 150


def test_overrides_are_typed_and_nested():
    cfg = load_config("tiny", ["algo.method=grpo", "optim.lr=0.5", "env.options.max_steps=3"])
    assert cfg.algo.method == "grpo" and cfg.optim.lr == 0.5
    assert cfg.env.options["max_steps"] == 3 and cfg.env.options["preset"] == "tiny"
    assert parse_overrides(["a.b.c=[1, 2]"]) == {"a": {"b": {"c": [1, 2]}}}


def test_every_error_is_reported_by_dotted_key():
    with pytest.raises(SdarConfigError) as err:
        config_from_dict(
            {"algo": {"clip_low": "high", "bogus": 1}, "optim": {"lr": "fast"}, "nope": {}}
        )
    text = str(err.value)
    assert "algo.clip_low: expected float, got 'high'" in text
    assert "algo.bogus: unknown key" in text
    assert "optim.lr: expected float" in text
    assert "nope: unknown key" in text


def test_cross_field_checks_state_the_fix():
    with pytest.raises(SdarConfigError, match="gate_beta must be 0"):
        load_config("tiny", ["algo.method=grpo_opsd"])
    with pytest.raises(SdarConfigError, match="algo.method: 'ppo' is not one of"):
        load_config("tiny", ["algo.method=ppo"])
    with pytest.raises(SdarConfigError, match="micro_batch_size"):
        load_config("tiny", ["optim.micro_batch_size=64", "optim.mini_batch_size=8"])
    with pytest.raises(SdarConfigError, match="dual_clip: must be > 1"):
        load_config("tiny", ["algo.dual_clip=0.5"])


def test_unknown_preset_lists_the_available_ones():
    with pytest.raises(SdarConfigError, match="available: .*quickstart"):
        load_config("no-such-preset")


def test_malformed_override():
    with pytest.raises(SdarConfigError, match="expected key=value"):
        load_config("tiny", ["algo.method"])


def test_exponent_without_dot_is_a_float():
    cfg = load_config("tiny", ["optim.lr=3e-3"])
    assert cfg.optim.lr == 0.003


ALL_PAPER = [n for n, _ in list_presets() if "-qwen" in n]


@pytest.mark.parametrize("preset", ALL_PAPER)
def test_paper_presets_use_the_authors_choices(preset):
    """Issue 12 points 4-8: what the authors' code does, in every paper preset."""
    cfg = load_config(preset)
    assert cfg.env.projection == "authors"  # SDAR_SPEC 1.3 invalid-action rule
    assert cfg.teacher.truncation == "left"  # last max_prompt_length tokens
    assert cfg.teacher.max_prompt_tokens == cfg.rollout.max_prompt_tokens
    assert cfg.rollout.stop == "eos" and cfg.rollout.max_new_tokens == 512
    assert cfg.skills.student_match == "prompt" and cfg.skills.keyword_match == "substring"
    assert cfg.skills.teacher_match == "prompt"
    assert not cfg.optim.shuffle and cfg.optim.pad_to > 0
    assert cfg.algo.loss_agg_mode == "token-mean" and cfg.model.dtype == "auto"


def test_a_preset_can_start_from_another(tmp_path):
    (tmp_path / "parent.yaml").write_text(
        "description: parent\nmodel: {name: tiny, tiny_hidden: 32}\noptim: {lr: 0.5}\n"
    )
    (tmp_path / "child.yaml").write_text(
        "description: child\nbase: parent.yaml\nmodel: {tiny_hidden: 48}\n"
    )
    cfg = load_config(str(tmp_path / "child.yaml"))
    assert cfg.preset == "child" and cfg.description == "child"
    assert cfg.model.name == "tiny" and cfg.model.tiny_hidden == 48 and cfg.optim.lr == 0.5
    (tmp_path / "a.yaml").write_text("base: b.yaml\n")
    (tmp_path / "b.yaml").write_text("base: a.yaml\n")
    with pytest.raises(SdarConfigError, match="loop"):
        load_config(str(tmp_path / "a.yaml"))
    (tmp_path / "c.yaml").write_text("base: 3\n")
    with pytest.raises(SdarConfigError, match="base"):
        load_config(str(tmp_path / "c.yaml"))
