"""Typed, validated run configuration.

One frozen dataclass per section. `load_config` merges a YAML preset with ``key=value``
overrides, rejects unknown keys and wrong types by dotted key, runs the cross-field
checks, and reports every error at once in one `SdarConfigError`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import types
import typing
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any

import yaml


class SdarConfigError(ValueError):
    """A configuration is malformed; the message lists every problem and its fix."""


@dataclass(frozen=True)
class ModelConfig:
    name: str = "tiny"
    """Hugging Face hub name or local folder, `smollm2-135m`, or `tiny` (a small word-level
    Llama built from scratch for the environment, for CPU runs and tests)."""
    dtype: str = "auto"
    """Compute precision (torch.autocast): auto (bfloat16 on a GPU that supports it, else
    float32), float32 or bfloat16. Trained weights, gradients and optimizer state are
    always float32 (master weights), as in the authors' verl actor."""
    device: str = "auto"
    """auto (cuda if available, else cpu), cpu or cuda."""
    lora_rank: int = 0
    """0 = full fine-tuning; > 0 trains LoRA adapters (reference = adapters disabled)."""
    lora_alpha: int = 32
    lora_dropout: float = 0.0
    lora_targets: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")
    gradient_checkpointing: bool = False
    enable_thinking: bool | None = None
    """Passed to the chat template (Qwen3: false = thinking off); None passes nothing."""
    tiny_hidden: int = 64
    tiny_layers: int = 2
    tiny_heads: int = 4


@dataclass(frozen=True)
class EnvConfig:
    name: str = "household"
    """Environment family: see `sdar envs`."""
    options: dict[str, Any] = field(default_factory=dict)
    """Family options (household: preset, max_steps...; alfworld: data_dir, split...)."""
    history_length: int = 2
    """(observation, action) pairs shown in the step prompt."""
    think: bool = True
    """Ask for <think>...</think> before <action>...</action>."""
    prompt: str = "full"
    """full (the authors' step prompt) or compact (without the role sentence and the output
    instruction: for models built from scratch; household and alfworld only)."""
    projection: str = "strict"
    """Invalid-action rule: strict (also invalid: an action outside the admissible list, a
    think block after the action, kana/Hangul/full-width text; ours) or authors (only a
    missing action or think pair, or a CJK ideograph: SDAR_SPEC 1.3). docs/fidelity.md."""
    num_workers: int = 0
    """Worker processes for the environments (0 = in-process)."""
    step_timeout: float = 60.0
    """Seconds an env step may take in a worker before the worker is restarted."""
    reset_timeout: float = 120.0
    """Seconds an env reset may take in a worker; a reset that times out twice skips its
    episode (reported as a worker error) instead of stopping the run."""


@dataclass(frozen=True)
class RolloutConfig:
    tasks_per_step: int = 16
    """B: tasks drawn per training step."""
    group_size: int = 8
    """G: rollouts per task (same initial state)."""
    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 512
    max_prompt_tokens: int = 2048
    gen_batch_size: int = 64
    stop: str = "env"
    """Where a response ends: env (at the environment's stop strings, e.g. </action>, or
    EOS) or eos (only at the end-of-turn token or max_new_tokens, as the authors sample,
    so the end-of-turn token is sampled and trained)."""
    engine: str = "hf"
    """Who samples the rollouts (docs/rollout.md): hf (our KV-cache sampler, CPU or GPU) or
    vllm (colocated vLLM on the GPU, sleeping while the trainer works; pip install
    'sdar[vllm]'). Chosen once at start-up."""
    dtype: str = "auto"
    """Sampling precision: auto (bfloat16 where the device does bf16 natively: a bf16 GPU,
    or a CPU with AVX512-BF16/AMX; else float32), float32 (sample with the trained weights
    under model.dtype, the trainer's own forward) or bfloat16. A bf16 sampling copy is
    refreshed after every update; old log-probs always come from the trainer's pass."""
    max_logprob_gap: float = 0.5
    """Stop the run when the mean |sampler - trainer| log-prob of the sampled tokens (the
    logged rollout/logprob_mismatch_mean, measured right after each weight sync) exceeds
    this many nats; 0 disables the check."""
    vllm_gpu_memory_utilization: float = 0.3
    """rollout.engine=vllm: share of GPU memory vLLM may take (weights + KV cache)."""


