"""Skill-GRPO's student skills: once per group from the task (ours) or, as the authors do,
by keyword match over the whole step prompt at every step (``skills.student_match``)."""

import pytest

from sdar.envs.registry import get_env_spec
from sdar.rollout.runner import encode_prompt, render_messages
from sdar.rollout.teacher import student_prompt_ids
from sdar.rollout.types import PromptState
from sdar.skills.bank import builtin_bank_dir, load_bank
from sdar.skills.retrieve import prompt_skills
from sdar.skills.teacher_prompt import privileged_block
from sdar.train.config import SdarConfigError, load_config
from sdar.train.loop import Trainer
from sdar.train.methods import get_method
from sdar.train.setup import make_venv, rollout_settings

SPEC = get_env_spec("household")
BANK = load_bank(builtin_bank_dir("household"))


def state(admissible: list[str]) -> PromptState:
    return PromptState("put a hot apple in fridge.", "You see a microwave 1.", admissible, [], 0)


def compose_text(*skills: str) -> str:
    return "\n\n".join([BANK.general, *(BANK.skills[s] for s in skills)])


class _Spec:
    """A step prompt of just the task and the admissible actions."""

    @staticmethod
    def prompt(*, goal, observation, admissible, history, step, think):
        return f"Task: {goal}\nActions: {', '.join(admissible)}"


def test_prompt_match_follows_each_step_prompt():
    match = lambda prompt: prompt_skills(BANK, prompt, match="substring").text  # noqa: E731
    early = render_messages(_Spec(), state(["go to microwave 1"]), 0, False, "", match)
    later = render_messages(_Spec(), state(["cool apple 1 with fridge 1"]), 0, False, "", match)
    # Same task, different admissible actions: the later prompt also names "cool".
    assert early[-1]["content"] == privileged_block(compose_text("heat")) + (
        "Task: put a hot apple in fridge.\nActions: go to microwave 1"
    )
    assert later[-1]["content"].startswith(privileged_block(compose_text("heat", "cool")))
    # The group's text (task mode) is replaced, not added to.
    replaced = render_messages(_Spec(), state([]), 0, False, "GROUP TEXT", match)
    assert "GROUP TEXT" not in replaced[-1]["content"]


def test_settings_carry_the_matcher_only_for_prompt_mode():
    spec = get_env_spec("household")
    task_cfg = load_config("tiny", ["algo.method=skill_grpo"])
    assert task_cfg.skills.student_match == "task"
    settings = rollout_settings(task_cfg, spec, get_method("skill_grpo"), {})
    assert settings.student_match is None
    prompt_cfg = load_config("tiny", ["algo.method=skill_grpo", "skills.student_match=prompt"])
    settings = rollout_settings(prompt_cfg, spec, get_method("skill_grpo"), {})
    assert settings.student_match("put a hot apple in fridge.") == compose_text("heat")
    full_cfg = load_config("tiny", ["skills.student_match=prompt", "skills.strategy=full"])
    full = rollout_settings(full_cfg, spec, get_method("skill_grpo"), {}).student_match
    assert full("anything") == compose_text(*BANK.skills)


def test_matcher_is_ignored_without_student_skills():
    cfg = load_config("tiny", ["algo.method=skill_grpo", "skills.student_match=prompt"])
    settings = rollout_settings(cfg, SPEC, get_method("skill_grpo"), {})
    plain = rollout_settings(cfg, SPEC, get_method("grpo"), {})
    tok = _Chat()
    s = state(["heat apple 1 with microwave 1"])
    with_skills, _ = encode_prompt(tok, SPEC, s, settings, "")
    without, _ = encode_prompt(tok, SPEC, s, plain, "")
    assert "[Privileged Skill Information]" in tok.last_texts[0]
    assert "[Privileged Skill Information]" not in tok.last_texts[1]
    assert len(with_skills) > len(without)


class _Chat:
    """A stand-in tokenizer: one id per character of the templated text."""

    def __init__(self) -> None:
        self.last_texts: list[str] = []

    def apply_chat_template(self, messages, tokenize, add_generation_prompt, **kw):
        text = "".join(m["content"] for m in messages)
        self.last_texts.append(text)
        return text

    def encode(self, text, add_special_tokens=False):
        return [ord(c) for c in text]

    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": self.encode(text)}


def test_prompt_mode_needs_keyword_or_full():
    with pytest.raises(SdarConfigError, match="skills.student_match=prompt"):
        load_config("tiny", ["skills.student_match=prompt", "skills.strategy=ucb"])


def test_skill_grpo_step_prompts_carry_their_own_matched_skills(tmp_path):
    cfg = load_config(
        "tiny",
        [
            "algo.method=skill_grpo",
            "skills.student_match=prompt",
            "skills.keyword_match=substring",
            "run.steps=1",
            "eval.episodes=2",
            "sft.episodes=0",
        ],
    )
    trainer = Trainer(cfg, tmp_path / "run")
    trainer._prepare(resume=False)
    venv = make_venv(cfg, trainer.spec, trainer.options, 4)
    try:
        _, trajs = trainer.train_step(1, venv)
    finally:
        venv.close()
    tokenizer = trainer.policy.tokenizer
    kwargs = trainer.policy.chat_template_kwargs
    differs = []
    for t in trajs:
        for s in t.samples:
            bare = render_messages(trainer.spec, s.state, len(s.state.history), False)
            text = prompt_skills(BANK, bare[-1]["content"], match="substring").text
            # The group's task-routed text (student_match=task) is not what the student saw.
            differs.append(text != s.privileged)
            expected = [{"role": "user", "content": privileged_block(text) + bare[-1]["content"]}]
            assert s.prompt_ids == student_prompt_ids(tokenizer, expected, kwargs)
    assert differs and any(differs)


@pytest.mark.parametrize(
    "preset", ["alfworld-qwen2.5-3b", "alfworld-qwen2.5-7b", "alfworld-qwen3-1.7b"]
)
def test_paper_presets_choose_student_skills_as_the_authors(preset):
    skills = load_config(preset, ["algo.method=skill_grpo"]).skills
    assert (skills.student_match, skills.keyword_match) == ("prompt", "substring")
    assert load_config("quickstart").skills.student_match == "task"
