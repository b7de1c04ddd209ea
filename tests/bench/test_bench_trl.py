"""`sdar bench trl`: the sdar step on a tiny model, the missing-TRL message, and the whole
alternating bench (a tiny model by default; SmolLM2 with the smallest settings, slow)."""

from __future__ import annotations

import importlib.util
import json
import sys

import pytest
import torch

from sdar.bench import trl as bench_trl
from sdar.cli import main as cli_main
from sdar.models.tiny import build_tiny_model, build_word_tokenizer, save_tiny

needs_trl = pytest.mark.skipif(
    importlib.util.find_spec("trl") is None, reason="TRL is not installed: pip install 'sdar[trl]'"
)
SMALLEST = ["--prompts", "2", "--group", "2", "--new-tokens", "4", "--repeats", "1"]


@pytest.fixture(autouse=True)
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def word_tokenizer():
    return build_word_tokenizer(list(bench_trl.PROMPTS))


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory, word_tokenizer):
    model = build_tiny_model(word_tokenizer, arch="llama", seed=0)
    return save_tiny(model, word_tokenizer, tmp_path_factory.mktemp("tiny-llama"))


def _json_of(argv: list[str], monkeypatch, capsys) -> dict:
    monkeypatch.setattr(sys, "argv", ["sdar bench trl", *argv])
    bench_trl.main()
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("fuse_old", [True, False])
def test_sdar_step_times_its_phases_and_updates_the_weights(word_tokenizer, fuse_old):
    model = build_tiny_model(word_tokenizer, arch="llama", seed=0)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    texts = list(bench_trl.PROMPTS[:4])
    step = bench_trl.SdarStep.build(
        model,
        word_tokenizer,
        texts,
        group=4,
        new_tokens=6,
        micro_batch=8,
        lr=1e-3,
        fuse_old=fuse_old,
    )
    out = step(0)
    for key in bench_trl.PHASES:
        assert isinstance(out[key], float) and out[key] > 0, key
    assert out["step"] >= out["generate"] + out["reward"] + out["score"] + out["update"]
    assert out["optimizer_steps"] == 1.0
    assert 0 < out["completion_tokens_mean"] <= 6
    assert out["logprob_mismatch_mean"] < 1e-4  # the sampler is the trained model itself
    changed = [n for n, p in model.named_parameters() if not torch.equal(p, before[n])]
    assert changed, "one update changed no weight"


def test_schedule_alternates_after_one_warm_up_each():
    assert bench_trl.schedule(3) == ["trl", "sdar"] + ["trl", "sdar", "sdar", "trl"] + [
        "trl",
        "sdar",
    ]


def test_reward_is_the_same_for_text_and_chat_completions():
    assert bench_trl.letter_fraction("ab 1") == 0.5
    assert bench_trl.letter_fraction("") == 0.0
    chat = [[{"role": "assistant", "content": "ab 1"}], "abc"]
    assert bench_trl.trl_reward(chat) == [0.5, 1.0]


def test_missing_trl_is_one_clean_line(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "trl", None)  # `import trl` raises ImportError
    monkeypatch.setattr(sys, "argv", ["sdar bench trl", "--json"])
    with pytest.raises(SystemExit) as exc:
        bench_trl.main()
    assert exc.value.code == 2
    out, err = capsys.readouterr()
    assert out == "" and err.strip() == bench_trl.INSTALL_HINT
    # the same through the CLI (the module runs as __main__), without a traceback
    monkeypatch.delitem(sys.modules, "sdar.bench.trl")  # as in a fresh `sdar bench trl`
    with pytest.raises(SystemExit) as exc:
        cli_main(["bench", "trl", "--json"])
    assert exc.value.code == 2
    out, err = capsys.readouterr()
    assert out == "" and err.strip() == bench_trl.INSTALL_HINT


def _check(out: dict, repeats: int) -> None:
    assert out["order"] == bench_trl.schedule(repeats)
    assert len(out["sdar_step_s_all"]) == len(out["trl_step_s_all"]) == repeats + 1
    assert set(out["sdar_s"]) == set(bench_trl.PHASES)
    for key in ("sdar_trl_step_time_ratio", "sdar_trl_generate_time_ratio", "load_before"):
        assert out[key] > 0, key
    assert out["trl_s"]["step"] > out["trl_s"]["generate"] > 0
    assert out["trl_completion_tokens_mean"] > 0 and out["sdar_completion_tokens_mean"] > 0
    assert out["trl_activation_checkpointing"] is False


@needs_trl
@pytest.mark.parametrize("flags", [[], ["--no-fuse"]])
def test_bench_trl_json_on_a_tiny_model(tiny_dir, monkeypatch, capsys, flags):
    out = _json_of(["--json", "--model", str(tiny_dir), *SMALLEST, *flags], monkeypatch, capsys)
    _check(out, repeats=1)
    assert out["micro_batch"] == 4
    assert out["sdar_fused_old_logprobs"] is (not flags)


@needs_trl
@pytest.mark.slow
def test_bench_trl_json_smollm2_smallest(monkeypatch, capsys):
    out = _json_of(["--json", "--micro-batch", "2", *SMALLEST], monkeypatch, capsys)
    _check(out, repeats=1)
    assert out["model"] == "smollm2-135m" and out["micro_batch"] == 2
