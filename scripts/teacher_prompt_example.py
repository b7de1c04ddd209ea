"""Print one real teacher prompt (with skills) and its student twin, token for token.

    python scripts/teacher_prompt_example.py --env household [--model smollm2-135m]
    ALFWORLD_DATA=../shared/data/alfworld python scripts/teacher_prompt_example.py --env alfworld

The student's first step of an evaluation task is rendered and tokenised with the model's
chat template; a response is taken from the expert; the teacher context is then built
exactly as training builds it (keyword retrieval, prefix placement, own token budget).
"""

from __future__ import annotations

import argparse

from sdar.envs.registry import get_env_spec
from sdar.models.load import load_policy
from sdar.rollout.runner import render_messages
from sdar.rollout.teacher import build_teacher_context, student_prompt_ids
from sdar.rollout.types import PromptState
from sdar.skills.bank import builtin_bank_dir, load_bank
from sdar.skills.retrieve import make_retriever


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--env", default="household")
    p.add_argument("--model", default="smollm2-135m")
    p.add_argument("--task-index", type=int, default=2)
    args = p.parse_args()
    spec = get_env_spec(args.env)
    options = {"preset": "small"} if args.env == "household" else {}
    env = spec.make(options)
    task = spec.eval_tasks(options, args.task_index + 1)[args.task_index]
    obs, info = env.reset(task)
    _, tokenizer = load_policy(args.model)
    action = env.expert_action()
    result = env.step(action)
    state = PromptState(
        info["goal"], result.observation, result.info["admissible_actions"], [(obs, action)], 1
    )
    response_ids = tokenizer.encode(
        f"<think>The next step is to {env.expert_action()}."
        f"</think><action>{env.expert_action()}</action>",
        add_special_tokens=False,
    )
    retrieval = make_retriever("keyword", load_bank(builtin_bank_dir(args.env))).retrieve(
        task, info["goal"]
    )
    student = student_prompt_ids(tokenizer, render_messages(spec, state, 2, True))
    teacher = build_teacher_context(
        tokenizer,
        lambda k: render_messages(spec, state, k, True),
        1,
        retrieval.text,
        response_ids,
        placement="prefix",
        max_prompt_tokens=4096,
    )
    print(f"== {args.env}: task {task.task_id} ({task.task_type}); skills {retrieval.skills}")
    print(f"== STUDENT prompt ({len(student)} tokens) ==")
    print(tokenizer.decode(student))
    print(
        f"== TEACHER prompt ({len(teacher.prompt_ids)} tokens, {teacher.skill_tokens} skill "
        f"tokens, shortened={teacher.shortened}) =="
    )
    print(tokenizer.decode(teacher.prompt_ids))
    print(
        f"== RESPONSE ids scored by both ({len(response_ids)} tokens, identical: "
        f"{teacher.response_ids == response_ids}) =="
    )
    print(tokenizer.decode(response_ids))
    env.close()


if __name__ == "__main__":
    main()