@dataclass(frozen=True)
class AlgoConfig:
    method: str = "sdar"
    """grpo, sdar, opsd, grpo_opsd, skill_grpo, skill_sd, rlsd (train); vanilla, skill_prompt
    (evaluation only)."""
    adv_norm_by_std: bool = True
    adv_stats: str = "step"
    """step: mean/std over every step-sample of a group (the authors' code);
    trajectory: over the group's G episode rewards."""
    clip_low: float = 0.2
    clip_high: float = 0.2
    dual_clip: float = 3.0
    loss_agg_mode: str = "token-mean"
    """token-mean, seq-mean-token-mean or seq-mean-token-sum, over each whole mini-batch
    (micro-batches add their share; docs/algorithms.md)."""
    kl_coef: float = 0.01
    kl_kind: str = "low_var_kl"
    entropy_coef: float = 0.001
    sdar_coef: float = 0.01
    """lambda: weight of the distillation term (sdar, opsd, grpo_opsd)."""
    gate_beta: float = 5.0
    gate: str = "gap"
    """gap, entropy, soft_or or none."""
    divergence: str = "sampled"
    """sampled (the paper's sampled-token term), reverse_kl, forward_kl or jsd (ablations)."""
    divergence_topk: int = 32
    skill_sd_coef: float = 0.001
    rlsd_lambda0: float = 0.5
    rlsd_decay_steps: int = 100
    rlsd_clip: float = 0.2
    invalid_penalty: float | None = None
    """Subtracted per invalid step; None = the environment's default (0.1 ALFWorld)."""
    success_reward: float | None = None
    """Episode reward for a win; None = the environment's default (10)."""


@dataclass(frozen=True)
class TeacherConfig:
    kind: str = "live"
    """live (the current policy, as in the paper), frozen (the initial policy) or ema."""
    ema_rate: float = 0.99
    max_prompt_tokens: int = 4096
    """Teacher's own budget: history is shortened first, the skills never."""
    placement: str = "prefix"
    """prefix (raw text before the chat template, the authors' layout), system or user."""
    truncation: str = "history"
    """history: over max_prompt_tokens, shorten the history window, never the skills (ours);
    left: keep the last max_prompt_tokens tokens, skills cut first (the authors')."""
    privileged: tuple[str, ...] = ("skills",)
    """Any of skills, expert_plan, gold_answer."""
    prefix_cache: bool = True
    """Score the teacher's prompts on a key/value cache of their shared token prefix (the
    privileged block under placement prefix), computed once per scoring pass; the
    log-probs are the same as without it (docs/metrics.md, teacher/prefix_cached_ratio)."""


@dataclass(frozen=True)
class SkillsConfig:
    strategy: str = "keyword"
    """keyword, full, random, ucb, general_only or none."""
    dir: str | None = None
    """A SkillBank folder; None = the bank shipped for the environment."""
    ucb_c: float = 1.4142135623730951
    keyword_match: str = "word"
    """How a bank keyword matches text: word (at the start of a word, so "hat" does not fire
    on "that"; ours) or substring (anywhere, as the authors' code)."""
    student_match: str = "task"
    """Where a student that sees skills (skill_grpo, skill_prompt) gets them: task = the
    teacher's retrieval (skills.strategy), once per group (ours); prompt = keyword match over
    the whole step prompt at every step, as the authors' Skill-GRPO (docs/skills.md)."""
    teacher_match: str = "task"
    """The teacher's skills: task = retrieved once per group (skills.strategy; ours); prompt
    = chosen at every step from the decoded step prompt as the authors' trainer does (game
    path, else data source with the prompt, else keywords over the prompt)."""


