"""Helpers for tests: waiting on conditions (never sleeping and hoping) and test data."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from fragrance_api.release import FragranceReleaseSpec
from fragrance_dev.cluster import LocalCluster

ROOT = Path(__file__).resolve().parent.parent


def project_models(
    factory: pytest.TempPathFactory, steps: dict[str, int], corpus_size: int
) -> Path:
    """``make models``' weights when present (``make test`` trains them first), else the three
    sizes trained briefly here (``steps`` per size): real weights and sampling, rougher JSON."""
    if (ROOT / "models" / "creative.pt").exists():
        return ROOT / "models"
    from fragrance_serving.models.train import train_all

    out = factory.mktemp("models")
    train_all(out, steps, corpus_size=corpus_size)
    return out


INVALID = ROOT / "tests" / "manifests" / "invalid"
SAMPLES = ROOT / "deploy" / "samples"
CHART = ROOT / "charts" / "fragrance-operator"


def helm(
    cluster: LocalCluster, *args: str, check: bool = True, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """The project's helm against the local control plane."""
    binary = cluster.layout.tools_dir / "bin" / "helm"
    return subprocess.run(
        [str(binary), "--kubeconfig", str(cluster.layout.kubeconfig), *args],
        capture_output=True, text=True, timeout=timeout, check=check,
    )  # fmt: skip


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    """Poll ``condition`` until it holds; fail the test naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")


def load(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text())
    assert isinstance(doc, dict)
    return doc


def expectations(path: Path) -> dict[str, str]:
    """The ``# key: value`` header of an invalid manifest (mistake, field, reason)."""
    found = {}
    for line in path.read_text().splitlines():
        if not line.startswith("# "):
            break
        key, _, value = line[2:].partition(": ")
        found[key] = value
    return found


def release_manifest(
    name: str, version: str, interval: str = "3s", min_requests: int = 10, gpus: int = 1
) -> dict[str, Any]:
    """A FragranceRelease of the three-model ensemble behind the HTTPRoute ``brief-api``."""
    return {
        "apiVersion": "fragrance.ai/v1alpha1",
        "kind": "FragranceRelease",
        "metadata": {"name": name},
        "spec": {
            "version": version,
            "image": f"serving:{version}",
            "models": [
                {"name": "llama", "mode": "fast"},
                {"name": "mistral", "mode": "balanced"},
                {"name": "qwen", "mode": "creative"},
            ],
            "workload": {"replicas": 1, "gpusPerReplica": gpus},
            "traffic": {"provider": "gatewayAPI", "gatewayAPI": {"httpRoute": "brief-api"}},
            "canary": {
                "steps": [1, 5, 25, 100],
                "stepInterval": interval,
                "progressDeadline": "10m",
                # The fixture exporter's 4 creative requests/s fill 12 a 3 s window: the
                # default of 10 per mode would leave no margin on a loaded machine.
                "analysis": {
                    "interval": interval,
                    "minRequests": min_requests,
                    "minRequestsPerMode": 5,
                },
            },
        },
    }


def rayserve_spec(
    version: str, router: str, canary: dict[str, Any] | None = None
) -> FragranceReleaseSpec:
    """The ensemble as a ``rayServe`` release behind the router application ``router``."""
    return FragranceReleaseSpec.model_validate(
        {
            "version": version,
            "image": f"fragrance-serving:{version}",
            "models": release_manifest("x", version)["spec"]["models"],
            "workload": {"replicas": 1, "gpusPerReplica": 0},
            "traffic": {"provider": "rayServe", "rayServe": {"routerApplication": router}},
            **({"canary": canary} if canary else {}),
        }
    )
