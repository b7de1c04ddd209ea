"""Multi-turn rollout: step many environments together with batched generation.

Steps (numbered as in the code below):
1. reset every slot; the G slots of a group get the same Task, hence the same state;
2. render each active slot's step prompt (task, last H (obs, action) pairs, observation,
   admissible actions) as one user message and apply the chat template -> prompt ids;
3. generate one response per active slot with the rollout engine (`sdar.models.engine`:
   ids in, ids and log-probs out; the G slots of a group share their first prompt, which the
   hf engine prefills once), keeping the ids; with ``slot_seeds`` each slot's sampling noise
   comes from ``mix_seed(slot seed, turn)``, so a slot plays the same whatever other slots
   share its calls (a data-parallel process holding half the slots reproduces them);
4. project the decoded text to an action + validity flag and step the environments;
5. record one StepSample per active slot; finished episodes drop out; repeat.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from sdar.envs.base import EnvSpec, ProjectFn, Task
from sdar.envs.vector import VectorEnv
from sdar.models.engine import RolloutEngine
from sdar.models.generate import SamplingParams, mix_seed
from sdar.rollout.teacher import student_prompt_ids
from sdar.rollout.types import PromptState, StepSample, Trajectory
from sdar.skills.teacher_prompt import skill_prompt_messages

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RolloutSettings:
    history_length: int
    think: bool
    max_prompt_tokens: int
    sampling: SamplingParams
    gen_batch_size: int = 64
    chat_template_kwargs: dict[str, Any] = field(default_factory=dict)
    student_skills: bool = False
    """Skill-GRPO / Skill-Prompt: the privileged text goes into the student's own prompt."""
    student_match: Callable[[str], str] | None = None
    """With student_skills: step prompt -> skill text, chosen afresh at every step from the
    rendered prompt (the authors' Skill-GRPO) instead of the group's privileged text."""
    teacher_match: Callable[[Task, str], str] | None = None
    """(task, decoded step prompt) -> the teacher's privileged text for that step (the
    authors' per-step skill choice); None = the slot's text from ``privileged``."""
    project: ProjectFn | None = None
    """Response text -> (action, valid); None = the env's own ``spec.project``."""


def render_messages(
    spec: EnvSpec,
    state: PromptState,
    k: int,
    think: bool,
    student_text: str = "",
    student_match: Callable[[str], str] | None = None,
) -> list[dict[str, str]]:
    """The step prompt as chat messages, with the last ``k`` history pairs.

    ``student_match(prompt)``, if given, replaces ``student_text`` by the skills it picks
    for this very prompt.
    """
    history = state.history[-k:] if k > 0 else []
    text = spec.prompt(
        goal=state.goal,
        observation=state.observation,
        admissible=state.admissible,
        history=history,
        step=state.step,
        think=think,
    )
    messages = [{"role": "user", "content": text}]
    if student_match is not None:
        student_text = student_match(text)
    return skill_prompt_messages(messages, student_text) if student_text else messages


def encode_prompt(
    tokenizer: Any,
    spec: EnvSpec,
    state: PromptState,
    settings: RolloutSettings,
    student_text: str,
) -> tuple[list[int], bool]:
    """Prompt ids for one step, shortening the history to fit the budget.

    Returns (ids, truncated). If even an empty history does not fit, the ids are
    left-truncated to ``max_prompt_tokens`` and ``truncated`` is True.
    """
    match = settings.student_match if settings.student_skills else None
    for k in range(min(settings.history_length, len(state.history)), -1, -1):
        messages = render_messages(spec, state, k, settings.think, student_text, match)
        ids = student_prompt_ids(tokenizer, messages, settings.chat_template_kwargs)
        if len(ids) <= settings.max_prompt_tokens:
            return ids, k < min(settings.history_length, len(state.history))
    return ids[-settings.max_prompt_tokens :], True


@dataclass
class _Slot:
    traj: Trajectory
    goal: str
    observation: str
    admissible: list[str] | None
    history: list[tuple[str, str]] = field(default_factory=list)
    done: bool = False


