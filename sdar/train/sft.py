"""Behaviour cloning on expert trajectories, to warm-start small policies (`sdar sft`).

The expert (the household world's planner, ALFWorld's walkthrough) plays; every expert
step becomes one (step prompt -> "<think>..</think><action>a</action>") example. A share
``skill_mix`` of the examples carry the privileged text in the teacher's layout, so the
policy learns to read skills and the teacher branch means something. With ``noise`` > 0
some steps take a random admissible action instead: those steps are not trained on, but
the states after them are, so the data covers recovering from mistakes.

``search="random"`` makes the demonstrations imitable by a policy that sees only its
prompt. The planner knows where every object is, so its ``go to X`` towards a hidden
object looks arbitrary from the prompt, and a small policy cloning it learns a prior over
receptacle names instead of copying one from the admissible list (it then goes where it
already is, or to a receptacle the room lacks). With ``"random"`` such a step becomes a
random admissible ``go to`` whose receptacle type the goal does not name, and that action
is trained on: the target says "search anywhere you may go, except where the goal puts
things". A ``go to`` whose type the goal names (the destination) is kept.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from sdar import algos
from sdar.envs.base import EnvSpec, Task
from sdar.envs.vector import VectorEnv
from sdar.models.logprobs import collate, logprobs_of_logits, response_logprobs
from sdar.rollout.runner import render_messages
from sdar.rollout.teacher import build_teacher_context, student_prompt_ids
from sdar.rollout.types import PromptState


@dataclass(frozen=True)
class ExpertStep:
    task: Task
    state: PromptState
    action: str
    privileged: str


def expert_response(goal: str, action: str, think: bool) -> str:
    """The target text for one expert step.

    An action that is already a tag block (Search-QA's ``<search>q</search>``) is the
    response itself, and the think text names only its tag, so the response holds
    exactly one block.
    """
    tagged = re.fullmatch(r"<(\w+)>.*</\1>", action, re.DOTALL)
    block = action if tagged else f"<action>{action}</action>"
    if not think:
        return block
    aim = goal.strip().rstrip(".").lower() or "finish the task"
    step = tagged.group(1) if tagged else action
    return f"<think>To {aim}, the next step is to {step}.</think>{block}"


SEARCH_MODES = ("oracle", "random")


def goal_names_type(goal: str, receptacle: str) -> bool:
    """Whether ``goal`` names the type of ``receptacle`` (``"drawer 2"`` -> ``drawer``).

    >>> goal_names_type("put some alarmclock on dresser.", "dresser 1")
    True
    >>> goal_names_type("put some alarmclock on dresser.", "desk 1")
    False
    """
    kind = receptacle.rsplit(" ", 1)[0].strip().lower()
    return bool(kind) and re.search(rf"\b{re.escape(kind)}\b", goal.lower()) is not None


def search_action(goal: str, expert: str, admissible: list[str] | None, rng: random.Random) -> str:
    """``expert`` unless it is a ``go to`` the prompt cannot explain (see the module doc):
    then a random admissible ``go to`` to a receptacle type the goal does not name."""
    if not expert.startswith("go to ") or goal_names_type(goal, expert[len("go to ") :]):
        return expert
    options = [
        a
        for a in admissible or ()
        if a.startswith("go to ") and not goal_names_type(goal, a[len("go to ") :])
    ]
    return rng.choice(options) if options else expert


def collect_expert_steps(
    spec: EnvSpec,
    venv: VectorEnv,
    tasks: list[Task],
    privileged: Callable[[int, Task, dict[str, Any]], str],
    *,
    history_length: int,
    noise: float,
    seed: int,
    invalid_noise: float = 0.0,
    search: str = "oracle",
) -> tuple[list[ExpertStep], list[str]]:
    """Play ``tasks`` (one per slot) with the expert; returns the steps and every text seen.

    ``invalid_noise``: share of steps that instead take an action that was admissible one
    step earlier but is not now (going to where the agent already is, taking what it
    already holds): the mistakes small policies make. Not trained on; the states after
    them are (the env's "Nothing happens."), so the policy learns to recover.
    ``search``: ``"oracle"`` clones the planner as is; ``"random"`` replaces its
    unexplained ``go to`` steps (`search_action`).
    """
    if search not in SEARCH_MODES:
        raise ValueError(f"search={search!r}: expected one of {SEARCH_MODES}")
    rng = random.Random(seed)
    resets = venv.reset(tasks)
    goals = [info.get("goal", "") for _, info in resets]
    obs = [o for o, _ in resets]
    adm = [info.get("admissible_actions") for _, info in resets]
    texts = [
        privileged(i, t, info) for i, (t, (_, info)) in enumerate(zip(tasks, resets, strict=True))
    ]
    history: list[list[tuple[str, str]]] = [[] for _ in tasks]
    prev_adm: list[list[str]] = [[] for _ in tasks]
    # A reset skipped after timing out twice (``worker_error``) has no game to learn from.
    done = ["worker_error" in info for _, info in resets]
    steps: list[ExpertStep] = []
    seen: list[str] = [t for t in texts if t]
    turn = 0
    while not all(done):
        experts = venv.expert_actions()
        actions: list[str | None] = [None] * len(tasks)
        for i in range(len(tasks)):
            if done[i]:
                continue
            window = history[i][-history_length:] if history_length else []
            state = PromptState(goals[i], obs[i], adm[i], window, turn)
            expert = experts[i] or "look"
            if search == "random":
                expert = search_action(goals[i], expert, adm[i], rng)
            stale = [a for a in prev_adm[i] if a not in (adm[i] or ())]
            if invalid_noise > 0 and stale and rng.random() < invalid_noise:
                actions[i] = rng.choice(stale)
            elif noise > 0 and adm[i] and rng.random() < noise:
                actions[i] = rng.choice(adm[i])
            else:
                actions[i] = expert
                steps.append(ExpertStep(tasks[i], state, expert, texts[i]))
            seen.append(obs[i])
        for i, res in enumerate(venv.step(actions)):
            if res is None:
                continue
            history[i].append((obs[i], actions[i]))
            prev_adm[i] = adm[i] or []
            obs[i], adm[i] = res.observation, res.info.get("admissible_actions")
            done[i] = res.done
            if adm[i]:
                seen.append(" ".join(adm[i]))
        turn += 1
    return steps, seen


def sft_examples(
    steps: list[ExpertStep],
    spec: EnvSpec,
    tokenizer: Any,
    *,
    think: bool,
    skill_mix: float,
    placement: str,
    max_prompt_tokens: int,
    chat_template_kwargs: dict[str, Any],
    seed: int,
) -> list[tuple[list[int], list[int]]]:
    """(prompt ids, response ids) pairs; ``skill_mix`` of them with the privileged text."""
    rng = random.Random(seed)
    out = []
    for s in steps:
        response = tokenizer.encode(
            expert_response(s.state.goal, s.action, think), add_special_tokens=False
        )
        if s.privileged and rng.random() < skill_mix:
            ctx = build_teacher_context(
                tokenizer,
                lambda k, st=s.state: render_messages(spec, st, k, think),
                len(s.state.history),
                s.privileged,
                response,
                placement=placement,
                max_prompt_tokens=max_prompt_tokens,
                chat_template_kwargs=chat_template_kwargs,
            )
            if not ctx.dropped:
                out.append((ctx.prompt_ids, response))
                continue
        messages = render_messages(spec, s.state, len(s.state.history), think)
        prompt = student_prompt_ids(tokenizer, messages, chat_template_kwargs)
        out.append((prompt[-max_prompt_tokens:], response))
    return out


def train_sft(
    model: Any,
    examples: list[tuple[list[int], list[int]]],
    *,
    pad_id: int,
    device: torch.device,
    epochs: int,
    lr: float,
    batch_size: int,
    seed: int,
    prompt_loss: float = 0.0,
    schedule: str = "constant",
    progress: Callable[[int, int, float], None] | None = None,
) -> list[float]:
    """Cross-entropy on the response tokens; returns the loss of every batch.

    ``prompt_loss`` > 0 adds next-token cross-entropy on the prompt tokens with that
    weight (mean over prompt tokens). A model built from scratch then also learns the
    language of the environment; above all, the prompt repeats names (the room's
    receptacles in the observation, again in the admissible list), which teaches it to
    copy names it has seen instead of guessing ones it has not. The returned losses are
    the response part only, so they read the same with and without it.
    """
    generator = torch.Generator().manual_seed(seed)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    model.train()
    losses = []
    total = epochs * ((len(examples) + batch_size - 1) // batch_size)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor(schedule, total))
    # Length-bucketed batches (shuffled order of batches) keep padding small.
    by_length = sorted(range(len(examples)), key=lambda i: len(examples[i][0]))
    batches = [by_length[i : i + batch_size] for i in range(0, len(by_length), batch_size)]
    for _ in range(epochs):
        for b in torch.randperm(len(batches), generator=generator).tolist():
            chunk = [examples[i] for i in batches[b]]
            batch = collate([p for p, _ in chunk], [r for _, r in chunk], pad_id, device)
            if prompt_loss > 0:
                lp, prompt_nll = _logprobs_with_prompt_nll(model, batch)
            else:
                lp, _ = response_logprobs(model, batch)
            response_nll = -algos.agg_loss(lp, batch.response_mask.float())
            loss = response_nll + prompt_loss * prompt_nll if prompt_loss > 0 else response_nll
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            scheduler.step()
            losses.append(float(response_nll.detach()))
            if progress is not None:
                progress(len(losses), total, losses[-1])
    model.eval()
    return losses


def lr_factor(schedule: str, total: int) -> Callable[[int], float]:
    """Multiplier of the base learning rate at batch ``i`` (0-based) of ``total``.

    >>> f = lr_factor("cosine", 100)
    >>> round(f(0), 2), round(f(4), 2), round(f(5), 2), round(f(99), 2)
    (0.2, 1.0, 1.0, 0.1)
    >>> lr_factor("constant", 100)(50)
    1.0
    """
    if schedule == "constant":
        return lambda i: 1.0
    if schedule != "cosine":
        raise ValueError(f"sft.schedule={schedule!r}: use constant or cosine")
    warmup = max(1, round(0.05 * total))

    def factor(i: int) -> float:
        if i < warmup:
            return (i + 1) / warmup
        done = (i - warmup) / max(1, total - warmup - 1)
        return 0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * min(1.0, done)))

    return factor


def _logprobs_with_prompt_nll(model: Any, batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Response log-probs ``[B, T]`` and the mean next-token NLL over prompt tokens."""
    out = model(
        input_ids=batch.input_ids,
        attention_mask=batch.attention_mask,
        position_ids=batch.position_ids,
        use_cache=False,
    )
    width_r = batch.response_mask.shape[1]
    lp, _ = logprobs_of_logits(out.logits[:, -(width_r + 1) :], batch, 1.0, False)
    # Column j predicts token j+1; keep pairs inside the prompt where both are real tokens.
    p = batch.prompt_len
    logits = out.logits[:, : p - 1].float()
    targets = batch.input_ids[:, 1:p]
    mask = (batch.attention_mask[:, : p - 1] * batch.attention_mask[:, 1:p]).float()
    nll = torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="none"
    ).view_as(mask)
    return lp, (nll * mask).sum() / mask.sum().clamp(min=1.0)