@dataclass(frozen=True)
class OptimConfig:
    lr: float = 1e-6
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    warmup_ratio: float = 0.0
    mini_batch_size: int = 256
    """Samples per optimizer step (step-samples, not episodes)."""
    micro_batch_size: int = 32
    shuffle: bool = True
    """Mini-batches from a seeded permutation of the step's samples; false = contiguous
    slices in rollout order (the authors' ``shuffle=False``)."""
    pad_to: int = 0
    """> 0: pad the step's samples to a multiple of this by duplicating randomly chosen ones
    before the advantages (the authors' ``adjust_batch``, mode copy: the copies enter the
    GRPO statistics and the loss; they pad to lcm(micro-batch sizes x GPUs)). 0 = off."""
    score_token_budget: int = 16384
    """Padded tokens per no-grad scoring micro-batch."""
    fuse_old_logprobs: bool = True
    """When a step's samples fit one mini-batch (one optimizer step), take the old log-probs
    from the update's own forward, detached, instead of a separate no-grad pass (TRL does
    this with one iteration): the same values, one forward fewer. Off for models with
    dropout, whose training forward differs from the scoring one."""


@dataclass(frozen=True)
class SFTConfig:
    episodes: int = 0
    """Expert episodes for the behaviour-cloning warm start (0 = no warm start)."""
    epochs: int = 2
    lr: float = 1e-3
    batch_size: int = 32
    schedule: str = "constant"
    """Learning rate over the warm start: constant, or cosine (linear warm-up over the first
    5% of batches, then cosine decay to 10% of ``lr``)."""
    skill_mix: float = 0.5
    """Share of SFT samples whose prompt carries the privileged text, so the policy learns
    to read it and the teacher branch means something."""
    noise: float = 0.0
    """Share of expert steps replaced by a random admissible action while collecting
    (the data then covers recovery from mistakes; only expert actions are trained on)."""
    invalid_noise: float = 0.0
    """Share of steps replaced by an action that was admissible one step earlier but is not
    now (not trained on): the data then shows recovering from "Nothing happens."."""
    search: str = "oracle"
    """What the warm start clones while the target is hidden: ``oracle`` (the planner, which
    knows where everything is) or ``random`` (a random admissible ``go to`` whose type the
    goal does not name; `sdar.train.sft.search_action`), which a policy can imitate from
    its prompt."""
    prompt_loss: float = 0.0
    """Weight of a next-token loss on the prompt tokens besides the response loss (0 = off).
    For models built from scratch (``tiny``): they learn to copy names from the prompt."""


@dataclass(frozen=True)
class EvalConfig:
    episodes: int = 128
    temperature: float = 0.4
    greedy: bool = False
    every: int = 5
    """Evaluate every k training steps (and before and after training); 0 = only those two."""
    with_skills: bool | None = None
    """Also evaluate with skills in the student prompt; None = only for skill_grpo."""
    reference_agents: tuple[str, ...] = ()
    """Scripted agents (random, expert) played on the same panel at the end of the run, to
    show where the policy stands between them (summary.json ``panel_reference``). Cheap on
    the built-in worlds; on real ALFWorld the expert plans each game (minutes)."""


@dataclass(frozen=True)
class RunConfig:
    seed: int = 0
    steps: int = 150
    output: str | None = None
    """Run directory; None = runs/<preset>-<method>-<time>."""
    save_every: int = 10
    keep_trajectories: int = 16
    """Full trajectories written per step to trajectories.jsonl."""
    token_records: float = 0.0
    """Share of each step's step-samples whose per-token teacher-student gaps are written to
    token_records.jsonl for `sdar analyze` (0 = off; methods with a teacher only)."""
    logger: tuple[str, ...] = ()
    """Extra metric sinks: tensorboard and/or wandb (metrics.jsonl is always written)."""
    threads: int = 0
    """torch CPU threads (0 = torch's default)."""


