"""Seconds per GRPO training step, sdar vs TRL's ``GRPOTrainer``, on one single-turn workload.

The workload (fixed; the flags only shrink it for tests): SmolLM2-135M-Instruct in float32
on the CPU, 16 chat prompts (`PROMPTS`) x 4 completions = 64 completions of at most 32 new
tokens (both stop at eos), temperature 1, no top-p/top-k; reward = the share of the
decoded completion's characters that are letters (`letter_fraction`); GRPO advantages
within each group of 4; beta = 0 (no KL, no reference model); one optimizer update per
step over the 64 completions, in micro-batches of 32; AdamW at lr 1e-6, gradients clipped
to norm 1.

1. sdar: the project's own parts, as `sdar.train.loop.Trainer.train_step` chains them,
   minus the environment: `load_policy`, `HFEngine` sampling from the policy itself
   (float32, one seed per slot), `grpo_advantages`, `score_samples`, `update_policy`
   (method grpo, token-mean PPO-clip loss). With one update per generation batch the
   trainer leaves the old log-probs to the update's own forward, detached
   (``optim.fuse_old_logprobs``, as TRL does), so ``score`` has nothing to run; with the
   fusing off (``--no-fuse``) it is the separate no-gradient pass. Phases: ``generate``,
   ``reward`` (reward and advantages), ``score``, ``update``, ``step`` (the whole).
2. TRL: ``GRPOTrainer`` with ``GRPOConfig`` defaults except what fixes the workload:
   ``per_device_train_batch_size`` x ``gradient_accumulation_steps`` = 32 x 2,
   ``num_generations=4``, ``max_completion_length=32``, ``beta=0``, the same lr,
   ``bf16=False`` (float32), ``activation_checkpointing=False`` (TRL's default is on; sdar
   does not recompute activations), no vLLM, no logging, evaluation or saving. Its model
   is loaded by `load_policy` from the same folder (a second copy), with the same
   tokenizer. A `TrainerCallback` times each optimizer step from ``on_step_begin`` to
   ``on_step_end`` (generation, rewards, loss, backward, clipping, optimizer step);
   ``trl_s.generate`` is its ``_generate`` (tokenize, ``model.generate``, decode), timed
   by wrapping the method.
3. One process, one ``trainer.train()`` of 1 + R steps; the callback runs the sdar steps
   between TRL steps so they alternate TRL, sdar (warm-ups, dropped), then TRL, sdar,
   sdar, TRL, TRL, sdar, ... (R rounds, the order flipped every round), so a slow spell
   of a shared CPU falls on both. Reported: medians of the R timed steps and
   ``sdar_trl_step_time_ratio`` = median sdar step / median TRL step (goal <= 0.7).

    sdar bench trl [--json] [--quick] [--repeats 3] [--threads N] [--no-fuse]
                   [--model smollm2-135m] [--prompts 16] [--group 4] [--new-tokens 32]

Needs the optional extra: ``pip install 'sdar[trl]'``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from sdar import algos
from sdar.envs.base import Task
from sdar.models.engine import HFEngine, logprob_mismatch
from sdar.models.generate import SamplingParams
from sdar.models.load import load_policy
from sdar.rollout.types import PromptState, StepSample
from sdar.train.config import AlgoConfig, OptimConfig
from sdar.train.loop import timed
from sdar.train.methods import get_method
from sdar.train.policy import PolicyBundle
from sdar.train.scoring import score_samples
from sdar.train.seeding import derive_seed, make_generator
from sdar.train.update import UpdateInputs, update_policy

INSTALL_HINT = "sdar bench trl needs TRL: pip install 'sdar[trl]'"

PROMPTS = (
    "Name three fruits that are red.",
    "Describe the colour of the sky at noon.",
    "Write one sentence about a cat.",
    "What is the capital of France?",
    "Give a short tip for staying focused.",
    "Explain what a noun is.",
    "List two uses of a hammer.",
    "Say hello in a friendly way.",
    "What do bees make?",
    "Describe a rainy morning in a few words.",
    "Why do people drink water?",
    "Name a planet and one fact about it.",
    "Suggest a name for a small dog.",
    "What is the opposite of cold?",
    "Write a short greeting for a birthday card.",
    "How many legs does a spider have?",
)
PHASES = ("generate", "reward", "score", "update", "step")


def letter_fraction(text: str) -> float:
    """The reward of both sides: the share of ``text``'s characters that are letters."""
    return sum(c.isalpha() for c in text) / max(len(text), 1)


