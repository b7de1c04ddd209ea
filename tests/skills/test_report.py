"""The pure functions behind `sdar skills show` and `sdar skills check`."""

from __future__ import annotations

from pathlib import Path

import pytest

from sdar.skills.bank import SkillBankError, builtin_bank_dir, load_bank
from sdar.skills.report import check_bank, show_privileged


def test_show_by_task_type_goal_and_source() -> None:
    out = show_privileged("alfworld", task_type="pick_heat_then_place_in_recep")
    header, text = out.split("\n\n", 1)
    assert "strategy: keyword" in header and "skills: general_skills, heat" in header
    bank = load_bank(builtin_bank_dir("alfworld"))
    assert text == bank.general + "\n\n" + bank.skills["heat"]
    assert "skills: general_skills, clean" in show_privileged(
        "household", task="put a clean apple in fridge."
    )
    assert "skills: general_skills, compare" in show_privileged(
        "searchqa", data_source="2wikimultihopqa", task="Which film came out first, Alpha or Beta?"
    )
    assert "skills: (none)" in show_privileged("shop", task="a red dress", strategy="none")


def test_show_with_dir_and_errors(tmp_path: Path) -> None:
    out = show_privileged("unused", task_type="clean", bank_dir=builtin_bank_dir("household"))
    assert "banks/household" in out
    with pytest.raises(ValueError, match="--task-type, --game-file, --task or --data-source"):
        show_privileged("alfworld")
    with pytest.raises(ValueError, match="give --env .* or --dir"):
        show_privileged(None, task="x")
    with pytest.raises(ValueError, match="valid:"):
        show_privileged("alfworld", task_type="x", strategy="magic")
    with pytest.raises(SkillBankError):
        show_privileged("alfworld", task_type="x", bank_dir=tmp_path)


def test_check_report_fields() -> None:
    report = check_bank(builtin_bank_dir("alfworld"))
    assert report["files"]["general_skills"] == "general.md"
    assert report["skill_task_types"]["heat"] == ["pick_heat_then_place_in_recep"]
    assert len(report["task_types"]) == 6
    assert report["total_chars"] == sum(report["chars"].values())


def test_check_warns_on_format(tmp_path: Path) -> None:
    (tmp_path / "skill_mapping.json").write_text(
        '{"skill_files": {"general_skills": "g.md", "extra": "e.md"}, "task_to_skill": {}}'
    )
    (tmp_path / "g.md").write_text("no header\n1. A: b.\n")
    (tmp_path / "e.md").write_text("### TASK: extra ###\nplain text\n")
    warnings = check_bank(tmp_path)["warnings"]
    assert any("not a '### ... ###' header" in w for w in warnings)
    assert any("lack an 'Apply this ...' condition" in w for w in warnings)
    assert any("extra: no numbered items" in w for w in warnings)
    assert any("extra: not named by any task_to_skill key" in w for w in warnings)


def cli_show(capsys, *args: str) -> str:
    from sdar.cli import main

    assert main(["skills", "show", *args]) == 0
    return capsys.readouterr().out


def test_cli_show_combines_source_and_question_and_takes_a_bank_folder(capsys) -> None:
    question = "Which film came out first, Alpha or Beta?"
    out = cli_show(capsys, "--env", "searchqa", "--data-source", "musique", "--task", question)
    assert "skills: general_skills, compare" in out
    shop = str(builtin_bank_dir("shop"))
    # The shop bank's "hat" keyword: at a word start only by default, anywhere on request.
    assert "skills: general_skills\n" in cli_show(
        capsys, "--dir", shop, "--task", "a case that fits"
    )
    out = cli_show(
        capsys, "--dir", shop, "--task", "a case that fits", "--keyword-match", "substring"
    )
    assert "skills: general_skills, accessories" in out
