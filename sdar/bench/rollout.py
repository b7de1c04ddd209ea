"""Question: how many useful tokens per second does our rollout engine sample, against
Hugging Face ``model.generate`` on the same multi-turn prompts?

Setup (one process): SmolLM2-135M-Instruct (``smollm2-135m``, fp32 master weights as the
trainer holds them), the household environment, 16 tasks x 4 rollouts (GRPO groups). One
multi-turn rollout is played with our engine (`sdar.models.engine.HFEngine`) through the
real runner, and every turn's batch of 64 prompts is recorded. Then each sampler samples
those same turn batches, in repeated alternating runs:

* ``ours``: the ``hf`` engine as a run builds it (``rollout.dtype=auto``: a bf16 sampling
  copy where the CPU does bf16 natively; the shared prefix and the group's identical
  first-turn prompts prefilled once);
* ``hf_generate``: ``model.generate`` on the fp32 model (left-padded batch, the same
  temperature, the env's stop strings via ``stop_strings``, eos);
* (full run only) ablations: ours in fp32, ours bf16 without shared prefill, ours with fp32
  weights under bf16 autocast.

Useful tokens are the sampled tokens up to and including the one that ends a response
(stop string or eos); HF's padding after a finished row is not counted. Reports medians,
``speedup_vs_hf_generate`` (median ours / median HF tokens/s) and the load average.

    sdar bench rollout [--json] [--quick] [--threads N]   # run it with nice on a shared box
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from typing import Any

import torch

from sdar.envs.registry import get_env_spec
from sdar.envs.vector import VectorEnv
from sdar.models.engine import HFEngine, sampling_dtype
from sdar.models.generate import SamplingParams, eos_token_ids
from sdar.models.load import autocast_context, load_policy
from sdar.rollout.runner import RolloutSettings, run_episodes


class _Recorder:
    """Wraps an engine and keeps every turn's prompt batch."""

    def __init__(self, inner: HFEngine) -> None:
        self.inner, self.name, self.turns = inner, "recorder", []

    def generate(self, prompts, params, *, generator):
        self.turns.append([list(p) for p in prompts])
        return self.inner.generate(prompts, params, generator=generator)

    def load_weights(self, weights) -> None:
        self.inner.load_weights(weights)

    def sleep(self) -> None:
        self.inner.sleep()


def record_turns(engine, tokenizer, args) -> tuple[list[list[list[int]]], SamplingParams]:
    spec = get_env_spec("household")
    options = {"max_steps": args.turns}
    tasks = spec.train_tasks(options, 0, args.tasks)
    slots = [t for t in tasks for _ in range(args.group)]
    groups = [i for i in range(len(tasks)) for _ in range(args.group)]
    params = SamplingParams(
        max_new_tokens=args.max_new_tokens,
        temperature=1.0,
        stop_strings=spec.stop_strings,
    )
    settings = RolloutSettings(args.history, args.think, 2048, params)
    recorder = _Recorder(engine)
    venv = VectorEnv(spec, options, len(slots))
    try:
        run_episodes(
            recorder,
            tokenizer,
            venv,
            spec,
            slots,
            groups,
            lambda *a: "",
            settings,
            torch.Generator(device=next(engine.model.parameters()).device).manual_seed(0),
        )
    finally:
        venv.close()
    return recorder.turns, params


def _useful(row: list[int], ends: set[int]) -> int:
    """Tokens up to and including the first eos/pad (a pad right after a stop string is
    counted too: one token in HF's favour)."""
    for i, tok in enumerate(row):
        if tok in ends:
            return i + 1
    return len(row)


def time_engine(engine, turns, params, seed: int) -> tuple[int, float]:
    device = next(engine.model.parameters()).device
    gen = torch.Generator(device=device).manual_seed(seed)
    start = time.perf_counter()
    n = 0
    for prompts in turns:
        out = engine.generate(prompts, params, generator=gen)
        n += sum(len(ids) for ids in out.ids)
    _sync(device)
    return n, time.perf_counter() - start


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_hf_generate(model, tokenizer, turns, params, seed: int) -> tuple[int, float]:
    ends = set(eos_token_ids(model, tokenizer)) | {tokenizer.pad_token_id}
    torch.manual_seed(seed)  # HF generate samples from the global RNG
    start = time.perf_counter()
    n = 0
    for prompts in turns:
        enc = tokenizer.pad({"input_ids": prompts}, return_tensors="pt", padding_side="left")
        enc = enc.to(model.device)
        with torch.inference_mode():
            out = model.generate(
                **enc,
                do_sample=True,
                temperature=params.temperature,
                top_p=1.0,
                top_k=0,
                max_new_tokens=params.max_new_tokens,
                stop_strings=list(params.stop_strings) or None,
                tokenizer=tokenizer,
                pad_token_id=tokenizer.pad_token_id,
            )
        new = out[:, enc["input_ids"].shape[1] :].tolist()
        n += sum(_useful(row, ends) for row in new)
    _sync(model.device)
    return n, time.perf_counter() - start


