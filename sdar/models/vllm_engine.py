"""The ``vllm`` rollout engine: vLLM colocated with the trainer on the same GPU.

Install with ``pip install 'sdar[vllm]'`` (the pinned version is `VLLM_VERSION`). The engine
lives in the trainer's process (``distributed_executor_backend="external_launcher"``, so the
model runner is reachable in-process), samples from token-id prompts, and follows the
trainer's step:

1. `load_weights`: wake the weights up, load the trained tensors (Hugging Face names, LoRA
   merged: `sdar.models.engine.hf_weights`) through the model's own ``load_weights``, and
   drop the prefix cache (it holds keys/values of the old weights);
2. `generate`: wake the KV cache up; one request per prompt (``TokensPrompt``), each with
   its own seed (the caller's per-prompt seed reduced by `vllm_seed`, else drawn from the
   caller's generator), ``logprobs=0`` (the sampled token's log-prob, after temperature:
   ``logprobs_mode="processed_logprobs"``);
3. `sleep`: level 1 (weights to CPU memory, KV cache freed) while the trainer scores and
   updates.

Only the import and the construction need vLLM; the rest is plain Python over its outputs.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

import torch

from sdar.models.engine import Weights
from sdar.models.generate import Generation, SamplingParams

logger = logging.getLogger(__name__)

VLLM_VERSION = "0.33.0"
INSTALL_HINT = (
    f"rollout.engine=vllm needs vLLM {VLLM_VERSION} on a CUDA GPU: "
    "pip install 'sdar[vllm]' (or use rollout.engine=hf, which needs nothing extra)"
)


def import_vllm() -> Any:
    """The ``vllm`` module, or an ImportError that says how to install it."""
    try:
        import vllm
    except ImportError as err:
        raise ImportError(INSTALL_HINT) from err
    return vllm


class VLLMEngine:
    """`RolloutEngine` over a colocated ``vllm.LLM`` (one GPU, tensor parallel 1)."""

    name = "vllm"

    def __init__(
        self,
        model_path: str,
        tokenizer: Any,
        *,
        gpu_memory_utilization: float = 0.3,
        max_model_len: int | None = None,
        dtype: str = "bfloat16",
        seed: int = 0,
        eos_ids: Sequence[int] = (),
    ) -> None:
        vllm = import_vllm()
        if not torch.cuda.is_available():
            raise ValueError("rollout.engine=vllm needs a CUDA GPU; use rollout.engine=hf")
        self._vllm = vllm
        self.tokenizer = tokenizer
        self.eos_ids = list(eos_ids)
        for key, value in (("RANK", "0"), ("LOCAL_RANK", "0"), ("WORLD_SIZE", "1")):
            os.environ.setdefault(key, value)
        os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
        os.environ.setdefault("MASTER_PORT", str(29500 + os.getpid() % 1000))
        self.llm = vllm.LLM(
            model=model_path,
            tokenizer=model_path,
            dtype=dtype,
            gpu_memory_utilization=gpu_memory_utilization,
            max_model_len=max_model_len,
            enable_sleep_mode=True,
            distributed_executor_backend="external_launcher",
            seed=seed,
            logprobs_mode="processed_logprobs",
        )
        self._asleep: set[str] = set()

    # -- lifecycle ----------------------------------------------------------------------
    def _wake(self, tag: str) -> None:
        if tag in self._asleep:
            self.llm.wake_up(tags=[tag])
            self._asleep.discard(tag)

    def sleep(self) -> None:
        if not self._asleep:
            self.llm.sleep(level=1)
            self._asleep = {"weights", "kv_cache"}

    def _runner_model(self) -> Any:
        """The vLLM model object in this process (its ``load_weights`` takes HF names)."""
        worker = self.llm.llm_engine.model_executor.driver_worker
        runner = getattr(worker, "model_runner", None) or worker.worker.model_runner
        return runner.model

    @torch.no_grad()
    def load_weights(self, weights: Weights) -> None:
        self._wake("weights")
        model = self._runner_model()
        device = next(model.parameters()).device
        model.load_weights((name, t.to(device, non_blocking=True)) for name, t in weights)
        torch.cuda.synchronize()
        self.llm.reset_prefix_cache()

    # -- sampling ---------------------------------------------------------------------------
    def generate(
        self,
        prompts: Sequence[Sequence[int]],
        params: SamplingParams,
        *,
        generator: torch.Generator,
        seeds: Sequence[int] | None = None,
    ) -> Generation:
        self._wake("weights")
        self._wake("kv_cache")
        vllm = self._vllm
        if seeds is None:
            drawn = torch.randint(
                VLLM_SEED_RANGE, (len(prompts),), generator=generator, device=generator.device
            ).tolist()
        elif len(seeds) != len(prompts):
            raise ValueError(f"VLLMEngine.generate: {len(seeds)} seeds for {len(prompts)} prompts")
        else:
            drawn = [vllm_seed(s) for s in seeds]
        requests = [{"prompt_token_ids": list(p)} for p in prompts]  # vllm.inputs.TokensPrompt
        sampling = [
            vllm.SamplingParams(**vllm_sampling_kwargs(params, int(s), self.eos_ids)) for s in drawn
        ]
        outputs = self.llm.generate(requests, sampling, use_tqdm=False)
        return generation_from_outputs(outputs, self.tokenizer)


VLLM_SEED_RANGE = 2**31 - 1
"""Per-request vLLM seeds are kept in ``[0, VLLM_SEED_RANGE)``."""


def vllm_seed(seed: int) -> int:
    """A caller's per-prompt seed (any Python int) as a per-request vLLM seed."""
    return int(seed) % VLLM_SEED_RANGE


def vllm_sampling_kwargs(params: SamplingParams, seed: int, eos_ids: Sequence[int]) -> dict:
    """Our `SamplingParams` as vLLM ``SamplingParams`` keyword arguments.

    The stop string stays in the output (as in the hf engine), eos ids stop a row, one
    response per request, and the sampled token's log-prob comes back (``logprobs=0``).
    Greedy is temperature 0 in vLLM; its log-probs are then those of the unscaled
    distribution, as ours are at temperature 1.
    """
    return {
        "n": 1,
        "max_tokens": params.max_new_tokens,
        "temperature": 0.0 if params.greedy else params.temperature,
        "top_p": params.top_p,
        "top_k": params.top_k if params.top_k > 0 else -1,
        "stop": list(params.stop_strings) or None,
        "stop_token_ids": list(eos_ids) or None,
        "include_stop_str_in_output": True,
        "logprobs": 0,
        "seed": seed,
    }


def generation_from_outputs(outputs: Sequence[Any], tokenizer: Any) -> Generation:
    """vLLM ``RequestOutput`` list -> `Generation` (ids, log-probs of the sampled ids,
    finished unless cut by length, texts decoded from the ids as the hf engine does)."""
    ids, logprobs, finished = [], [], []
    for out in outputs:
        completion = out.outputs[0]
        token_ids = list(completion.token_ids)
        ids.append(token_ids)
        logprobs.append(
            [
                float(step[tok].logprob)
                for tok, step in zip(token_ids, completion.logprobs, strict=True)
            ]
        )
        finished.append(completion.finish_reason != "length")
    return Generation(
        ids=ids,
        logprobs=logprobs,
        finished=finished,
        texts=tokenizer.batch_decode(ids, skip_special_tokens=True),
    )
