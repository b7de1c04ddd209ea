"""Model resolution, policy loading, LoRA and the reference policy."""

from __future__ import annotations

import json

import pytest
import torch

from sdar.models.generate import SamplingParams, generate
from sdar.models.load import (
    ModelNotFoundError,
    frozen_copy,
    load_policy,
    reference_context,
    resolve_model,
)
from sdar.models.logprobs import score
from tests.models.conftest import chat_prompts


def _logits(model, ids: list[int]) -> torch.Tensor:
    with torch.no_grad():
        return model(torch.tensor([ids])).logits


def test_local_folder_loads_fp32_left_padded(tiny_dir):
    assert resolve_model(str(tiny_dir)) == tiny_dir
    model, tok = load_policy(str(tiny_dir))
    assert next(model.parameters()).dtype == torch.float32
    assert tok.padding_side == "left" and tok.pad_token_id is not None
    assert tok.chat_template and not model.training
    # the custom word-level tokenizer survives the round trip (not rebuilt as byte-level BPE)
    assert tok.convert_ids_to_tokens(tok.encode("go to cabinet 1")) == ["go", "to", "cabinet", "1"]


def test_missing_model_raises_clear_error(tmp_path):
    with pytest.raises(ModelNotFoundError, match="not available offline") as err:
        resolve_model("no-such-org/no-such-model-123", cache_dir=tmp_path)
    assert "smollm2-135m" in str(err.value) and "download" in str(err.value)
    assert isinstance(err.value, ValueError)
    with pytest.raises(ModelNotFoundError, match="not available offline"):
        load_policy(str(tmp_path / "missing-folder"))


def test_missing_chat_template_is_an_error(tmp_path, tiny_dir):
    for f in tiny_dir.iterdir():
        (tmp_path / f.name).write_bytes(f.read_bytes())
    (tmp_path / "chat_template.jinja").unlink()
    config = json.loads((tmp_path / "tokenizer_config.json").read_text())
    config.pop("chat_template", None)
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="no chat template.*chat_template"):
        load_policy(str(tmp_path))


def test_bad_dtype_and_lora_keys(tiny_dir):
    with pytest.raises(ValueError, match="dtype"):
        load_policy(str(tiny_dir), dtype="float8")
    with pytest.raises(ValueError, match="unknown keys \\['rank'\\]"):
        load_policy(str(tiny_dir), lora={"rank": 4})


def test_lora_reference_is_base_model_and_only_adapters_train(tiny_dir):
    base, tok = load_policy(str(tiny_dir))
    policy, _ = load_policy(str(tiny_dir), lora={"r": 4, "alpha": 8}, seed=1)
    trainable = [name for name, p in policy.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in name for name in trainable)
    with torch.no_grad():  # move the adapters away from their no-op initialisation
        for name, p in policy.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5, generator=torch.Generator().manual_seed(0))
    ids = chat_prompts(tok, 1)[0]
    assert not torch.allclose(_logits(policy, ids), _logits(base, ids), atol=1e-4)
    with reference_context(policy) as ref:
        torch.testing.assert_close(_logits(ref, ids), _logits(base, ids), atol=1e-6, rtol=0)
    assert not torch.allclose(_logits(policy, ids), _logits(base, ids), atol=1e-4)


def test_lora_policy_generates_and_scores(tiny_dir):
    policy, tok = load_policy(str(tiny_dir), lora={"r": 4})
    prompts = chat_prompts(tok, 3)
    gen = torch.Generator().manual_seed(0)
    out = generate(policy, tok, prompts, SamplingParams(max_new_tokens=5), generator=gen)
    scored, _ = score(policy, prompts, out.ids, pad_id=tok.pad_token_id)
    for lp, sampled in zip(scored, out.logprobs, strict=True):
        torch.testing.assert_close(lp, torch.tensor(sampled), atol=1e-4, rtol=0)


def test_lora_init_is_seeded(tiny_dir):
    a, _ = load_policy(str(tiny_dir), lora={"r": 4}, seed=5)
    b, _ = load_policy(str(tiny_dir), lora={"r": 4}, seed=5)
    for (name, pa), pb in zip(a.named_parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb), name


def test_full_finetune_reference_is_a_frozen_copy(tiny_dir):
    policy, tok = load_policy(str(tiny_dir), gradient_checkpointing=True)
    with pytest.raises(ValueError, match="frozen_copy"), reference_context(policy):
        pass
    ref = frozen_copy(policy)
    assert not any(p.requires_grad for p in ref.parameters())
    assert all(p.requires_grad for p in policy.parameters())
    ids = chat_prompts(tok, 1)[0]
    torch.testing.assert_close(_logits(ref, ids), _logits(policy, ids))
