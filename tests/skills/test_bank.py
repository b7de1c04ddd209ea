"""SkillBank loading: the authors' folder format as is, and clear errors when broken."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sdar.skills.bank import BUILTIN_BANKS, SkillBankError, builtin_bank_dir, load_bank
from sdar.skills.report import check_bank

GENERAL_MD = "### GENERAL SKILLS ###\n1. Read first: Read the goal. Apply this when starting.\n"
HEAT_MD = "### TASK: heat ###\n1. Heat it: Use the microwave. Apply this when holding food.\n"
CLEAN_MD = "### TASK: clean ###\n1. Clean it: Use the sinkbasin. Apply this when dirty.\n"


def write_bank(root: Path, mapping: dict | str, files: dict[str, str] | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    text = mapping if isinstance(mapping, str) else json.dumps(mapping)
    (root / "skill_mapping.json").write_text(text)
    for name, body in (files or {}).items():
        (root / name).write_text(body)
    return root


def authors_mapping() -> dict:
    return {
        "skill_files": {"general_skills": "general.md", "heat": "heat.md", "clean": "clean.md"},
        "task_to_skill": {
            "pick_heat_then_place_in_recep": "heat",
            "pick_clean_then_place_in_recep": "clean",
        },
        "task_keywords": {
            "pick_heat_then_place_in_recep": ["Heat", "hot"],
            "pick_clean_then_place_in_recep": ["clean"],
        },
    }


ALL_FILES = {"general.md": GENERAL_MD, "heat.md": HEAT_MD, "clean.md": CLEAN_MD}


def test_authors_format_loads(tmp_path: Path) -> None:
    bank = load_bank(write_bank(tmp_path / "b", authors_mapping(), ALL_FILES))
    assert bank.general == GENERAL_MD.strip()
    assert list(bank.skills) == ["heat", "clean"]
    assert bank.skills["heat"] == HEAT_MD.strip()
    assert bank.task_to_skill["pick_heat_then_place_in_recep"] == "heat"
    assert bank.task_keywords["pick_heat_then_place_in_recep"] == ("heat", "hot")
    assert bank.files["general_skills"] == "general.md"


def test_task_keywords_are_optional(tmp_path: Path) -> None:
    mapping = authors_mapping()
    del mapping["task_keywords"]
    assert load_bank(write_bank(tmp_path / "b", mapping, ALL_FILES)).task_keywords == {}


@pytest.mark.parametrize(
    ("mutate", "files", "match"),
    [
        (
            lambda m: m["skill_files"].update(cool="cool.md"),
            ALL_FILES,
            r"skill_files\.cool.*cool\.md",
        ),
        (
            lambda m: m["task_to_skill"].update(x="missing"),
            ALL_FILES,
            r"task_to_skill\.x.*'missing'",
        ),
        (lambda m: m["skill_files"].pop("general_skills"), ALL_FILES, "general_skills"),
        (lambda m: m.update(skill_files={}), {}, "empty"),
        (lambda m: m["task_keywords"].update(zzz=["a"]), ALL_FILES, r"task_keywords\.zzz"),
        (lambda m: m.pop("task_to_skill"), ALL_FILES, "task_to_skill must be"),
        (lambda m: m["task_to_skill"].update(y="general_skills"), ALL_FILES, r"task_to_skill\.y"),
        (lambda m: None, {**ALL_FILES, "heat.md": "  \n"}, r"heat\.md.*empty"),
    ],
    ids=[
        "missing_file",
        "unknown_skill",
        "no_general",
        "empty_skill_files",
        "keywords_key",
        "no_task_to_skill",
        "maps_to_general",
        "empty_file",
    ],
)
def test_broken_banks_raise(tmp_path: Path, mutate, files, match) -> None:
    mapping = authors_mapping()
    mutate(mapping)
    root = write_bank(tmp_path / "b", mapping, files)
    with pytest.raises(SkillBankError, match=match):
        load_bank(root)
    with pytest.raises(SkillBankError):
        check_bank(root)


def test_bad_json_names_file_and_line(tmp_path: Path) -> None:
    root = write_bank(
        tmp_path / "b", '{"skill_files": {"general_skills": "general.md",}}', ALL_FILES
    )
    with pytest.raises(SkillBankError, match=r"skill_mapping\.json: invalid JSON at line 1"):
        load_bank(root)


def test_empty_or_missing_folder(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(SkillBankError, match="it is empty"):
        load_bank(tmp_path / "empty")
    with pytest.raises(SkillBankError, match="not a directory"):
        load_bank(tmp_path / "nope")


def test_skill_bank_error_is_value_error() -> None:
    assert issubclass(SkillBankError, ValueError)


def test_builtin_bank_dir_unknown_env() -> None:
    with pytest.raises(ValueError, match="household, alfworld, shop, searchqa"):
        builtin_bank_dir("minecraft")


@pytest.mark.parametrize("env", BUILTIN_BANKS)
def test_shipped_banks_pass_check(env: str) -> None:
    report = check_bank(builtin_bank_dir(env))
    assert report["warnings"] == []
    assert report["unused_skills"] == []
    assert report["items"]["general_skills"] >= 6
    for name in report["skills"]:
        assert 3 <= report["items"][name] <= 6, name
        assert report["chars"][name] < 2600, name


def test_shipped_bank_contents() -> None:
    alf = check_bank(builtin_bank_dir("alfworld"))
    assert set(alf["skills"]) == {
        "pick_and_place",
        "pick_two",
        "look_at_obj_in_light",
        "clean",
        "heat",
        "cool",
    }
    shop = check_bank(builtin_bank_dir("shop"))
    assert set(shop["skills"]) == {
        "apparel",
        "footwear",
        "home_decor",
        "electronics",
        "accessories",
        "beauty_health",
        "other",
    }
    assert all(7 <= n <= 11 for k, n in shop["keywords"].items() if k != "other")
    assert shop["keywords"]["other"] == 0
    sqa = check_bank(builtin_bank_dir("searchqa"))
    assert set(sqa["skills"]) == {
        "direct_retrieval",
        "multi_hop_reasoning",
        "entity_attribute_lookup",
        "compare",
    }
    assert sqa["keywords"] == {}


def test_shipped_banks_use_plain_words() -> None:
    """Only letters, digits, spaces and simple punctuation: a word tokenizer can cover them."""
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 \n.,:#_")
    for env in BUILTIN_BANKS:
        for md in builtin_bank_dir(env).glob("*.md"):
            odd = set(md.read_text()) - allowed
            assert not odd, f"{md}: {sorted(odd)}"
