"""SkillBank: the skill folders the teacher's privileged context is drawn from.

A bank is a directory in the authors' released format (SDAR_SPEC 4.1), read as is so
``skills.dir`` can point at their folders:

* ``skill_mapping.json`` with ``skill_files`` (skill name -> ``.md`` file in the same
  directory; must include ``general_skills``), ``task_to_skill`` (task-type key -> skill
  name; several keys may share a skill) and the optional ``task_keywords`` (task-type key
  -> lowercase keywords matched against the task text).
* One Markdown file per skill: a header line (``### GENERAL SKILLS ###`` or
  ``### TASK: <name> ###``), then numbered items, each with a short title, a one-sentence
  principle and an "Apply this when ..." condition.

Text in, text out: no torch, no tokenizer.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

logger = logging.getLogger(__name__)

MAPPING_FILE = "skill_mapping.json"
GENERAL = "general_skills"
KNOWN_KEYS = ("skill_files", "task_to_skill", "task_keywords")
BUILTIN_BANKS = ("household", "alfworld", "shop", "searchqa")
BANK_OF_ENV = MappingProxyType({"webshop": "shop"})
"""Env families whose built-in bank folder has another name."""


class SkillBankError(ValueError):
    """A skill bank folder is missing or malformed; the message names the file and key."""


@dataclass(frozen=True)
class SkillBank:
    """A loaded skill bank.

    ``general`` is the text of ``general_skills``; ``skills`` maps every other skill name
    to its text, in the order of ``skill_files``. ``files`` keeps skill name -> file name
    (general included) for reports. ``task_keywords`` values are lower-cased.
    """

    dir: Path
    general: str
    skills: dict[str, str]
    task_to_skill: dict[str, str]
    task_keywords: dict[str, tuple[str, ...]] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)

    def skill_for(self, task_key: str) -> str | None:
        """The skill name a task-type key maps to, or None."""
        return self.task_to_skill.get(task_key)


def builtin_bank_dir(env_name: str) -> Path:
    """The folder of the bank shipped for ``env_name`` (household, alfworld, shop, searchqa;
    webshop uses shop)."""
    env_name = BANK_OF_ENV.get(env_name, env_name)
    if env_name not in BUILTIN_BANKS:
        raise ValueError(
            f"no built-in skill bank for env {env_name!r}; valid: {', '.join(BUILTIN_BANKS)}. "
            "Point skills.dir at your own bank folder for other environments."
        )
    return Path(__file__).resolve().parent / "banks" / env_name


def load_bank(path: str | Path) -> SkillBank:
    """Load and validate a bank folder; raises `SkillBankError` saying what to fix."""
    root = Path(path)
    if not root.is_dir():
        raise SkillBankError(f"skill bank {str(root)!r} is not a directory; pass a bank folder")
    mapping_path = root / MAPPING_FILE
    if not mapping_path.is_file():
        content = "it is empty" if not any(root.iterdir()) else "it has no " + MAPPING_FILE
        raise SkillBankError(
            f"skill bank {str(root)!r} is not usable: {content}. A bank needs {MAPPING_FILE} "
            "with skill_files (including general_skills) and task_to_skill, plus the .md files"
        )
    mapping = _read_mapping(mapping_path)
    files = _skill_files(mapping, mapping_path)
    texts = {
        name: _read_skill_file(root, name, fname, mapping_path) for name, fname in files.items()
    }
    task_to_skill = _task_to_skill(mapping, files, mapping_path)
    task_keywords = _task_keywords(mapping, task_to_skill, mapping_path)
    general = texts.pop(GENERAL)
    bank = SkillBank(
        dir=root,
        general=general,
        skills=texts,
        task_to_skill=task_to_skill,
        task_keywords=task_keywords,
        files=files,
    )
    logger.debug("loaded skill bank %s: %d task skills", root, len(texts))
    return bank


def _read_mapping(mapping_path: Path) -> dict:
    try:
        mapping = json.loads(mapping_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise SkillBankError(
            f"{mapping_path}: invalid JSON at line {err.lineno}, column {err.colno}: {err.msg}; "
            "fix the syntax (a trailing comma or a missing quote is the usual cause)"
        ) from err
    if not isinstance(mapping, dict):
        raise SkillBankError(
            f"{mapping_path}: expected a JSON object, got {type(mapping).__name__}"
        )
    unknown = sorted(set(mapping) - set(KNOWN_KEYS))
    if unknown:
        logger.warning("%s: ignoring unknown keys %s", mapping_path, unknown)
    return mapping


def _skill_files(mapping: dict, mapping_path: Path) -> dict[str, str]:
    files = mapping.get("skill_files")
    if not isinstance(files, dict) or not files:
        raise SkillBankError(
            f"{mapping_path}: skill_files must be a non-empty object mapping skill names to "
            f".md files, got {files!r}; the bank is empty"
        )
    if GENERAL not in files:
        raise SkillBankError(
            f"{mapping_path}: skill_files has no {GENERAL!r} entry (it names {sorted(files)}); "
            f'add "{GENERAL}": "<file>.md", the skills every task receives'
        )
    for name, fname in files.items():
        if not isinstance(fname, str) or not fname:
            raise SkillBankError(
                f"{mapping_path}: skill_files.{name}: expected a file name, got {fname!r}"
            )
    return dict(files)


def _read_skill_file(root: Path, name: str, fname: str, mapping_path: Path) -> str:
    fpath = root / fname
    if not fpath.is_file():
        raise SkillBankError(
            f"{mapping_path}: skill_files.{name} names {fname!r}, which does not exist in "
            f"{root}; add the file or fix the name"
        )
    text = fpath.read_text(encoding="utf-8").strip()
    if not text:
        raise SkillBankError(f"{fpath}: skill file for {name!r} is empty; write its items")
    return text


def _task_to_skill(mapping: dict, files: dict[str, str], mapping_path: Path) -> dict[str, str]:
    task_to_skill = mapping.get("task_to_skill")
    if not isinstance(task_to_skill, dict):
        raise SkillBankError(
            f"{mapping_path}: task_to_skill must be an object mapping task-type keys to skill "
            f"names, got {task_to_skill!r}"
        )
    for key, skill in task_to_skill.items():
        if skill == GENERAL:
            raise SkillBankError(
                f"{mapping_path}: task_to_skill.{key} maps to {GENERAL!r}, which every task "
                "already receives; map it to a task skill or remove the key"
            )
        if skill not in files:
            raise SkillBankError(
                f"{mapping_path}: task_to_skill.{key} names skill {skill!r}, which is not in "
                f"skill_files ({', '.join(files)}); add it to skill_files or fix the name"
            )
    return dict(task_to_skill)


def _task_keywords(
    mapping: dict, task_to_skill: dict[str, str], mapping_path: Path
) -> dict[str, tuple[str, ...]]:
    raw = mapping.get("task_keywords", {})
    if not isinstance(raw, dict):
        raise SkillBankError(
            f"{mapping_path}: task_keywords must be an object mapping task-type keys to lists "
            f"of keywords, got {type(raw).__name__}"
        )
    keywords: dict[str, tuple[str, ...]] = {}
    for key, words in raw.items():
        if key not in task_to_skill:
            raise SkillBankError(
                f"{mapping_path}: task_keywords.{key} is not a task_to_skill key; add "
                f"task_to_skill.{key} or remove its keywords"
            )
        if not isinstance(words, list) or not all(isinstance(w, str) and w for w in words):
            raise SkillBankError(
                f"{mapping_path}: task_keywords.{key}: expected a list of non-empty strings, "
                f"got {words!r}"
            )
        keywords[key] = tuple(w.lower() for w in words)
    return keywords
