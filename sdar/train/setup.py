"""Building a run's parts from its config: environment, skills, policy, warm start."""

from __future__ import annotations

import dataclasses
import functools
import inspect
import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from sdar.envs.base import EnvSpec, Task
from sdar.envs.registry import get_env_spec
from sdar.envs.vector import VectorEnv
from sdar.models.generate import SamplingParams
from sdar.models.load import autocast_context, load_policy, resolve_dtype
from sdar.models.tiny import build_tiny_model, build_word_tokenizer, save_tiny
from sdar.rollout.runner import RolloutSettings
from sdar.skills.bank import builtin_bank_dir, load_bank
from sdar.skills.privileged import build_privileged_text
from sdar.skills.retrieve import make_retriever, prompt_skills, step_skills
from sdar.skills.teacher_prompt import SKILL_HEADER
from sdar.train.config import Config
from sdar.train.methods import Method
from sdar.train.policy import PolicyBundle
from sdar.train.seeding import derive_seed
from sdar.train.sft import collect_expert_steps, expert_response, sft_examples, train_sft

logger = logging.getLogger(__name__)

Progress = Callable[[str, int, int, dict[str, Any]], None]

MASTER_DTYPE = "float32"
"""Trained weights, gradients and AdamW state stay fp32 (an AdamW step at lr 1e-6 is below
half a bf16 ulp for almost every weight); ``model.dtype`` is the compute precision."""


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("model.device=cuda but no CUDA device is visible; use model.device=cpu")
    return torch.device(name)


def env_parts(cfg: Config) -> tuple[EnvSpec, dict[str, Any]]:
    """The family's spec and options; a teacher shown the expert plan asks for it at reset
    (option ``expert_plan``: ALFWorld plans only on request, as some games take minutes)."""
    options = dict(cfg.env.options)
    if "expert_plan" in cfg.teacher.privileged:
        options.setdefault("expert_plan", True)
    spec = get_env_spec(cfg.env.name)
    if cfg.env.prompt == "compact":
        if "compact" not in inspect.signature(spec.prompt).parameters:
            raise ValueError(
                f"env.prompt=compact: the {spec.name} prompt has no compact form "
                "(household and alfworld have one); use env.prompt=full"
            )
        spec = dataclasses.replace(spec, prompt=functools.partial(spec.prompt, compact=True))
    return spec, options


def make_venv(cfg: Config, spec: EnvSpec, options: dict[str, Any], n: int) -> VectorEnv:
    return VectorEnv(
        spec,
        options,
        n,
        num_workers=cfg.env.num_workers,
        step_timeout=cfg.env.step_timeout,
        reset_timeout=cfg.env.reset_timeout,
    )


def rollout_settings(
    cfg: Config, spec: EnvSpec, method: Method, chat_kwargs: dict[str, Any]
) -> RolloutSettings:
    r = cfg.rollout
    sampling = SamplingParams(
        max_new_tokens=r.max_new_tokens,
        temperature=r.temperature,
        top_p=r.top_p,
        stop_strings=spec.stop_strings if r.stop == "env" else (),
    )
    return RolloutSettings(
        cfg.env.history_length,
        cfg.env.think,
        r.max_prompt_tokens,
        sampling,
        r.gen_batch_size,
        chat_kwargs,
        method.student_skills,
        student_match=student_matcher(cfg, spec),
        teacher_match=teacher_matcher(cfg, spec) if method.needs_teacher else None,
        project=spec.project_authors if cfg.env.projection == "authors" else None,
    )


def student_matcher(cfg: Config, spec: EnvSpec) -> Callable[[str], str] | None:
    """``skills.student_match=prompt``: step prompt -> the student's skill text, matched at
    every step as the authors' Skill-GRPO does; None for ``task`` (the teacher's retrieval)."""
    s = cfg.skills
    if s.student_match != "prompt":
        return None
    bank = load_bank(Path(s.dir) if s.dir else builtin_bank_dir(spec.name))
    full = s.strategy == "full"
    return lambda prompt: prompt_skills(bank, prompt, match=s.keyword_match, full=full).text


