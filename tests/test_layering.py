"""Imports flow one way (STYLE.md section 2), checked with `ast` over every module."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "sdar"

# package -> sdar packages it may import (besides itself)
ALLOWED = {
    "algos": set(),
    "envs": set(),
    "skills": {"envs"},
    "models": {"algos"},
    "rollout": {"envs", "skills", "models", "algos"},
    "train": {"algos", "envs", "skills", "models", "rollout"},
    # Benchmarks are front-ends like cli.py (`sdar bench NAME`): they may import any layer.
    "bench": {"algos", "envs", "skills", "models", "rollout", "train"},
}
FORBIDDEN_THIRD_PARTY = {
    "algos": {"transformers", "peft", "yaml", "tqdm"},
    "envs": {"torch", "transformers", "tqdm"},
    "skills": {"torch", "transformers", "tqdm"},
}


def imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
    return out


MODULES = sorted(p for p in ROOT.rglob("*.py") if p.parent != ROOT)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_flow_one_way(path):
    package = path.relative_to(ROOT).parts[0]
    for name in imports(path):
        parts = name.split(".")
        if parts[0] == "sdar" and len(parts) > 1:
            target = parts[1]
            # Only cli.py (outside MODULES) runs the benchmarks; nothing imports either.
            assert target not in ("cli", "bench"), f"{path}: nothing imports {name}"
            if target != package and target != "__init__":
                assert target in ALLOWED[package], f"{path}: {package} may not import {name}"
        assert parts[0] not in FORBIDDEN_THIRD_PARTY.get(package, set()), (
            f"{path}: {package} must not import {parts[0]}"
        )


def test_env_subpackages_import_only_envs_top_level():
    for path in (ROOT / "envs").rglob("*.py"):
        rel = path.relative_to(ROOT / "envs").parts
        if len(rel) < 2:
            continue
        for name in imports(path):
            if name.startswith("sdar.envs."):
                sub = name.split(".")[2]
                assert sub == rel[0] or (ROOT / "envs" / f"{sub}.py").is_file(), (
                    f"{path}: env subpackages import only sdar.envs top-level modules, not {name}"
                )


def test_no_print_outside_cli_and_bench():
    for path in ROOT.rglob("*.py"):
        if path.name == "cli.py" or path.parent.name == "bench":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print":
                pytest.fail(f"{path}:{node.lineno}: print() outside cli.py; use logging")


def test_import_sdar_does_nothing():
    import subprocess
    import sys

    code = (
        "import sys, sdar; "
        "print(sorted(m for m in sys.modules if m.startswith(('torch', 'sdar.'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