def trl_reward(completions: list, **kwargs: Any) -> list[float]:
    """`letter_fraction` as a TRL reward function (conversational completions are lists of
    messages, plain ones strings)."""
    return [letter_fraction(c if isinstance(c, str) else c[-1]["content"]) for c in completions]


def import_trl() -> tuple[Any, Any]:
    """``(trl, datasets)``, or an ImportError carrying `INSTALL_HINT`."""
    try:
        import datasets
        import trl
    except ImportError as err:
        raise ImportError(INSTALL_HINT) from err
    return trl, datasets


def chat_ids(tokenizer: Any, text: str) -> list[int]:
    """``text`` as one user turn, rendered with the chat template and a generation prompt."""
    enc = tokenizer.apply_chat_template(
        [{"role": "user", "content": text}], add_generation_prompt=True
    )
    return list(enc["input_ids"] if hasattr(enc, "keys") else enc)


@dataclass
class SdarStep:
    """One GRPO step of sdar's parts on ``prompts`` x ``group`` single-turn slots;
    calling it runs a step and returns its phase seconds (`PHASES`) and a few counts."""

    policy: PolicyBundle
    engine: HFEngine
    optimizer: torch.optim.Optimizer
    prompts: list[list[int]]
    group: int
    params: SamplingParams
    algo: AlgoConfig
    optim: OptimConfig
    seed: int = 0

    @classmethod
    def build(
        cls,
        model: Any,
        tokenizer: Any,
        texts: list[str],
        *,
        group: int = 4,
        new_tokens: int = 32,
        micro_batch: int = 32,
        lr: float = 1e-6,
        seed: int = 0,
        fuse_old: bool = True,
    ) -> SdarStep:
        """The policy, its float32 sampler, AdamW (as `Trainer._prepare` makes it) and the
        GRPO settings of the workload (beta = 0, no entropy bonus, one update per step)."""
        device = next(model.parameters()).device
        policy = PolicyBundle(model, tokenizer, device)
        engine = HFEngine(
            model, tokenizer, dtype=torch.float32, batch_size=64, autocast=policy.autocast
        )
        n = len(texts) * group
        optim = OptimConfig(
            lr=lr,
            weight_decay=0.0,
            mini_batch_size=n,
            micro_batch_size=min(micro_batch, n),
            fuse_old_logprobs=fuse_old,
        )
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(
            params, lr=optim.lr, betas=optim.betas, weight_decay=optim.weight_decay
        )
        return cls(
            policy=policy,
            engine=engine,
            optimizer=optimizer,
            prompts=[chat_ids(tokenizer, t) for t in texts],
            group=group,
            params=SamplingParams(max_new_tokens=new_tokens, temperature=1.0),
            algo=AlgoConfig(method="grpo", kl_coef=0.0, entropy_coef=0.0),
            optim=optim,
            seed=seed,
        )

    def rollout(self, step: int) -> list[StepSample]:
        """``group`` completions of every prompt, one seed per slot (as the trainer seeds
        them), scored by `letter_fraction`."""
        g = self.group
        groups = [i for i in range(len(self.prompts)) for _ in range(g)]
        seeds = [derive_seed(self.seed, step, "sample", k, j % g) for j, k in enumerate(groups)]
        gen = make_generator(derive_seed(self.seed, step, "rollout"), self.policy.device)
        self.policy.model.eval()
        out = self.engine.generate(
            [self.prompts[k] for k in groups], self.params, generator=gen, seeds=seeds
        )
        samples = []
        for j, k in enumerate(groups):
            prompt = self.prompts[k]
            samples.append(
                StepSample(
                    group=k,
                    traj=j,
                    step=0,
                    task=Task(task_id=str(k), task_type="bench"),
                    state=PromptState("", "", None, [], 0),
                    prompt_ids=prompt,
                    response_ids=out.ids[j],
                    sample_logprobs=out.logprobs[j],
                    text=out.texts[j],
                    action=out.texts[j],
                    valid=True,
                    env_reward=0.0,
                    done=True,
                )
            )
        return samples

    def __call__(self, step: int) -> dict[str, float]:
        timings: dict[str, float] = {}
        policy = self.policy
        with timed(timings, "step"):
            with timed(timings, "generate"):
                samples = self.rollout(step)
            with timed(timings, "reward"):
                for s in samples:
                    s.score = letter_fraction(s.text)
                rewards = torch.tensor([s.score for s in samples], dtype=torch.float32)
                adv = algos.grpo_advantages(
                    rewards, [s.group for s in samples], norm_by_std=self.algo.adv_norm_by_std
                )
            # As Trainer.train_step: one optimizer step per batch, so the update supplies
            # the old log-probs from its own forward (optim.fuse_old_logprobs).
            fuse = self.optim.fuse_old_logprobs and len(samples) <= self.optim.mini_batch_size
            with timed(timings, "score"):
                scores = score_samples(
                    samples,
                    policy,
                    None,  # the environment spec: only the teacher pass reads it
                    need_old=not fuse,
                    need_ref=False,
                    need_teacher=False,
                    teacher_kind="live",
                    teacher_placement="prefix",
                    teacher_max_prompt_tokens=0,
                    history_length=0,
                    think=False,
                    temperature=self.params.temperature,
                    token_budget=self.optim.score_token_budget,
                )
            with timed(timings, "update"):
                upd = update_policy(
                    policy.model,
                    self.optimizer,
                    None,
                    UpdateInputs(samples, scores, adv),
                    get_method("grpo"),
                    self.algo,
                    self.optim,
                    pad_id=policy.pad_id,
                    device=policy.device,
                    temperature=self.params.temperature,
                    generator=make_generator(derive_seed(self.seed, step, "update")),
                    autocast=policy.autocast,
                )
        mismatch, _ = logprob_mismatch([s.sample_logprobs for s in samples], scores.old)
        out = {k.split("/")[1]: v for k, v in timings.items()}
        out.update(
            completion_tokens_mean=sum(len(s.response_ids) for s in samples) / len(samples),
            reward_mean=float(rewards.mean()),
            logprob_mismatch_mean=mismatch,
            optimizer_steps=upd["actor/optimizer_steps"],
        )
        return out


