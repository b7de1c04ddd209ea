"""Peak memory and seconds of one paper-preset SDAR step (scoring + actor update) of a
full-size model, at chosen prompt and response lengths.

The weights are random (only the architecture matters for memory and time, and paper-size
checkpoints cannot be shipped); the model is built directly on the device with fp32 master
weights, bf16 compute and gradient checkpointing, as `sdar train` holds it. The batch is
synthetic: ``--samples`` step-samples with ``--prompt-tokens`` prompt ids and
``--response-tokens`` response ids each, a step prompt and the preset's skill bank text for
the teacher. The real code paths run: `sdar.train.scoring.score_samples` (old, reference
and teacher log-probs, the teacher context built and truncated as the preset says) and
`sdar.train.update.update_policy` (mini-batches of ``optim.mini_batch_size``, accumulated
micro-batches of ``optim.micro_batch_size``). The rollout is not included: its memory is the
sampling copy plus the KV cache (docs/rollout.md).

Reports the static memory (weights, gradients, AdamW state, bf16 reference), the peak
allocated during scoring and during the update, and seconds per phase. A micro-batch that
does not fit is reported as ``oom`` (then try a smaller ``optim.micro_batch_size=``).

    sdar bench memory --arch qwen2.5-3b [--samples 64] [--prompt-tokens 2048]
                      [--response-tokens 512] [--preset alfworld-qwen2.5-3b] [key=value ...]
"""

from __future__ import annotations

import argparse
import json
import random
import time
from typing import Any

import torch

from sdar.envs.base import Task
from sdar.envs.registry import get_env_spec
from sdar.rollout.types import PromptState, StepSample
from sdar.skills.bank import builtin_bank_dir, load_bank
from sdar.skills.retrieve import make_retriever
from sdar.train.config import load_config
from sdar.train.methods import get_method
from sdar.train.policy import PolicyBundle
from sdar.train.scoring import score_for_config
from sdar.train.update import UpdateInputs, update_policy

# Architecture hyper-parameters of the public configs (config.json of each hub model).
ARCHS: dict[str, dict[str, Any]] = {
    "qwen2.5-3b": dict(
        model_type="qwen2",
        hidden_size=2048,
        intermediate_size=11008,
        num_hidden_layers=36,
        num_attention_heads=16,
        num_key_value_heads=2,
        vocab_size=151936,
        tie_word_embeddings=True,
        rope_theta=1e6,
        max_position_embeddings=32768,
    ),
    "qwen2.5-0.5b": dict(
        model_type="qwen2",
        hidden_size=896,
        intermediate_size=4864,
        num_hidden_layers=24,
        num_attention_heads=14,
        num_key_value_heads=2,
        vocab_size=151936,
        tie_word_embeddings=True,
        rope_theta=1e6,
        max_position_embeddings=32768,
    ),
    "qwen2.5-7b": dict(
        model_type="qwen2",
        hidden_size=3584,
        intermediate_size=18944,
        num_hidden_layers=28,
        num_attention_heads=28,
        num_key_value_heads=4,
        vocab_size=152064,
        tie_word_embeddings=False,
        rope_theta=1e6,
        max_position_embeddings=32768,
    ),
    "qwen3-1.7b": dict(
        model_type="qwen3",
        hidden_size=2048,
        intermediate_size=6144,
        num_hidden_layers=28,
        num_attention_heads=16,
        num_key_value_heads=8,
        head_dim=128,
        vocab_size=151936,
        tie_word_embeddings=True,
        rope_theta=1e6,
        max_position_embeddings=40960,
    ),
    "smollm2-135m": dict(
        model_type="llama",
        hidden_size=576,
        intermediate_size=1536,
        num_hidden_layers=30,
        num_attention_heads=9,
        num_key_value_heads=3,
        vocab_size=49152,
        tie_word_embeddings=True,
        rope_theta=1e5,
        max_position_embeddings=8192,
    ),
}

_WORDS = [
    "go",
    "to",
    "the",
    "cabinet",
    "drawer",
    "countertop",
    "take",
    "mug",
    "apple",
    "from",
    "put",
    "in",
    "on",
    "open",
    "close",
]


def build_model(arch: str, device: torch.device) -> torch.nn.Module:
    from transformers import AutoConfig, AutoModelForCausalLM

    params = dict(ARCHS[arch])
    config = AutoConfig.for_model(params.pop("model_type"), **params)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    kwargs = {"use_reentrant": False}
    if hasattr(model, "activation_checkpointing_enable"):
        model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
    return model


def save_random_model(arch: str, tokenizer_dir: str, out: str, seed: int = 0) -> None:
    """A Hugging Face folder with ``arch``'s shape, random weights and the tokenizer of
    ``tokenizer_dir`` (its ids must fit the vocabulary): a stand-in for a checkpoint that
    cannot be downloaded, for memory and speed measurements."""
    import shutil
    from pathlib import Path

    torch.manual_seed(seed)
    model = build_model(arch, torch.device("cpu"))
    model.save_pretrained(out)
    for f in Path(tokenizer_dir).iterdir():
        if f.name.startswith(("tokenizer", "special_tokens", "chat_template")):
            shutil.copy(f, Path(out) / f.name)