def run_episodes(
    engine: RolloutEngine,
    tokenizer: Any,
    venv: VectorEnv,
    spec: EnvSpec,
    tasks: Sequence[Task],
    groups: Sequence[int],
    privileged: Callable[[int, Task, dict[str, Any]], str],
    settings: RolloutSettings,
    generator: torch.Generator,
    *,
    on_turn: Callable[[int, int], None] | None = None,
    slot_seeds: Sequence[int] | None = None,
) -> tuple[list[Trajectory], dict[str, float]]:
    """Play one episode in every slot; returns trajectories and rollout statistics.

    ``tasks[i]`` and ``groups[i]`` describe slot i; ``privileged(i, task, reset_info)``
    gives the slot's privileged text once, after reset (the same for a whole group).
    ``on_turn(turn, active)`` is called after every turn (progress bars live in the CLI).
    ``engine`` samples every turn's responses (`RolloutEngine`); ``tokenizer`` renders prompts.
    ``slot_seeds`` (one int per slot): slot i's response at turn t is sampled with the seed
    ``mix_seed(slot_seeds[i], t)`` instead of from ``generator``, so it does not depend on
    which other slots are played in the same call.
    """
    if slot_seeds is not None and len(slot_seeds) != len(tasks):
        raise ValueError(f"run_episodes: {len(slot_seeds)} slot seeds for {len(tasks)} slots")
    # step 1: reset (groups share the Task, hence the initial state)
    slots, texts = [], []
    for i, (obs_info, task, group) in enumerate(
        zip(venv.reset(list(tasks)), tasks, groups, strict=True)
    ):
        obs, info = obs_info
        traj = Trajectory(group=group, traj=i, task=task, info={"goal": info.get("goal", "")})
        slots.append(_Slot(traj, info.get("goal", ""), obs, info.get("admissible_actions")))
        texts.append(privileged(i, task, info))
    stats = {"prompt_truncated": 0, "tokens_generated": 0, "turns": 0}
    step_texts = list(texts)  # the teacher's text per slot at the current step
    turn = 0
    while any(not s.done for s in slots):
        active = [i for i, s in enumerate(slots) if not s.done]
        # step 2: prompts
        states, prompts = [], []
        for i in active:
            s = slots[i]
            state = PromptState(
                s.goal,
                s.observation,
                s.admissible,
                s.history[-settings.history_length :] if settings.history_length else [],
                turn,
            )
            student_text = texts[i] if settings.student_skills else ""
            ids, truncated = encode_prompt(tokenizer, spec, state, settings, student_text)
            stats["prompt_truncated"] += int(truncated)
            if settings.teacher_match is not None:
                step_texts[i] = settings.teacher_match(s.traj.task, tokenizer.decode(ids))
            states.append(state)
            prompts.append(ids)
        # step 3: generate
        seeded = {}  # passed only when given: engines without a ``seeds`` argument still work
        if slot_seeds is not None:
            seeded["seeds"] = [mix_seed(slot_seeds[i], turn) for i in active]
        gen = engine.generate(prompts, settings.sampling, generator=generator, **seeded)
        stats["tokens_generated"] += sum(len(x) for x in gen.ids)
        # step 4: project and step
        project = settings.project or spec.project
        actions: list[str | None] = [None] * len(slots)
        validity = {}
        for j, i in enumerate(active):
            action, valid = project(gen.texts[j], slots[i].admissible, think=settings.think)
            actions[i] = action
            validity[i] = valid
        results = venv.step(actions)
        # step 5: record
        for j, i in enumerate(active):
            _record(
                slots[i],
                states[j],
                prompts[j],
                gen,
                j,
                actions[i],
                validity[i],
                results[i],
                step_texts[i],
            )
        turn += 1
        stats["turns"] = turn
        if on_turn is not None:
            on_turn(turn, len(active))
    return [s.traj for s in slots], stats


def _record(
    slot: _Slot,
    state: PromptState,
    prompt_ids: list[int],
    gen: Any,
    j: int,
    action: str,
    valid: bool,
    result: Any,
    privileged: str,
) -> None:
    info = result.info
    sample = StepSample(
        group=slot.traj.group,
        traj=slot.traj.traj,
        step=state.step,
        task=slot.traj.task,
        state=state,
        prompt_ids=prompt_ids,
        response_ids=list(gen.ids[j]),
        sample_logprobs=list(gen.logprobs[j]),
        text=gen.texts[j],
        action=action,
        valid=valid,
        env_reward=result.reward,
        done=result.done,
        privileged=privileged,
    )
    slot.traj.samples.append(sample)
    slot.history.append((slot.observation, action))
    slot.observation = result.observation
    slot.admissible = info.get("admissible_actions")
    if result.done:
        slot.done = True
        slot.traj.won = bool(info.get("won", False))
        slot.traj.info.update(info)
        if info.get("worker_error"):
            slot.traj.error = str(info["worker_error"])