def schedule(repeats: int) -> list[str]:
    """Warm-ups (TRL, sdar), then ``repeats`` rounds alternating TRL-sdar / sdar-TRL."""
    order = ["trl", "sdar"]
    for r in range(repeats):
        order += ["trl", "sdar"] if r % 2 == 0 else ["sdar", "trl"]
    return order


def make_trl_trainer(
    model: Any,
    tokenizer: Any,
    texts: list[str],
    *,
    group: int,
    new_tokens: int,
    micro_batch: int,
    lr: float,
    max_steps: int,
    seed: int,
    callbacks: list | None = None,
) -> Any:
    """``GRPOTrainer`` on ``texts`` (conversational prompts) with `GRPOConfig` defaults except
    the workload's settings (module docstring, item 2)."""
    trl, datasets = import_trl()
    from transformers import PrinterCallback

    n = len(texts) * group
    micro = min(micro_batch, n)
    if n % micro:
        raise ValueError(f"--micro-batch {micro} must divide the {n} completions of a step")
    config = trl.GRPOConfig(
        output_dir=tempfile.mkdtemp(prefix="sdar-bench-trl-"),
        per_device_train_batch_size=micro,
        gradient_accumulation_steps=n // micro,
        num_generations=group,
        max_completion_length=new_tokens,
        beta=0.0,
        learning_rate=lr,
        bf16=False,
        activation_checkpointing=False,
        max_steps=max_steps,
        logging_strategy="no",
        save_strategy="no",
        eval_strategy="no",
        report_to="none",
        disable_tqdm=True,
        seed=seed,
    )
    dataset = datasets.Dataset.from_dict(
        {"prompt": [[{"role": "user", "content": t}] for t in texts]}
    )
    trainer = trl.GRPOTrainer(
        model=model,
        reward_funcs=trl_reward,
        args=config,
        train_dataset=dataset,
        processing_class=tokenizer,
        callbacks=callbacks,
    )
    # The end-of-training summary would be printed to stdout (it is not part of a step).
    trainer.remove_callback(PrinterCallback)
    return trainer


