"""Question: is sdar's token-in/token-out sampler as fast as Hugging Face `model.generate`?

Both sample the same prompts (batch 64, temperature 1.0, no early stop: eos disabled for ours,
``min_new_tokens = max_new_tokens`` for HF) in one process, after one warm-up each, under
``torch.inference_mode()``. Prints sampled tokens per second and the ratio ours / HF.

    sdar bench generate_speed                   # tiny llama + SmolLM2-135M (fp32)
    sdar bench generate_speed --models tiny     # just the tiny model
    sdar bench generate_speed --dtype bfloat16  # SmolLM2 in bf16
    sdar bench generate_speed --threads 1       # on a shared 2-core CPU
"""

from __future__ import annotations

import argparse
import time

import torch

from sdar.models.generate import SamplingParams, generate
from sdar.models.load import load_policy
from sdar.models.tiny import build_tiny_model, build_word_tokenizer

WORDS = "you are in a room go to cabinet open drawer take apple from put it on the table look"


def _prompts(tokenizer, n: int) -> list[list[int]]:
    """``n`` chat prompts of varied length (so left padding is exercised)."""
    words = WORDS.split()
    prompts = []
    for i in range(n):
        text = " ".join(words[j % len(words)] for j in range(5 + (i * 7) % 23))
        messages = [{"role": "user", "content": f"Task {i}: {text}"}]
        enc = tokenizer.apply_chat_template(messages, add_generation_prompt=True)
        prompts.append(list(enc["input_ids"] if hasattr(enc, "keys") else enc))
    return prompts


def _time_ours(model, tokenizer, prompts, new_tokens: int, batch: int) -> tuple[int, float]:
    params = SamplingParams(max_new_tokens=new_tokens)
    gen = torch.Generator().manual_seed(0)
    start = time.perf_counter()
    out = generate(model, tokenizer, prompts, params, generator=gen, batch_size=batch, eos_ids=())
    return sum(len(ids) for ids in out.ids), time.perf_counter() - start


def _time_hf(model, tokenizer, prompts, new_tokens: int) -> tuple[int, float]:
    enc = tokenizer.pad({"input_ids": prompts}, return_tensors="pt", padding_side="left")
    torch.manual_seed(0)  # HF generate samples from the global RNG
    start = time.perf_counter()
    with torch.inference_mode():
        out = model.generate(
            **enc,
            do_sample=True,
            temperature=1.0,
            top_p=1.0,
            top_k=0,
            max_new_tokens=new_tokens,
            min_new_tokens=new_tokens,
            pad_token_id=tokenizer.pad_token_id,
        )
    return (out.shape[1] - enc["input_ids"].shape[1]) * out.shape[0], time.perf_counter() - start


def bench(name: str, model, tokenizer, new_tokens: int, batch: int, repeats: int) -> None:
    """Warm up both samplers, then time ``repeats`` runs each and print the best tokens/s."""
    prompts = _prompts(tokenizer, batch)
    _time_ours(model, tokenizer, prompts[:8], 4, batch)
    _time_hf(model, tokenizer, prompts[:8], 4)
    runs_ours, runs_hf = [], []
    for _ in range(repeats):  # alternate, keep the best of each: the CPU may be shared
        runs_ours.append(_time_ours(model, tokenizer, prompts, new_tokens, batch))
        runs_hf.append(_time_hf(model, tokenizer, prompts, new_tokens))
    n_ours, t_ours = min(runs_ours, key=lambda r: r[1])
    n_hf, t_hf = min(runs_hf, key=lambda r: r[1])
    ours, hf = n_ours / t_ours, n_hf / t_hf
    print(
        f"{name:<28} batch {batch} x {new_tokens} new tokens: "
        f"ours {ours:8.0f} tok/s ({t_ours:5.1f} s)  HF generate {hf:8.0f} tok/s ({t_hf:5.1f} s)  "
        f"ratio {ours / hf:4.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="tiny,smollm2", help="comma list: tiny, smollm2")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--tiny-tokens", type=int, default=128)
    parser.add_argument("--smollm2-tokens", type=int, default=32)
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per sampler")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}")
    models = args.models.split(",")
    if "tiny" in models:
        tokenizer = build_word_tokenizer([WORDS, "Task 0 1 2 3 4 5 6 7 8 9 :"])
        model = build_tiny_model(tokenizer).to(args.device)
        bench(
            "tiny llama (h64, 2 layers)",
            model,
            tokenizer,
            args.tiny_tokens,
            args.batch,
            args.repeats,
        )
    if "smollm2" in models:
        model, tokenizer = load_policy("smollm2-135m", device=args.device, dtype=args.dtype)
        bench(
            f"SmolLM2-135M ({args.dtype})",
            model,
            tokenizer,
            args.smollm2_tokens,
            args.batch,
            args.repeats,
        )


if __name__ == "__main__":
    main()
