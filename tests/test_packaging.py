"""What an install carries (serving: requirements.txt only), and the metadata in pyproject.toml."""

from __future__ import annotations

import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from tests.live import REPO_ROOT

TOOLS = ("playwright", "mypy", "pytest", "ruff", "schemathesis", "openapi-python-client")


def planned(target: str, venv: Path) -> str:
    """The commands `make target` would run on a machine with no virtualenv yet."""
    if not shutil.which("make"):
        pytest.skip("make is not installed")
    result = subprocess.run(
        ["make", "--dry-run", target, f"VENV={venv}"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def pinned(requirements: str) -> set[str]:
    lines = (REPO_ROOT / requirements).read_text(encoding="utf-8").splitlines()
    return {line.split("==")[0].lower() for line in lines if "==" in line}


def test_make_run_installs_only_what_serving_needs(tmp_path: Path) -> None:
    plan = planned("run", tmp_path / "venv")
    assert "pip install --quiet -r requirements.txt" in plan
    assert "requirements-dev.txt" not in plan


@pytest.mark.parametrize("target", ["test", "lint", "bench"])
def test_the_tools_install_for_test_lint_and_bench(tmp_path: Path, target: str) -> None:
    plan = planned(target, tmp_path / "venv")
    assert "pip install --quiet -r requirements-dev.txt" in plan


def test_no_tool_is_a_runtime_requirement() -> None:
    assert pinned("requirements.txt").isdisjoint(TOOLS)
    assert set(TOOLS) <= pinned("requirements-dev.txt")


def test_pyproject_has_the_project_metadata() -> None:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["name"] == "items-api"
    assert project["version"]
    assert project["description"]
    assert project["license"] == "BSD-3-Clause"
    assert project["requires-python"] == ">=3.11"
    assert "BSD 3-Clause License" in (REPO_ROOT / "LICENSE").read_text(encoding="utf-8")


def test_each_tool_has_its_settings_in_one_place() -> None:
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "ruff" in pyproject["tool"]
    assert not (REPO_ROOT / "ruff.toml").exists()
    assert {"mypy", "pytest"}.isdisjoint(pyproject["tool"])
    setup_cfg = (REPO_ROOT / "setup.cfg").read_text(encoding="utf-8")
    assert "[tool:pytest]" in setup_cfg and "[mypy]" in setup_cfg
