"""The rollout engine: the one part that samples responses, behind a small Protocol.

The multi-turn runner (`sdar.rollout.runner`) talks only to a `RolloutEngine`: token ids in,
token ids (with their log-probs and finish flags) out. The trainer builds one engine at
start-up from ``rollout.engine`` and, before every rollout, hands it the current weights
(`load_weights` with `hf_weights`, Hugging Face parameter names, LoRA merged); between
rollouts it may `sleep` (vLLM frees its GPU memory for the update).

* `HFEngine` (``hf``): our KV-cache sampler (`sdar.models.generate`) on the policy's device,
  sampling from a copy of the weights cast once per update to the sampling precision
  (bfloat16 where the device does it natively), or from the policy itself in float32.
* ``vllm``: `sdar.models.vllm_engine.VLLMEngine` (GPU, optional extra ``sdar[vllm]``).

A sampler that is not the trainer's own forward pass (bf16 weights, another kernel library)
samples from a slightly different distribution than the one the trainer scores: the
`logprob_mismatch` of the sampled tokens measures it every step, and `check_logprob_gap`
stops a run whose sampler drifted (e.g. weights not synced).
"""

from __future__ import annotations

import contextlib
import copy
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Protocol, runtime_checkable

import torch

from sdar.models.generate import Generation, SamplingParams, generate
from sdar.models.load import is_peft_model

logger = logging.getLogger(__name__)

Weights = Iterable[tuple[str, torch.Tensor]]
"""``(Hugging Face parameter name, tensor)`` pairs, as `hf_weights` yields them."""


@runtime_checkable
class RolloutEngine(Protocol):
    """What the multi-turn runner needs from a sampler."""

    name: str

    def generate(
        self,
        prompts: Sequence[Sequence[int]],
        params: SamplingParams,
        *,
        generator: torch.Generator,
        seeds: Sequence[int] | None = None,
    ) -> Generation:
        """One response per prompt, in prompt order: ``ids`` (exactly the sampled ids, stop or
        eos token included), ``logprobs`` (of each sampled id under the temperature-scaled
        distribution), ``finished`` (False only when cut at ``max_new_tokens``) and ``texts``
        (decoded ids, for the env). All randomness comes from ``generator``; or, given
        ``seeds`` (one int per prompt), each prompt's randomness comes from its own seed, so
        its response does not depend on the other prompts of the call."""
        ...

    def load_weights(self, weights: Weights) -> None:
        """Take the trained weights (after each update, before the next rollout)."""
        ...

    def sleep(self) -> None:
        """Free what the sampler holds while the trainer works (a no-op where nothing is)."""
        ...


class LogprobGapError(RuntimeError):
    """The sampler's log-probs of its own samples disagree with the trainer's."""