@dataclass(frozen=True)
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    env: EnvConfig = field(default_factory=EnvConfig)
    rollout: RolloutConfig = field(default_factory=RolloutConfig)
    algo: AlgoConfig = field(default_factory=AlgoConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    skills: SkillsConfig = field(default_factory=SkillsConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    sft: SFTConfig = field(default_factory=SFTConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    run: RunConfig = field(default_factory=RunConfig)
    preset: str = ""
    description: str = ""


CHOICES: dict[str, tuple[str, ...]] = {
    "model.dtype": ("auto", "float32", "bfloat16"),
    "model.device": ("auto", "cpu", "cuda"),
    "algo.method": (
        "grpo",
        "sdar",
        "opsd",
        "grpo_opsd",
        "skill_grpo",
        "skill_sd",
        "rlsd",
        "vanilla",
        "skill_prompt",
    ),
    "algo.adv_stats": ("step", "trajectory"),
    "algo.loss_agg_mode": ("token-mean", "seq-mean-token-mean", "seq-mean-token-sum"),
    "algo.kl_kind": ("k1", "k2", "k3", "low_var_kl", "abs", "mse"),
    "algo.gate": ("gap", "entropy", "soft_or", "none"),
    "algo.divergence": ("sampled", "reverse_kl", "forward_kl", "jsd"),
    "teacher.kind": ("live", "frozen", "ema"),
    "teacher.placement": ("prefix", "system", "user"),
    "teacher.truncation": ("history", "left"),
    "rollout.stop": ("env", "eos"),
    "rollout.engine": ("hf", "vllm"),
    "rollout.dtype": ("auto", "float32", "bfloat16"),
    "env.projection": ("strict", "authors"),
    "env.prompt": ("full", "compact"),
    "sft.schedule": ("constant", "cosine"),
    "sft.search": ("oracle", "random"),
    "skills.strategy": ("keyword", "full", "random", "ucb", "general_only", "none"),
    "skills.keyword_match": ("word", "substring"),
    "skills.teacher_match": ("task", "prompt"),
    "skills.student_match": ("task", "prompt"),
}
MULTI_CHOICES: dict[str, tuple[str, ...]] = {
    "teacher.privileged": ("skills", "expert_plan", "gold_answer"),
    "run.logger": ("tensorboard", "wandb"),
    "eval.reference_agents": ("random", "expert"),
}


@dataclass(frozen=True)
class Range:
    """Allowed values of a numeric key: ``low``/``high`` bounds (None = unbounded), each
    inclusive unless marked open. A tuple value is checked element by element."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def __contains__(self, value: float) -> bool:
        low_ok = self.low is None or (value > self.low if self.low_open else value >= self.low)
        high_ok = self.high is None or (value < self.high if self.high_open else value <= self.high)
        return low_ok and high_ok

    def __str__(self) -> str:
        if self.high is None:
            return f"{'>' if self.low_open else '>='} {self.low:g}"
        return (
            f"in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}"
            f"{')' if self.high_open else ']'}"
        )


AT_LEAST_0, AT_LEAST_1, ABOVE_0 = Range(0), Range(1), Range(0, low_open=True)
UNIT, PROBABILITY = Range(0, 1), Range(0, 1, low_open=True)
RANGES: dict[str, Range] = {
    "model.lora_rank": AT_LEAST_0,
    "model.lora_alpha": ABOVE_0,
    "model.lora_dropout": Range(0, 1, high_open=True),
    "model.tiny_hidden": AT_LEAST_1,
    "model.tiny_layers": AT_LEAST_1,
    "model.tiny_heads": AT_LEAST_1,
    "env.history_length": AT_LEAST_0,
    "env.num_workers": AT_LEAST_0,
    "env.step_timeout": ABOVE_0,
    "env.reset_timeout": ABOVE_0,
    "rollout.tasks_per_step": AT_LEAST_1,
    "rollout.group_size": AT_LEAST_1,
    "rollout.temperature": ABOVE_0,
    "rollout.top_p": PROBABILITY,
    "rollout.max_new_tokens": AT_LEAST_1,
    "rollout.max_prompt_tokens": AT_LEAST_1,
    "rollout.gen_batch_size": AT_LEAST_1,
    "rollout.max_logprob_gap": AT_LEAST_0,
    "rollout.vllm_gpu_memory_utilization": PROBABILITY,
    "algo.clip_low": Range(0, 1, high_open=True),
    "algo.clip_high": AT_LEAST_0,
    "algo.dual_clip": Range(1, low_open=True),
    "algo.kl_coef": AT_LEAST_0,
    "algo.entropy_coef": AT_LEAST_0,
    "algo.sdar_coef": AT_LEAST_0,
    "algo.gate_beta": AT_LEAST_0,
    "algo.divergence_topk": AT_LEAST_1,
    "algo.skill_sd_coef": AT_LEAST_0,
    "algo.rlsd_lambda0": AT_LEAST_0,
    "algo.rlsd_decay_steps": AT_LEAST_1,
    "algo.rlsd_clip": AT_LEAST_0,
    "algo.invalid_penalty": AT_LEAST_0,
    "algo.success_reward": ABOVE_0,
    "teacher.ema_rate": Range(0, 1, low_open=True, high_open=True),
    "teacher.max_prompt_tokens": AT_LEAST_1,
    "skills.ucb_c": AT_LEAST_0,
    "optim.lr": ABOVE_0,
    "optim.betas": Range(0, 1, high_open=True),
    "optim.weight_decay": AT_LEAST_0,
    "optim.grad_clip": ABOVE_0,
    "optim.warmup_ratio": UNIT,
    "optim.mini_batch_size": AT_LEAST_1,
    "optim.micro_batch_size": AT_LEAST_1,
    "optim.pad_to": AT_LEAST_0,
    "optim.score_token_budget": AT_LEAST_1,
    "sft.episodes": AT_LEAST_0,
    "sft.epochs": AT_LEAST_1,
    "sft.lr": ABOVE_0,
    "sft.batch_size": AT_LEAST_1,
    "sft.skill_mix": UNIT,
    "sft.noise": UNIT,
    "sft.prompt_loss": AT_LEAST_0,
    "sft.invalid_noise": UNIT,
    "eval.episodes": AT_LEAST_1,
    "eval.temperature": ABOVE_0,
    "eval.every": AT_LEAST_0,
    "run.seed": AT_LEAST_0,
    "run.steps": AT_LEAST_0,
    "run.save_every": AT_LEAST_1,
    "run.keep_trajectories": AT_LEAST_0,
    "run.token_records": UNIT,
    "run.threads": AT_LEAST_0,
}
"""The allowed range of every numeric key (tests/train/test_config_ranges.py checks that
no numeric field is missing), checked at load time, before anything runs."""


def _check_type(value: Any, tp: Any, key: str, errors: list[str]) -> Any:
    """Coerce `value` to the annotated type `tp` or record an error; returns the value."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _check_type(value, inner[0], key, errors)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            value = [value] if isinstance(value, str) else value
        if not isinstance(value, (list, tuple)):
            errors.append(f"{key}: expected a list, got {value!r}")
            return value
        args = typing.get_args(tp)
        item_tp = args[0]
        if len(args) == 2 and args[1] is not Ellipsis and len(value) != 2:
            errors.append(f"{key}: expected 2 values, got {value!r}")
        return tuple(_check_type(v, item_tp, key, errors) for v in value)
    if origin is dict:
        if not isinstance(value, dict):
            errors.append(f"{key}: expected a mapping, got {value!r}")
        return dict(value) if isinstance(value, dict) else value
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is float and isinstance(value, str):
        try:  # YAML 1.1 reads 1e-6 (no dot) as a string
            return float(value)
        except ValueError:
            pass
    if tp in (int, float, str, bool) and not (
        isinstance(value, tp) and not (tp is not bool and isinstance(value, bool))
    ):
        errors.append(f"{key}: expected {tp.__name__}, got {value!r}")
    return value


def _build(cls: type, data: Any, prefix: str, errors: list[str]) -> Any:
    if not isinstance(data, dict):
        errors.append(f"{prefix or 'config'}: expected a mapping, got {data!r}")
        return cls()
    hints = typing.get_type_hints(cls)
    names = {f.name for f in fields(cls)}
    for key in data:
        if key not in names:
            errors.append(f"{prefix}{key}: unknown key (valid keys: {', '.join(sorted(names))})")
    kwargs = {}
    for f in fields(cls):
        if f.name not in data:
            continue
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            kwargs[f.name] = _build(tp, data[f.name], f"{prefix}{f.name}.", errors)
        else:
            kwargs[f.name] = _check_type(data[f.name], tp, f"{prefix}{f.name}", errors)
    return cls(**kwargs)


def _get(cfg: Config, key: str) -> Any:
    section, name = key.split(".")
    return getattr(getattr(cfg, section), name)


def _cross_checks(cfg: Config) -> list[str]:
    errors = []
    for key, valid in CHOICES.items():
        if _get(cfg, key) not in valid:
            errors.append(f"{key}: {_get(cfg, key)!r} is not one of {', '.join(valid)}")
    for key, valid in MULTI_CHOICES.items():
        bad = [v for v in _get(cfg, key) if v not in valid]
        if bad:
            errors.append(f"{key}: {bad} not among {', '.join(valid)}")
    a = cfg.algo
    if a.method == "grpo_opsd" and a.gate_beta != 0:
        errors.append(
            "algo.gate_beta: grpo_opsd is the SDAR term with a constant gate, so gate_beta must "
            f"be 0 (got {a.gate_beta}); use method=sdar for a gated term"
        )
    if a.divergence != "sampled" and cfg.teacher.kind != "live":
        errors.append(
            f"algo.divergence={a.divergence} scores the teacher inside the update, which needs "
            f"teacher.kind=live (got {cfg.teacher.kind!r})"
        )
    if cfg.optim.micro_batch_size > cfg.optim.mini_batch_size:
        errors.append(
            f"optim.micro_batch_size ({cfg.optim.micro_batch_size}) must be <= "
            f"optim.mini_batch_size ({cfg.optim.mini_batch_size})"
        )
    if cfg.rollout.engine == "vllm" and importlib.util.find_spec("vllm") is None:
        errors.append(
            "rollout.engine: vllm is not installed; pip install 'sdar[vllm]' (vLLM on a CUDA "
            "GPU), or use rollout.engine=hf"
        )
    if cfg.rollout.engine == "vllm" and cfg.model.device == "cpu":
        errors.append("rollout.engine: vllm runs on a CUDA GPU; use model.device=auto or cuda")
    if cfg.skills.student_match == "prompt" and cfg.skills.strategy not in ("keyword", "full"):
        errors.append(
            "skills.student_match=prompt matches keywords over the step prompt (every skill "
            "with strategy=full), so skills.strategy must be keyword or full, got "
            f"{cfg.skills.strategy!r}; use skills.student_match=task for other strategies"
        )
    if cfg.skills.teacher_match == "prompt" and (
        cfg.skills.strategy != "keyword" or tuple(cfg.teacher.privileged) != ("skills",)
    ):
        errors.append(
            "skills.teacher_match=prompt re-matches keyword skills at every step, so it needs "
            "skills.strategy=keyword and teacher.privileged=[skills] (got "
            f"{cfg.skills.strategy!r}, {list(cfg.teacher.privileged)}); use teacher_match=task"
        )
    return errors


def _range_errors(cfg: Config) -> list[str]:
    """``key: must be <range>, got <value>`` for every numeric value outside `RANGES`."""
    errors = []
    for key, allowed in RANGES.items():
        value = _get(cfg, key)
        for v in value if isinstance(value, tuple) else (value,):
            number = isinstance(v, (int, float)) and not isinstance(v, bool)
            if number and v not in allowed:  # None (a default) and mistyped values pass
                errors.append(f"{key}: must be {allowed}, got {v}")
                break
    return errors


def config_from_dict(data: dict[str, Any]) -> Config:
    """Build and validate a Config; raises SdarConfigError with one line per problem."""
    errors: list[str] = []
    cfg = _build(Config, data, "", errors)
    errors += _range_errors(cfg)
    # A mistyped value (already reported) may break a cross-field comparison.
    with contextlib.suppress(TypeError):
        errors += [e for e in _cross_checks(cfg) if e.split(":")[0] not in " ".join(errors)]
    if errors:
        raise SdarConfigError("\n".join(errors))
    return cfg


def config_to_dict(cfg: Config) -> dict[str, Any]:
    """Plain, YAML-friendly dict (tuples become lists)."""

    def plain(v: Any) -> Any:
        if isinstance(v, tuple):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v

    return {k: plain(v) for k, v in dataclasses.asdict(cfg).items()}


def parse_overrides(overrides: list[str]) -> dict[str, Any]:
    """``["algo.method=grpo", "env.options.preset=tiny"]`` -> a nested dict."""
    nested: dict[str, Any] = {}
    for item in overrides:
        if "=" not in item:
            raise SdarConfigError(f"override {item!r}: expected key=value, e.g. algo.method=grpo")
        key, raw = item.split("=", 1)
        value = yaml.safe_load(raw) if raw != "" else ""
        node = nested
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise SdarConfigError(f"override {item!r}: {part} is not a section")
        node[parts[-1]] = value
    return nested


def merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in update.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict) and k != "options":
            out[k] = merge(out[k], v)
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = {**out[k], **v}
        else:
            out[k] = v
    return out


def presets_dir() -> Path:
    """The presets shipped inside the package (``sdar/presets/*.yaml``, package data)."""
    return Path(str(resources.files("sdar") / "presets"))


def list_presets() -> list[tuple[str, str]]:
    out = []
    for path in sorted(presets_dir().glob("*.yaml")):
        data = yaml.safe_load(path.read_text()) or {}
        out.append((path.stem, str(data.get("description", ""))))
    return out


def read_preset(name_or_path: str, _children: tuple[str, ...] = ()) -> dict[str, Any]:
    """A preset's mapping. A preset may start from another with ``base: NAME`` (a preset
    name, or a YAML path relative to this file) and change only what differs."""
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = presets_dir() / f"{name_or_path}.yaml"
    if not path.is_file():
        names = ", ".join(n for n, _ in list_presets())
        raise SdarConfigError(f"preset {name_or_path!r} not found (available: {names})")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise SdarConfigError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise SdarConfigError(f"{path}: expected a mapping at the top level")
    base = data.pop("base", None)
    if base is not None:
        if not isinstance(base, str) or not base:
            raise SdarConfigError(f"{path}: base: expected a preset name, got {base!r}")
        if base.endswith((".yaml", ".yml")):
            base = str(path.parent / base)
        if Path(base).stem in (*_children, path.stem):
            chain = " -> ".join((*_children, path.stem, Path(base).stem))
            raise SdarConfigError(f"{path}: base: presets inherit in a loop ({chain})")
        parent = read_preset(base, (*_children, path.stem))
        parent.pop("preset", None)
        data = merge(parent, data)
    data.setdefault("preset", path.stem)
    return data


def load_config(preset: str = "quickstart", overrides: list[str] | None = None) -> Config:
    """Preset (a name from `sdar presets` or a YAML path) + ``key=value`` overrides -> Config."""
    data = merge(read_preset(preset), parse_overrides(overrides or []))
    return config_from_dict(data)