def teacher_matcher(cfg: Config, spec: EnvSpec) -> Callable[[Task, str], str] | None:
    """``skills.teacher_match=prompt``: (task, decoded step prompt) -> the teacher's skill
    text, chosen at every step as the authors' trainer does; None for ``task``."""
    s = cfg.skills
    if s.teacher_match != "prompt":
        return None
    bank = load_bank(Path(s.dir) if s.dir else builtin_bank_dir(spec.name))
    return lambda task, prompt: step_skills(bank, task, prompt, match=s.keyword_match).text


def build_retriever(cfg: Config, spec: EnvSpec, seed: int) -> Any:
    bank = None
    if cfg.skills.strategy != "none":
        bank = load_bank(Path(cfg.skills.dir) if cfg.skills.dir else builtin_bank_dir(spec.name))
    return make_retriever(
        cfg.skills.strategy,
        bank,
        seed=seed,
        ucb_c=cfg.skills.ucb_c,
        keyword_match=cfg.skills.keyword_match,
    )


class PrivilegedContext:
    """Per-group privileged text for one rollout: retrieved once per group, after reset."""

    def __init__(
        self, cfg: Config, retriever: Any, step: int, groups: list[int], active: bool = True
    ) -> None:
        self.active = active
        """False when nobody reads the text (e.g. GRPO): no retrieval, empty text."""
        self.kinds = tuple(cfg.teacher.privileged)
        self.retriever = retriever
        self.step = step
        self.groups = groups
        self.by_group: dict[int, tuple[str, tuple[str, ...]]] = {}

    def __call__(self, slot: int, task: Task, info: dict[str, Any]) -> str:
        if not self.active:
            return ""
        group = self.groups[slot]
        if group not in self.by_group:
            r = self.retriever.retrieve(task, info.get("goal", ""), step=self.step, group=group)
            text = build_privileged_text(
                self.kinds,
                retrieval_text=r.text,
                expert_plan=info.get("expert_plan"),
                gold_answers=task.extra.get("answers"),
            )
            self.by_group[group] = (text, tuple(r.skills))
        return self.by_group[group][0]


def chat_kwargs(cfg: Config) -> dict[str, Any]:
    if cfg.model.enable_thinking is None:
        return {}
    return {"enable_thinking": cfg.model.enable_thinking}


def lora_options(cfg: Config) -> dict[str, Any] | None:
    m = cfg.model
    if m.lora_rank <= 0:
        return None
    return {
        "r": m.lora_rank,
        "alpha": m.lora_alpha,
        "dropout": m.lora_dropout,
        "target_modules": list(m.lora_targets),
    }


def noop_texts(spec: EnvSpec, options: dict[str, Any]) -> list[str]:
    """What the environment answers to an impossible command (the expert never sees it)."""
    env = spec.make(options)
    try:
        env.reset(spec.train_tasks(options, 0, 1)[0])
        return [env.step("xyzzy").observation]
    finally:
        env.close()


