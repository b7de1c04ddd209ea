"""What the ``sdar skills show`` and ``sdar skills check`` commands print.

Pure functions returning text or dicts; the CLI formats and prints them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from sdar.envs.base import Task
from sdar.skills.bank import GENERAL, builtin_bank_dir, load_bank
from sdar.skills.retrieve import make_retriever

_ITEM = re.compile(r"^\s*\d+\.\s", re.MULTILINE)


def show_privileged(
    env_name: str | None,
    *,
    task_type: str | None = None,
    task: str | None = None,
    data_source: str | None = None,
    game_file: str | None = None,
    strategy: str = "keyword",
    bank_dir: str | Path | None = None,
    keyword_match: str = "word",
    seed: int = 0,
) -> str:
    """The privileged text a strategy gives one task, after a short header.

    ``task`` is the text keywords are matched against (the goal sentence, or a whole step
    prompt as the authors match it) and the question of the compare rule; ``task_type``,
    ``game_file`` and ``data_source`` are routed as in training. At least one is needed.
    The bank is ``bank_dir``, else the one shipped for ``env_name``.
    """
    if task_type is None and task is None and data_source is None and game_file is None:
        raise ValueError("skills show: give --task-type, --game-file, --task or --data-source")
    if bank_dir is None and env_name is None:
        raise ValueError("skills show: give --env (its shipped bank) or --dir (a bank folder)")
    bank = load_bank(bank_dir if bank_dir is not None else builtin_bank_dir(str(env_name)))
    retriever = make_retriever(strategy, bank, seed=seed, keyword_match=keyword_match)
    probe = Task(
        task_id="skills-show",
        task_type=task_type or "",
        data_source=data_source or "",
        extra={"game_file": game_file} if game_file else {},
    )
    result = retriever.retrieve(probe, task or "")
    header = [
        f"bank: {bank.dir}",
        f"strategy: {strategy}",
        f"skills: {', '.join(result.skills) if result.skills else '(none)'}",
        f"chars: {len(result.text)}",
    ]
    return "\n".join(header) + "\n\n" + result.text


def _lint(name: str, text: str) -> list[str]:
    warnings = []
    first = text.splitlines()[0]
    if not first.startswith("###"):
        warnings.append(f"{name}: first line {first!r} is not a '### ... ###' header")
    items = len(_ITEM.findall(text))
    if items == 0:
        warnings.append(f"{name}: no numbered items ('1. Title: ...')")
    elif text.count("Apply this") < items:
        # The condition reads "Apply this when/after/before ..." in the authors' banks.
        warnings.append(
            f"{name}: {items - text.count('Apply this')} items lack an 'Apply this ...' condition"
        )
    return warnings


def check_bank(path: str | Path) -> dict[str, Any]:
    """Load a bank and report its contents; raises `SkillBankError` if it is broken.

    Keys: dir, files (skill -> file), skills (task skills), task_types (task_to_skill
    keys), skill_task_types (skill -> its keys), keywords (key -> count), chars and items
    (per skill, general included), total_chars, unused_skills, warnings.
    """
    bank = load_bank(path)
    texts = {GENERAL: bank.general, **bank.skills}
    used = set(bank.task_to_skill.values())
    unused = [s for s in bank.skills if s not in used]
    warnings = [w for name, text in texts.items() for w in _lint(name, text)]
    warnings += [
        f"{s}: not named by any task_to_skill key (only 'full' can pick it)" for s in unused
    ]
    return {
        "dir": str(bank.dir),
        "files": dict(bank.files),
        "skills": list(bank.skills),
        "task_types": list(bank.task_to_skill),
        "skill_task_types": {
            s: [k for k, v in bank.task_to_skill.items() if v == s] for s in bank.skills
        },
        "keywords": {k: len(v) for k, v in bank.task_keywords.items()},
        "chars": {name: len(text) for name, text in texts.items()},
        "items": {name: len(_ITEM.findall(text)) for name, text in texts.items()},
        "total_chars": sum(len(t) for t in texts.values()),
        "unused_skills": unused,
        "warnings": warnings,
    }
