"""The images are written and linted, not built (no Docker engine here or in CI)."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib

from tests.helpers import ROOT


def test_dockerfiles_pass_hadolint() -> None:
    hadolint = shutil.which("hadolint") or str(ROOT / ".venv" / "bin" / "hadolint")
    files = sorted((ROOT / "docker").glob("*.Dockerfile"))
    assert len(files) == 2
    run = subprocess.run([hadolint, *map(str, files)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr


def _copied(dockerfile: str) -> set[str]:
    """The build context's folders a Dockerfile copies."""
    return {
        line.split()[-2]
        for line in dockerfile.splitlines()
        if line.startswith("COPY ") and "--from" not in line
    }


def test_images_run_as_non_root_and_hold_only_their_own_packages() -> None:
    operator = (ROOT / "docker" / "operator.Dockerfile").read_text()
    assert "USER 10001" in operator
    assert _copied(operator) == {"api", "operator"}
    assert '"fragrance-operator==0.1.0"' in operator
    serving = (ROOT / "docker" / "serving.Dockerfile").read_text()
    assert "USER 1000" in serving
    assert _copied(serving) == {"api", "serving"}


def test_the_operator_distribution_needs_no_serving_ray_torch_or_dev_tools() -> None:
    project = tomllib.loads((ROOT / "operator" / "pyproject.toml").read_text())["project"]
    names = {re.split(r"[<>=\[ ]", dep)[0] for dep in project["dependencies"]}
    assert not names & {"fragrance-serving", "fragrance-dev", "ray", "torch", "matplotlib"}
    api = tomllib.loads((ROOT / "api" / "pyproject.toml").read_text())["project"]
    assert [re.split(r"[<>=]", d)[0] for d in api["dependencies"]] == ["pydantic"]