def _median(rows: list[dict[str, float]]) -> dict[str, float]:
    return {k: statistics.median(r[k] for r in rows) for k in rows[0]}


def run(
    model_name: str = "smollm2-135m",
    *,
    n_prompts: int = 16,
    group: int = 4,
    new_tokens: int = 32,
    repeats: int = 3,
    micro_batch: int = 32,
    lr: float = 1e-6,
    seed: int = 0,
    fuse_old: bool = True,
) -> dict[str, Any]:
    """Alternate TRL and sdar steps in one process (module docstring); returns the figures."""
    trl, _ = import_trl()
    from transformers import TrainerCallback

    texts = [PROMPTS[i % len(PROMPTS)] for i in range(n_prompts)]
    model, tokenizer = load_policy(model_name, dtype="float32")
    sdar_step = SdarStep.build(
        model,
        tokenizer,
        texts,
        group=group,
        new_tokens=new_tokens,
        micro_batch=micro_batch,
        lr=lr,
        seed=seed,
        fuse_old=fuse_old,
    )
    trl_model, trl_tokenizer = load_policy(model_name, dtype="float32")
    order = schedule(repeats)
    sdar_rows: list[dict[str, float]] = []
    trl_rows: list[dict[str, float]] = []

    class Alternate(TrainerCallback):
        """Times TRL's optimizer steps and runs the sdar steps due after each."""

        def __init__(self) -> None:
            self.pos = 0  # position in `order`
            self.start = 0.0
            self.generate_s = 0.0
            self.trainer: Any = None

        def on_step_begin(self, args, state, control, **kwargs):
            self.generate_s = 0.0
            self.start = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            seconds = time.perf_counter() - self.start
            lengths = self.trainer._metrics["train"]["completions/mean_length"]
            trl_rows.append({"step": seconds, "generate": self.generate_s, "tokens": lengths[-1]})
            self.pos += 1
            while self.pos < len(order) and order[self.pos] == "sdar":
                sdar_rows.append(sdar_step(len(sdar_rows)))
                self.pos += 1

    callback = Alternate()
    trainer = make_trl_trainer(
        trl_model,
        trl_tokenizer,
        texts,
        group=group,
        new_tokens=new_tokens,
        micro_batch=micro_batch,
        lr=lr,
        max_steps=order.count("trl"),
        seed=seed,
        callbacks=[callback],
    )
    callback.trainer = trainer
    trl_generate: Callable = trainer._generate

    def timed_generate(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return trl_generate(*args, **kwargs)
        finally:
            callback.generate_s += time.perf_counter() - start

    trainer._generate = timed_generate
    load_before = os.getloadavg()[0]
    trainer.train()
    if len(trl_rows) != order.count("trl") or len(sdar_rows) != order.count("sdar"):
        raise RuntimeError(
            f"bench trl: ran {len(trl_rows)} TRL and {len(sdar_rows)} sdar steps, expected "
            f"{order.count('trl')} and {order.count('sdar')}"
        )
    ours, theirs = _median(sdar_rows[1:]), _median(trl_rows[1:])
    return {
        "model": model_name,
        "dtype": "float32",
        "device": str(sdar_step.policy.device),
        "prompts": n_prompts,
        "group": group,
        "completions": n_prompts * group,
        "max_new_tokens": new_tokens,
        "micro_batch": min(micro_batch, n_prompts * group),
        "lr": lr,
        "repeats": repeats,
        "order": order,
        "torch_threads": torch.get_num_threads(),
        "torch_version": torch.__version__,
        "trl_version": trl.__version__,
        "sdar_s": {k: ours[k] for k in PHASES},
        "trl_s": {"step": theirs["step"], "generate": theirs["generate"]},
        "sdar_step_s_all": [r["step"] for r in sdar_rows],
        "trl_step_s_all": [r["step"] for r in trl_rows],
        "sdar_trl_step_time_ratio": ours["step"] / theirs["step"],
        "sdar_trl_generate_time_ratio": ours["generate"] / theirs["generate"],
        "sdar_fused_old_logprobs": sdar_step.optim.fuse_old_logprobs,
        "sdar_completion_tokens_mean": statistics.mean(
            r["completion_tokens_mean"] for r in sdar_rows[1:]
        ),
        "trl_completion_tokens_mean": statistics.mean(r["tokens"] for r in trl_rows[1:]),
        "trl_activation_checkpointing": bool(trainer.model.is_activation_checkpointing),
        "sdar_reward_mean": statistics.mean(r["reward_mean"] for r in sdar_rows[1:]),
        "sdar_logprob_mismatch_mean": max(r["logprob_mismatch_mean"] for r in sdar_rows),
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--quick", action="store_true", help="2 timed rounds (default 3)")
    parser.add_argument("--repeats", type=int, help="timed steps of each side")
    parser.add_argument(
        "--threads", type=int, help="torch threads (1 is steadier on a busy shared box)"
    )
    parser.add_argument("--model", default="smollm2-135m", help="alias or HF folder")
    parser.add_argument("--prompts", type=int, default=16, help="prompts per step")
    parser.add_argument("--group", type=int, default=4, help="completions per prompt")
    parser.add_argument("--new-tokens", type=int, default=32, help="max new tokens")
    parser.add_argument("--micro-batch", type=int, default=32, help="completions per backward")
    parser.add_argument("--lr", type=float, default=1e-6)
    parser.add_argument(
        "--no-fuse",
        action="store_true",
        help="score the old log-probs in a separate pass (optim.fuse_old_logprobs=false)",
    )
    args = parser.parse_args()
    try:
        import_trl()
    except ImportError as err:
        print(err, file=sys.stderr)
        sys.exit(2)
    repeats = args.repeats or (2 if args.quick else 3)
    if args.threads:
        torch.set_num_threads(args.threads)
    out = run(
        args.model,
        n_prompts=args.prompts,
        group=args.group,
        new_tokens=args.new_tokens,
        repeats=repeats,
        micro_batch=args.micro_batch,
        lr=args.lr,
        fuse_old=not args.no_fuse,
    )
    if args.json:
        print(json.dumps(out, indent=2))
        return
    print(
        f"{out['model']} {out['dtype']} on {out['device']}: {out['prompts']} prompts x "
        f"{out['group']} = {out['completions']} completions of <= {out['max_new_tokens']} "
        f"tokens, {out['torch_threads']} torch threads, torch {out['torch_version']}, "
        f"TRL {out['trl_version']}, median of {repeats}, "
        f"load {out['load_before']:.2f} -> {out['load_after']:.2f}"
    )
    print(f"{'phase':<10}{'sdar s':>9}{'TRL s':>9}")
    for k, v in out["sdar_s"].items():
        t = out["trl_s"].get(k)
        print(f"{k:<10}{v:>9.2f}{'' if t is None else f'{t:>9.2f}'}")
    print(
        f"sdar/TRL step time {out['sdar_trl_step_time_ratio']:.3f} (goal <= 0.7), generation "
        f"{out['sdar_trl_generate_time_ratio']:.3f}, old log-probs "
        f"{'fused into the update' if out['sdar_fused_old_logprobs'] else 'scored apart'}; "
        f"mean completion tokens sdar "
        f"{out['sdar_completion_tokens_mean']:.1f} / TRL {out['trl_completion_tokens_mean']:.1f}"
    )


if __name__ == "__main__":
    main()
