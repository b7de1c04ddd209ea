"""What a non-editable install carries: presets, skill banks and benchmarks are package data."""

import shutil
import subprocess
import sys
import zipfile
from importlib import resources
from pathlib import Path

from sdar.cli import main
from sdar.train.config import list_presets, presets_dir, read_preset

REPO = Path(__file__).resolve().parents[1]


def packaged_presets() -> list[str]:
    folder = resources.files("sdar") / "presets"
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def test_preset_loader_finds_every_preset_through_package_resources():
    names = packaged_presets()
    assert "tiny" in names and "quickstart" in names
    assert [n for n, _ in list_presets()] == names
    assert presets_dir() == Path(str(resources.files("sdar") / "presets"))
    for name in names:
        assert read_preset(name)["preset"] == name


def test_one_copy_of_each_preset_and_benchmark():
    # configs/ and bench/ moved into the package; nothing may be left behind to drift.
    assert not list((REPO / "configs").glob("*.yaml"))
    assert not list((REPO / "bench").glob("*.py"))


def test_bench_lists_the_packaged_benchmarks(capsys):
    assert main(["bench"]) == 0
    out = capsys.readouterr().out
    modules = resources.files("sdar") / "bench"
    names = [p.name[:-3] for p in modules.iterdir() if p.name.endswith(".py")]
    assert "step" in names
    for name in names:
        if name != "__init__":
            assert f"  {name}\n" in out


def test_wheel_contains_presets_banks_and_benchmarks(tmp_path):
    # Build from a copy of the working tree, so the checkout gets no build/ or egg-info.
    src = tmp_path / "src"
    shutil.copytree(
        REPO,
        src,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "runs", "build", "dist", "*.egg-info", "__pycache__", ".*cache"
        ),
    )
    out = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
        + ["-w", str(tmp_path / "w"), str(src)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    (wheel,) = (tmp_path / "w").glob("sdar-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for preset in packaged_presets():
        assert f"sdar/presets/{preset}.yaml" in names
    assert "sdar/bench/step.py" in names
    banks = resources.files("sdar") / "skills" / "banks"
    for bank in banks.iterdir():
        assert f"sdar/skills/banks/{bank.name}/skill_mapping.json" in names