def synthetic_samples(
    n: int, prompt_tokens: int, response_tokens: int, vocab: int, skills: str, seed: int
) -> list[StepSample]:
    rng = random.Random(seed)
    words = prompt_tokens // 2  # the word-level tokenizer: ~1 id per word, half for history
    out = []
    for i in range(n):
        obs = " ".join(rng.choice(_WORDS) for _ in range(words // 3))
        history = [(obs, "go to cabinet 1"), (obs, "open cabinet 1")]
        task = Task(task_id=f"t{i // 8}", task_type="pick_and_place_simple")
        out.append(
            StepSample(
                group=i // 8,
                traj=i,
                step=2,
                task=task,
                state=PromptState("put a mug in cabinet.", obs, None, history, 2),
                prompt_ids=[rng.randrange(10, vocab) for _ in range(prompt_tokens)],
                response_ids=[rng.randrange(10, vocab) for _ in range(response_tokens)],
                sample_logprobs=[-1.0] * response_tokens,
                text="",
                action="look",
                valid=True,
                env_reward=0.0,
                done=False,
                privileged=skills,
                score=float(rng.choice([0.0, 10.0])),
            )
        )
    return out


def gib(n: int) -> float:
    return round(n / 2**30, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", choices=sorted(ARCHS), default="qwen2.5-3b")
    parser.add_argument("--preset", default="alfworld-qwen2.5-3b")
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--prompt-tokens", type=int, default=2048)
    parser.add_argument("--response-tokens", type=int, default=512)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--save-random-model",
        nargs=2,
        metavar=("TOKENIZER_DIR", "OUT"),
        help="only write a random-weight HF folder of --arch with that tokenizer, then exit",
    )
    parser.add_argument("overrides", nargs="*", help="e.g. optim.micro_batch_size=8")
    args = parser.parse_args()
    if args.save_random_model:
        save_random_model(args.arch, *args.save_random_model)
        return
    device = torch.device(args.device)
    cfg = load_config(args.preset, args.overrides)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    from sdar.models.tiny import build_word_tokenizer

    tokenizer = build_word_tokenizer([" ".join(_WORDS)])
    skills = (
        make_retriever("keyword", load_bank(builtin_bank_dir("alfworld")))
        .retrieve(Task(task_id="t", task_type="pick_and_place_simple"), "")
        .text
    )
    t0 = time.perf_counter()
    model = build_model(args.arch, device)
    policy = PolicyBundle(model, tokenizer, device, compute_dtype=torch.bfloat16)
    optimizer = torch.optim.AdamW(
        model.parameters(),
        lr=cfg.optim.lr,
        betas=tuple(cfg.optim.betas),
        weight_decay=cfg.optim.weight_decay,
    )
    vocab = ARCHS[args.arch]["vocab_size"]
    samples = synthetic_samples(
        args.samples, args.prompt_tokens, args.response_tokens, vocab, skills, cfg.run.seed
    )
    report: dict[str, Any] = {
        "arch": args.arch,
        "parameters_b": round(sum(p.numel() for p in model.parameters()) / 1e9, 3),
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "samples": args.samples,
        "prompt_tokens": args.prompt_tokens,
        "response_tokens": args.response_tokens,
        "micro_batch_size": cfg.optim.micro_batch_size,
        "mini_batch_size": cfg.optim.mini_batch_size,
        "build_s": round(time.perf_counter() - t0, 1),
    }
    method = get_method(cfg.algo.method)

    def peak() -> int:
        if device.type != "cuda":
            return 0
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device)

    try:
        t0 = time.perf_counter()
        scores = score_for_config(
            samples, policy, get_env_spec("household"), cfg, method.needs_teacher
        )
        report["score_s"] = round(time.perf_counter() - t0, 1)
        report["teacher_prompt_tokens"] = scores.metrics.get("teacher/prompt_tokens")
        report["peak_after_scoring_gib"] = gib(peak())
        adv = torch.tensor([1.0 if s.score > 0 else -1.0 for s in samples])
        gen = torch.Generator(device=device).manual_seed(0)
        t0 = time.perf_counter()
        metrics = update_policy(
            model,
            optimizer,
            None,
            UpdateInputs(samples, scores, adv),
            method,
            cfg.algo,
            cfg.optim,
            pad_id=policy.pad_id,
            device=device,
            temperature=cfg.rollout.temperature,
            generator=gen,
            autocast=policy.autocast,
        )
        report["update_s"] = round(time.perf_counter() - t0, 1)
        report["peak_gib"] = gib(peak())
        report["grad_norm"] = round(metrics["actor/grad_norm"], 4)
    except torch.OutOfMemoryError as err:
        report["oom"] = str(err).splitlines()[0][:200]
        report["peak_gib"] = gib(peak())
    static = sum(p.numel() for p in model.parameters()) * 16
    report["static_fp32_weights_grads_adam_gib"] = gib(static)
    if policy.reference is not None:
        report["reference_gib"] = gib(sum(p.numel() * 2 for p in policy.reference.parameters()))
    if args.json:
        print(json.dumps(report))
    else:
        for k, v in report.items():
            print(f"{k:<36} {v}")


if __name__ == "__main__":
    main()