class _Autocast(HFEngine):
    """Ours with the fp32 weights under bf16 autocast (the alternative to a bf16 copy)."""

    def __init__(self, model, tokenizer) -> None:
        super().__init__(
            model,
            tokenizer,
            dtype=torch.float32,
            autocast=lambda: autocast_context(model.device, torch.bfloat16),
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--quick", action="store_true", help="fewer turns/repeats (< 5 min)")
    parser.add_argument("--tasks", type=int, default=16)
    parser.add_argument("--group", type=int, default=4)
    parser.add_argument("--turns", type=int, default=None, help="turns per episode")
    parser.add_argument("--max-new-tokens", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per sampler")
    parser.add_argument("--history", type=int, default=None, help="history pairs (2; quick 1)")
    parser.add_argument("--think", action="store_true", help="ask for <think> (longer)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (0: torch's default); 1 because on a busy 2-core machine two "
        "threads stall on every op (a 10x slowdown measured here)",
    )
    args = parser.parse_args()
    args.turns = args.turns or (2 if args.quick else 3)
    args.max_new_tokens = args.max_new_tokens or (16 if args.quick else 32)
    args.repeats = args.repeats or (2 if args.quick else 3)
    args.history = args.history if args.history is not None else (1 if args.quick else 2)
    if args.threads:
        torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    device = torch.device(args.device)
    model, tokenizer = load_policy("smollm2-135m", device=str(device), dtype="float32")
    dtype = sampling_dtype("auto", device)
    ours = HFEngine(model, tokenizer, dtype=dtype)
    start = time.perf_counter()
    turns, params = record_turns(ours, tokenizer, args)
    print(
        f"# recorded {len(turns)} turns in {time.perf_counter() - start:.1f} s",
        file=sys.stderr,
        flush=True,
    )
    samplers: dict[str, Any] = {
        "ours": lambda s: time_engine(ours, turns, params, s),
        "hf_generate": lambda s: time_hf_generate(model, tokenizer, turns, params, s),
    }
    if not args.quick:
        fp32 = HFEngine(model, tokenizer, dtype=torch.float32)
        unshared = HFEngine(model, tokenizer, dtype=dtype, share_prefill=False)
        autocast = _Autocast(model, tokenizer)
        samplers["ours_fp32"] = lambda s: time_engine(fp32, turns, params, s)
        samplers["ours_no_shared_prefill"] = lambda s: time_engine(unshared, turns, params, s)
        samplers["ours_fp32_bf16_autocast"] = lambda s: time_engine(autocast, turns, params, s)
    warm = [turns[0][:4]]
    time_engine(ours, warm, params, 0)
    time_hf_generate(model, tokenizer, warm, params, 0)
    runs: dict[str, list[tuple[int, float]]] = {k: [] for k in samplers}
    loads = []
    for r in range(args.repeats):  # alternate: the machine is shared
        for name, run in samplers.items():
            runs[name].append(run(r))
            loads.append(os.getloadavg()[0])
            n, t = runs[name][-1]
            print(f"# run {r} {name}: {n} tokens in {t:.1f} s", file=sys.stderr, flush=True)
    rates = {k: [n / t for n, t in v] for k, v in runs.items()}
    med = {k: statistics.median(v) for k, v in rates.items()}
    result = {
        "model": "smollm2-135m",
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "sampling_dtype": str(dtype).replace("torch.", ""),
        "episodes": args.tasks * args.group,
        "turns": len(turns),
        "prompt_tokens_mean": statistics.mean(len(p) for t in turns for p in t),
        "max_new_tokens": args.max_new_tokens,
        "repeats": args.repeats,
        "threads": torch.get_num_threads(),
        "tokens_per_s": {k: round(v, 1) for k, v in med.items()},
        "tokens_per_s_runs": {k: [round(x, 1) for x in v] for k, v in rates.items()},
        "useful_tokens": {k: [n for n, _ in v] for k, v in runs.items()},
        "seconds": {k: [round(t, 1) for _, t in v] for k, v in runs.items()},
        "speedup_vs_hf_generate": round(med["ours"] / med["hf_generate"], 2),
        "speedup_runs": [
            round(a / b, 2) for a, b in zip(rates["ours"], rates["hf_generate"], strict=True)
        ],
        "load_avg_before": [round(x, 1) for x in load_before],
        "load_avg_during_median": round(statistics.median(loads), 1),
    }
    for name in ("ours_fp32", "ours_no_shared_prefill", "ours_fp32_bf16_autocast"):
        if name in med:
            result[f"speedup_ours_vs_{name}"] = round(med["ours"] / med[name], 2)
    if args.json:
        print(json.dumps(result))
        return
    print(
        f"SmolLM2-135M, household {args.tasks} tasks x {args.group}, {len(turns)} turns, "
        f"{result['prompt_tokens_mean']:.0f} prompt tokens on average, "
        f"{torch.get_num_threads()} threads, load {result['load_avg_during_median']}"
    )
    for name, rate in med.items():
        print(f"  {name:<26} {rate:8.1f} useful tok/s  (runs: {rates[name]})")
    print(f"  speedup_vs_hf_generate     {result['speedup_vs_hf_generate']:.2f}")


if __name__ == "__main__":
    main()
