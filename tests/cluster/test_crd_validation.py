"""The real apiserver refuses every invalid manifest naming the field, and accepts the samples."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from fragrance_api import FragranceRelease, TuningPolicy
from fragrance_dev.cluster import LocalCluster
from tests.helpers import INVALID, SAMPLES, expectations, load

MODELS: dict[str, Any] = {"FragranceRelease": FragranceRelease, "TuningPolicy": TuningPolicy}


@pytest.mark.parametrize("path", sorted(INVALID.glob("*.yaml")), ids=lambda p: p.stem)
def test_apiserver_refuses_invalid_manifest(
    cluster: LocalCluster, namespace: str, path: Path
) -> None:
    expected = expectations(path)
    result = cluster.kubectl("apply", "-n", namespace, "-f", str(path), check=False)
    assert result.returncode != 0, f"accepted: {expected['mistake']}"
    assert expected["field"] in result.stderr, result.stderr
    assert expected["reason"] in result.stderr, result.stderr
    kind = load(path)["kind"]
    listed = cluster.kubectl("get", kind, "-n", namespace, "-o", "name").stdout
    assert listed.strip() == "", "a refused object must not exist"


@pytest.mark.parametrize("path", sorted(SAMPLES.glob("*.yaml")), ids=lambda p: p.stem)
def test_apiserver_accepts_sample_and_defaults_like_the_models(
    cluster: LocalCluster, namespace: str, path: Path
) -> None:
    doc = load(path)
    cluster.kubectl("apply", "-n", namespace, "-f", str(path))
    stored = json.loads(
        cluster.kubectl(
            "get", doc["kind"], doc["metadata"]["name"], "-n", namespace, "-o", "json"
        ).stdout
    )
    # What the apiserver defaulted is exactly what the operator's models default.
    expected = MODELS[doc["kind"]].model_validate({"spec": doc["spec"]}).spec.to_wire()
    assert stored["spec"] == expected


def test_edit_to_invalid_is_refused_and_keeps_the_stored_object(
    cluster: LocalCluster, namespace: str
) -> None:
    path = SAMPLES / "fragrancerelease-gateway.yaml"
    cluster.kubectl("apply", "-n", namespace, "-f", str(path))
    patch = json.dumps({"spec": {"canary": {"steps": [1, 50, 25, 100]}}})
    result = cluster.kubectl(
        "patch", "frel", "brief-api", "-n", namespace, "--type=merge", "-p", patch, check=False
    )
    assert result.returncode != 0
    assert "spec.canary.steps" in result.stderr
    steps = cluster.kubectl(
        "get", "frel", "brief-api", "-n", namespace, "-o", "jsonpath={.spec.canary.steps}"
    ).stdout
    assert json.loads(steps) == [1, 5, 25, 100]


def test_kubectl_explain_describes_fields(cluster: LocalCluster) -> None:
    out = cluster.kubectl("explain", "frel.spec.canary.analysis.onInconclusive").stdout
    assert "pause or rollback" in out
    out = cluster.kubectl("explain", "tpol.spec.ppo.entropyCoef.final").stdout
    assert "Entropy coefficient after decaySteps" in out


def test_short_names_category_and_printer_columns(cluster: LocalCluster, namespace: str) -> None:
    cluster.kubectl("apply", "-n", namespace, "-f", str(SAMPLES / "fragrancerelease-gateway.yaml"))
    cluster.kubectl("apply", "-n", namespace, "-f", str(SAMPLES / "tuningpolicy-default.yaml"))
    header = cluster.kubectl("get", "frel", "-n", namespace).stdout.splitlines()[0].split()
    assert header == ["NAME", "PHASE", "STABLE", "CANARY", "WEIGHT", "GATE", "AGE"]
    header = cluster.kubectl("get", "tpol", "-n", namespace).stdout.splitlines()[0].split()
    assert header == ["NAME", "READY", "COMPLETE", "AGE"]
    wide = cluster.kubectl("get", "frel", "-n", namespace, "-o", "wide").stdout
    assert wide.splitlines()[0].split()[-2:] == ["STEP", "MESSAGE"]
    names = cluster.kubectl("get", "fragrance", "-n", namespace, "-o", "name").stdout.split()
    assert sorted(names) == [
        "fragrancerelease.fragrance.ai/brief-api",
        "tuningpolicy.fragrance.ai/default",
    ]


def test_status_subresource_is_separate_from_spec(cluster: LocalCluster, namespace: str) -> None:
    cluster.kubectl("apply", "-n", namespace, "-f", str(SAMPLES / "fragrancerelease-gateway.yaml"))

    def patch(body: dict[str, Any], *extra: str) -> subprocess.CompletedProcess[str]:
        args = ["patch", "frel", "brief-api", "-n", namespace, "--type=merge", *extra]
        return cluster.kubectl(*args, "-p", json.dumps(body), check=False)

    def stored() -> dict[str, Any]:
        got = cluster.kubectl("get", "frel", "brief-api", "-n", namespace, "-o", "json")
        return json.loads(got.stdout)  # type: ignore[no-any-return]

    status = {"status": {"phase": "Progressing", "canaryWeight": 5}}
    assert patch(status, "--subresource=status").returncode == 0
    assert stored()["status"].items() >= {"phase": "Progressing", "canaryWeight": 5}.items()
    # Through the main resource, status is ignored: only the operator writes it.
    assert patch({"status": {"canaryWeight": 100}}).returncode == 0
    assert stored()["status"]["canaryWeight"] == 5
    refused = patch({"status": {"phase": "Exploded"}}, "--subresource=status")
    assert refused.returncode != 0
    assert "status.phase" in refused.stderr
