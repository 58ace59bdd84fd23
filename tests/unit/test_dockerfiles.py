"""The top-level Dockerfile: linted here; built by `make images` (tests/e2e/test_images.py)."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib

from tests.helpers import ROOT


def test_the_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint") or str(ROOT / ".venv" / "bin" / "hadolint")
    dockerfile = ROOT / "Dockerfile"
    run = subprocess.run([hadolint, str(dockerfile)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr


def _stages(dockerfile: str) -> dict[str, list[str]]:
    """Each stage's lines, by its name."""
    stages: dict[str, list[str]] = {}
    current: list[str] = []
    for line in dockerfile.splitlines():
        if match := re.match(r"FROM \S+ AS (\S+)", line):
            current = stages.setdefault(match.group(1), [])
        current.append(line)
    return stages


def test_both_targets_run_as_non_root_from_one_base_argument() -> None:
    text = (ROOT / "Dockerfile").read_text()
    stages = _stages(text)
    assert {"operator", "serving"} <= stages.keys()
    assert re.search(r"^ARG BASE=\S+", text, re.M)
    for target, distribution in (
        ("operator", "fragrance-operator"),
        ("serving", "fragrance-serving"),
    ):
        lines = stages[target]
        assert "USER 10001:10001" in lines, target
        assert any(f'"{distribution}==0.1.0"' in line for line in lines), target


def test_the_operator_distribution_needs_no_serving_ray_torch_or_dev_tools() -> None:
    project = tomllib.loads((ROOT / "operator" / "pyproject.toml").read_text())["project"]
    names = {re.split(r"[<>=\[ ]", dep)[0] for dep in project["dependencies"]}
    assert not names & {"fragrance-serving", "fragrance-dev", "ray", "torch", "matplotlib"}
    api = tomllib.loads((ROOT / "api" / "pyproject.toml").read_text())["project"]
    assert [re.split(r"[<>=]", d)[0] for d in api["dependencies"]] == ["pydantic"]
