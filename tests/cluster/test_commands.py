"""The commands: `fragrance gate` (exit codes by decision, a JSON report) and `preflight`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from fragrance_dev.cluster import LocalCluster
from tests.helpers import ROOT, wait_for
from tests.prometheus_server import PrometheusServer
from tests.serving_exporter import ServingExporter


def _gate(
    cluster: LocalCluster, target: str, url: str, out: Path
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KUBECONFIG": str(cluster.layout.kubeconfig)}
    command = [sys.executable, "-m", "fragrance_operator.cli", "gate", "--release", target,
               "--prometheus", url, "--output", str(out)]  # fmt: skip
    return subprocess.run(command, env=env, capture_output=True, text=True, check=False)


def test_gate_command_exit_codes_and_report(
    cluster: LocalCluster,
    namespace: str,
    prometheus: PrometheusServer,
    serving_exporter: ServingExporter,
    release_name: str,
    tmp_path: Path,
) -> None:
    release = {
        "apiVersion": "fragrance.ai/v1alpha1",
        "kind": "FragranceRelease",
        "metadata": {"name": release_name},
        "spec": {
            "version": "v2",
            "image": "serving:v2",
            "models": [{"name": "llama", "mode": "fast"}],
            "traffic": {"provider": "rayServe"},
            "workload": {"gpusPerReplica": 0},
            "canary": {"stepInterval": "5s", "analysis": {"interval": "5s", "minRequests": 5}},
        },
    }
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(release))
    target, report = f"{namespace}/{release_name}", tmp_path / "report.json"

    assert _gate(cluster, target, prometheus.url, report).returncode == 3  # no data yet
    serving_exporter.set(release_name)
    wait_for(lambda: _gate(cluster, target, prometheus.url, report).returncode == 0, "GO", 30)
    body = json.loads(report.read_text())
    assert body["decision"] == "GO"
    assert body["release"] == target
    assert any(c["name"] == "errorRate5xx" for c in body["checks"])
    serving_exporter.set(release_name, error_5xx=0.5)
    wait_for(lambda: _gate(cluster, target, prometheus.url, report).returncode == 2, "NO-GO", 30)
    assert json.loads(report.read_text())["decision"] == "NO-GO"
    down = _gate(cluster, target, "http://127.0.0.1:9", report)
    assert down.returncode == 3


def _preflight(cluster: LocalCluster, target: str, url: str) -> tuple[int, dict[str, dict]]:  # type: ignore[type-arg]
    env = {**os.environ, "KUBECONFIG": str(cluster.layout.kubeconfig)}
    command = [sys.executable, "-m", "fragrance_operator.cli", "preflight", "--release", target,
               "--prometheus", url, "-o", "json"]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    return done.returncode, {f["name"]: f for f in json.loads(done.stdout)}


def test_preflight_reports_each_t_minus_1_check(
    cluster: LocalCluster,
    namespace: str,
    prometheus: PrometheusServer,
    serving_exporter: ServingExporter,
    release_name: str,
) -> None:
    release = yaml.safe_load((ROOT / "deploy/samples/fragrancerelease-gateway.yaml").read_text())
    release["metadata"]["name"] = release_name
    policy = yaml.safe_load((ROOT / "deploy/samples/tuningpolicy-default.yaml").read_text())
    policy["spec"]["cache"]["enabled"] = False
    for doc in (release, policy):
        cluster.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(doc))
    serving_exporter.set(release_name, track="stable", vram_used_fraction=0.9)
    target = f"{namespace}/{release_name}"

    def scraped() -> bool:
        return _preflight(cluster, target, prometheus.url)[1]["model/qwen"]["ok"]  # type: ignore[no-any-return]

    wait_for(scraped, "the stable track's health series", 30)
    code, found = _preflight(cluster, target, prometheus.url)
    assert code == 1
    assert found["crd/fragrancereleases.fragrance.ai"]["ok"]
    assert found["prometheus"]["ok"]
    assert not found["traffic"]["ok"]  # no HTTPRoute brief-api in this namespace
    assert found["guard/jsonGuard"]["ok"]
    assert not found["guard/cache"]["ok"]
    assert not found["vramHeadroom"]["ok"]
    assert "10% free" in found["vramHeadroom"]["message"]
    assert all(found[f"model/{m}"]["ok"] for m in ("llama", "mistral", "qwen"))