def hf_weights(
    model: torch.nn.Module, state: dict[str, torch.Tensor] | None = None
) -> Iterator[tuple[str, torch.Tensor]]:
    """The model's weights under Hugging Face names, LoRA merged, without copying.

    A plain model yields its ``state_dict()`` items. A peft LoRA model yields the base
    model's parameters with the ``base_model.model.`` prefix and ``.base_layer`` removed, the
    adapters' ``lora_*`` tensors left out, and each adapted weight replaced by ``W + ΔW``
    (what ``merge_and_unload()`` would hold): ``get_delta_weight`` of every active adapter,
    or, given ``state`` (the model's full state dict gathered from FSDP shards, whose
    modules hold only shards), ``scaling * B @ A`` from that state's linear adapters.
    """
    if not is_peft_model(model):
        for name, tensor in (state if state is not None else model.state_dict()).items():
            yield name, tensor.detach()
        return
    from peft.tuners.lora import LoraLayer

    base = model.get_base_model()
    if state is None:
        tensors = base.state_dict()
    else:
        tensors = {k.removeprefix("base_model.model."): v for k, v in state.items()}
    deltas: dict[str, torch.Tensor] = {}
    for module_name, module in base.named_modules():
        if not isinstance(module, LoraLayer) or getattr(module, "merged", False):
            continue
        for adapter in module.active_adapters:
            if adapter not in module.lora_A:
                continue
            if state is None:
                delta = module.get_delta_weight(adapter).detach()
            else:
                a = tensors[f"{module_name}.lora_A.{adapter}.weight"].float()
                b = tensors[f"{module_name}.lora_B.{adapter}.weight"].float()
                delta = module.scaling[adapter] * (b @ a)
            key = f"{module_name}.weight"
            deltas[key] = deltas[key] + delta if key in deltas else delta
    for name, tensor in tensors.items():
        if ".lora_" in name or name.endswith(".original_module") or "lora_magnitude" in name:
            continue
        clean = name.replace(".base_layer.", ".")
        value = tensor.detach()
        if clean in deltas:
            value = value + deltas[clean].to(value.dtype)
        yield clean, value


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` runs bfloat16 matmuls natively (a CUDA GPU with bf16, or a CPU with
    AVX512-BF16/AMX, where oneDNN's bf16 kernels are several times faster than fp32)."""
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        with contextlib.suppress(AttributeError, RuntimeError):
            return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return False


def sampling_dtype(name: str, device: torch.device) -> torch.dtype:
    """``rollout.dtype`` -> the sampling precision: ``auto`` is bfloat16 where the device has
    native bf16 (`native_bf16`), else float32."""
    if name == "auto":
        return torch.bfloat16 if native_bf16(device) else torch.float32
    return {"float32": torch.float32, "bfloat16": torch.bfloat16}[name]


class HFEngine:
    """Our KV-cache sampler behind the `RolloutEngine` interface.

    With ``dtype`` float32 the engine samples from ``model`` itself (under ``autocast``, the
    trainer's compute precision) and `load_weights` has nothing to do. With another dtype
    (bfloat16) it keeps a sampling copy: built once (LoRA merged into it), and refreshed in
    place by `load_weights` from `hf_weights` (one cast-copy per update). The trainer's own
    fp32/autocast pass still scores the old log-probs; the difference is the logged
    `logprob_mismatch`. ``copy=True`` keeps a copy in every case (data-parallel runs: the
    policy gets sharded, and each process samples from its full copy).
    """

    name = "hf"

    def __init__(
        self,
        model: torch.nn.Module,
        tokenizer: object,
        *,
        dtype: torch.dtype = torch.float32,
        batch_size: int = 64,
        autocast: Callable[[], contextlib.AbstractContextManager] | None = None,
        share_prefill: bool = True,
        copy: bool = False,
    ) -> None:
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.share_prefill = share_prefill
        self.dtype = dtype
        self._autocast = autocast or contextlib.nullcontext
        master = next(model.parameters()).dtype
        if dtype == master and not is_peft_model(model) and not copy:
            self.model, self._copy = model, False
        else:
            self.model, self._copy = _sampling_copy(model, dtype), True
            self._autocast = contextlib.nullcontext  # the copy runs in its own precision
        self._params: dict[str, torch.Tensor] | None = None

    def generate(
        self,
        prompts: Sequence[Sequence[int]],
        params: SamplingParams,
        *,
        generator: torch.Generator,
        seeds: Sequence[int] | None = None,
    ) -> Generation:
        with self._autocast():
            return generate(
                self.model,
                self.tokenizer,
                [list(p) for p in prompts],
                params,
                generator=generator,
                batch_size=self.batch_size,
                share_prefill=self.share_prefill,
                seeds=seeds,
            )

    @torch.no_grad()
    def load_weights(self, weights: Weights) -> None:
        if not self._copy:
            return  # sampling from the policy itself: always current
        if self._params is None:
            self._params = dict(self.model.state_dict())
        missing = set(self._params)
        for name, tensor in weights:
            if name not in self._params:
                raise KeyError(f"HFEngine.load_weights: unknown parameter {name!r}")
            self._params[name].copy_(tensor)
            missing.discard(name)
        if missing:
            raise KeyError(f"HFEngine.load_weights: no value for {sorted(missing)[:5]}")

    def sleep(self) -> None:
        """Nothing to free: the sampling copy is small next to the trainer's state."""


def _sampling_copy(model: torch.nn.Module, dtype: torch.dtype) -> torch.nn.Module:
    """A frozen copy of ``model`` in ``dtype`` for sampling; LoRA adapters merged."""
    sampler = copy.deepcopy(model)
    if is_peft_model(sampler):
        sampler = sampler.merge_and_unload()
    sampler.to(dtype)
    sampler.eval()
    sampler.requires_grad_(False)
    return sampler


def logprob_mismatch(
    sample_logprobs: Sequence[Sequence[float]], trainer_logprobs: Sequence[torch.Tensor]
) -> tuple[float, float]:
    """``(mean, max)`` of ``|sampler log-prob - trainer log-prob|`` over every sampled token.

    ``sample_logprobs[i]`` are the sampler's log-probs of response i (`Generation.logprobs`),
    ``trainer_logprobs[i]`` the trainer's old log-probs of the same ids; both are of the
    temperature-scaled distribution. (0.0, 0.0) when there are no tokens.
    """
    total, count, worst = 0.0, 0, 0.0
    for sampled, scored in zip(sample_logprobs, trainer_logprobs, strict=True):
        if len(sampled) != len(scored):
            raise ValueError(
                f"logprob_mismatch: {len(sampled)} sampled log-probs for {len(scored)} tokens"
            )
        if not len(sampled):
            continue
        diff = (torch.tensor(sampled, dtype=torch.float64) - scored.double().cpu()).abs()
        total += float(diff.sum())
        count += diff.numel()
        worst = max(worst, float(diff.max()))
    return (total / count if count else 0.0), worst


def check_logprob_gap(mean_gap: float, threshold: float, engine: str) -> None:
    """Stop the run when the mean sampler-trainer log-prob gap exceeds ``threshold``
    (``rollout.max_logprob_gap``; 0 disables the check)."""
    if threshold > 0 and mean_gap > threshold:
        raise LogprobGapError(
            f"rollout.engine={engine}: the sampler's log-probs of its own samples differ from "
            f"the trainer's by {mean_gap:.3f} nats per token on average (limit "
            f"rollout.max_logprob_gap={threshold:g}) right after a weight sync, so the samples "
            "no longer come from the policy being trained. Likely causes: the weights did not "
            "reach the sampler (names or LoRA merge), a different temperature or top-p/top-k "
            "in the sampler's log-probs, or a precision problem. Fix the sync, sample with "
            "rollout.dtype=float32 or rollout.engine=hf, or raise the limit."
        )