def build_base_model(
    cfg: Config,
    spec: EnvSpec,
    options: dict[str, Any],
    run_dir: Path,
    retriever: Any,
    progress: Progress | None,
) -> tuple[Any, Any, list]:
    """Load (or build, for ``tiny``) the model, run the SFT warm start, save base_model/.

    base_model/ is written to a temporary folder and renamed into place only after the
    warm start, so it exists only when complete: a run killed during SFT redoes it on
    resume (deterministically, so the resumed run equals an uninterrupted one).

    Returns (model, tokenizer, sft_losses).
    """
    staging = run_dir / ".tmp_base_model"
    shutil.rmtree(staging, ignore_errors=True)
    seed = cfg.run.seed
    device = resolve_device(cfg.model.device)
    steps, texts = [], []
    n_expert = cfg.sft.episodes or (64 if cfg.model.name == "tiny" else 0)
    if n_expert:
        tasks = spec.train_tasks(options, derive_seed(seed, "sft"), n_expert)
        groups = list(range(len(tasks)))
        venv = make_venv(cfg, spec, options, len(tasks))
        try:
            steps, texts = collect_expert_steps(
                spec,
                venv,
                tasks,
                PrivilegedContext(cfg, retriever, -1, groups),
                history_length=cfg.env.history_length,
                noise=cfg.sft.noise,
                seed=derive_seed(seed, "sft-noise"),
                invalid_noise=cfg.sft.invalid_noise,
                search=cfg.sft.search,
            )
        finally:
            venv.close()
    if cfg.model.name == "tiny":
        corpus = texts + [expert_response(s.state.goal, s.action, cfg.env.think) for s in steps]
        corpus += [
            spec.prompt(
                goal=s.state.goal,
                observation=s.state.observation,
                admissible=s.state.admissible,
                history=s.state.history,
                step=s.state.step,
                think=cfg.env.think,
            )
            for s in steps[:2000]
        ]
        corpus += [SKILL_HEADER, expert_response("x", "y", True), *noop_texts(spec, options)]
        tokenizer = build_word_tokenizer(corpus)
        model = build_tiny_model(
            tokenizer,
            hidden_size=cfg.model.tiny_hidden,
            num_layers=cfg.model.tiny_layers,
            num_heads=cfg.model.tiny_heads,
            seed=seed,
        )
        save_tiny(model, tokenizer, staging)
        model, tokenizer = load_policy(
            str(staging), device=str(device), dtype=MASTER_DTYPE, seed=seed
        )
    else:
        model, tokenizer = load_policy(
            cfg.model.name, device=str(device), dtype=MASTER_DTYPE, seed=seed
        )
    losses: list[float] = []
    if cfg.sft.episodes and steps:
        examples = sft_examples(
            steps,
            spec,
            tokenizer,
            think=cfg.env.think,
            skill_mix=cfg.sft.skill_mix,
            placement=cfg.teacher.placement,
            max_prompt_tokens=cfg.rollout.max_prompt_tokens,
            chat_template_kwargs=chat_kwargs(cfg),
            seed=derive_seed(seed, "sft-mix"),
        )
        cb = (lambda i, n, loss: progress("sft", i, n, {"loss": loss})) if progress else None
        with autocast_context(device, resolve_dtype(cfg.model.dtype, device)):
            losses = train_sft(
                model,
                examples,
                pad_id=int(tokenizer.pad_token_id),
                device=device,
                epochs=cfg.sft.epochs,
                lr=cfg.sft.lr,
                batch_size=cfg.sft.batch_size,
                seed=derive_seed(seed, "sft-train"),
                prompt_loss=cfg.sft.prompt_loss,
                schedule=cfg.sft.schedule,
                progress=cb,
            )
    if cfg.model.name == "tiny" or losses:
        save_tiny(model, tokenizer, staging)
        shutil.rmtree(run_dir / "base_model", ignore_errors=True)  # an unfinished older one
        os.replace(staging, run_dir / "base_model")
    return model, tokenizer, losses


def base_model_path(cfg: Config, run_dir: Path) -> str:
    """Where the policy RL starts from lives: base_model/ if the run made one."""
    local = run_dir / "base_model"
    return str(local) if (local / "config.json").is_file() else cfg.model.name


def make_policy(
    cfg: Config, run_dir: Path, model: Any | None = None, tokenizer: Any | None = None
) -> PolicyBundle:
    """Wrap (or load) the starting model as the trainable policy with LoRA if configured."""
    device = resolve_device(cfg.model.device)
    lora = lora_options(cfg)
    if model is None or lora is not None:
        model, tokenizer = load_policy(
            base_model_path(cfg, run_dir),
            device=str(device),
            dtype=MASTER_DTYPE,
            lora=lora,
            gradient_checkpointing=cfg.model.gradient_checkpointing,
            seed=cfg.run.seed,
        )
    return PolicyBundle(
        model,
        tokenizer,
        device,
        compute_dtype=resolve_dtype(cfg.model.dtype, device),
        lora=lora is not None,
        ema_rate=cfg.teacher.ema_rate,
        chat_template_kwargs=chat_kwargs(cfg),
    )
