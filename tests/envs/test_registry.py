"""Environment registry: explicit table, lazy imports, helpful errors."""

from __future__ import annotations

import subprocess
import sys

import pytest

from sdar.envs.base import EnvSpec
from sdar.envs.registry import ENVS, get_env_spec, list_envs


def test_household_spec():
    spec = get_env_spec("household")
    assert isinstance(spec, EnvSpec) and spec.name == "household"


def test_unknown_name_lists_valid_names():
    with pytest.raises(ValueError) as info:
        get_env_spec("nowhere")
    assert "nowhere" in str(info.value)
    assert all(name in str(info.value) for name in ENVS)


def test_list_envs_imports_nothing():
    code = (
        "import sys; from sdar.envs.registry import list_envs; names = list_envs(); "
        "assert ('household' in dict(names)) and ('alfworld' in dict(names)); "
        "assert not [m for m in sys.modules if m.startswith(('sdar.envs.household', "
        "'sdar.envs.alfworld', 'alfworld', 'textworld'))]"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_descriptions():
    assert all(desc for _, desc in list_envs())
    assert [name for name, _ in list_envs()] == list(ENVS)
