"""The images are written and linted, not built (no Docker engine here or in CI)."""

from __future__ import annotations

import shutil
import subprocess

from tests.helpers import ROOT


def test_dockerfiles_pass_hadolint() -> None:
    hadolint = shutil.which("hadolint") or str(ROOT / ".venv" / "bin" / "hadolint")
    files = sorted((ROOT / "docker").glob("*.Dockerfile"))
    assert len(files) == 2
    run = subprocess.run([hadolint, *map(str, files)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr


def test_images_run_as_non_root_and_the_operator_image_has_no_torch_or_ray() -> None:
    operator = (ROOT / "docker" / "operator.Dockerfile").read_text()
    assert "USER 10001" in operator
    assert "[operator]" in operator
    assert "[serving]" not in operator
    assert "USER 1000" in (ROOT / "docker" / "serving.Dockerfile").read_text()
