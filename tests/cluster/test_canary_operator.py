"""The operator end to end: kopf (KopfRunner), the local control plane, a real Prometheus."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kopf.testing import KopfRunner

from fragrance_dev.cluster import LocalCluster
from tests.helpers import release_manifest, wait_for
from tests.prometheus_server import PrometheusServer, free_port
from tests.serving_exporter import ServingExporter

METRICS_PORT = free_port()


@pytest.fixture(scope="module")
def operator(cluster: LocalCluster, prometheus: PrometheusServer) -> Iterator[KopfRunner]:
    os.environ["KUBECONFIG"] = str(cluster.layout.kubeconfig)
    os.environ["FRAGRANCE_PROMETHEUS_URL"] = prometheus.url
    os.environ["FRAGRANCE_TICK"] = "0.5"
    os.environ["FRAGRANCE_LEASE_SECONDS"] = "4"
    os.environ["FRAGRANCE_METRICS_PORT"] = str(METRICS_PORT)
    args = ["run", "--all-namespaces", "--standalone", "-m", "fragrance_operator.main"]
    with KopfRunner(args, timeout=60) as runner:
        yield runner
    assert runner.exception is None, runner.output[-3000:]


def _release(name: str, version: str, **canary: Any) -> dict[str, Any]:
    doc = release_manifest(name, version)
    doc["spec"]["canary"].update({"progressDeadline": "2m", **canary})
    return doc


CPU_ONLY = {"workload": {"replicas": 1, "gpusPerReplica": 0}}
ROUTE = {
    "apiVersion": "gateway.networking.k8s.io/v1",
    "kind": "HTTPRoute",
    "metadata": {"name": "brief-api"},
    "spec": {"rules": [{"backendRefs": []}]},
}


class Watcher:
    def __init__(
        self, cluster: LocalCluster, namespace: str, name: str, nginx: bool = False
    ) -> None:
        self.cluster, self.namespace, self.name, self.nginx = cluster, namespace, name, nginx
        self.weights: list[int] = []

    def get(self, kind: str, name: str) -> dict[str, Any] | None:
        got = self.cluster.kubectl(
            "get", kind, name, "-n", self.namespace, "-o", "json", check=False
        )
        return json.loads(got.stdout) if got.returncode == 0 else None

    def release(self) -> dict[str, Any]:
        found = self.get("frel", self.name)
        assert found is not None
        return found

    def route_weight(self) -> int:
        if self.nginx:
            canary = self.get("ingress", "brief-api-canary") or {}
            annotations = canary.get("metadata", {}).get("annotations", {})
            weight = int(annotations.get("nginx.ingress.kubernetes.io/canary-weight", 0))
        else:
            route = self.get("httproute", "brief-api") or {}
            refs = route.get("spec", {}).get("rules", [{}])[0].get("backendRefs", [])
            weight = next((r["weight"] for r in refs if r["name"] == f"{self.name}-canary"), 0)
        if not self.weights or self.weights[-1] != weight:
            self.weights.append(weight)
        return int(weight)

    def until(self, what: str, condition: Any, timeout: float = 90) -> dict[str, Any]:
        def check() -> bool:
            self.route_weight()
            return bool(condition(self.release().get("status", {})))

        wait_for(check, what, timeout)
        # Status is written before the world converges to it: wait for the traffic to follow.
        wait_for(
            lambda: self.route_weight() == self.release()["status"].get("canaryWeight", 0),
            f"traffic to follow status after {what}",
            30,
        )
        return self.release()


def _apply(cluster: LocalCluster, namespace: str, doc: dict[str, Any]) -> None:
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(doc))


INGRESS = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "Ingress",
    "metadata": {"name": "brief-api"},
    "spec": {
        "ingressClassName": "nginx",
        "rules": [
            {
                "host": "brief.example.com",
                "http": {
                    "paths": [
                        {
                            "path": "/",
                            "pathType": "Prefix",
                            "backend": {"service": {"name": "x-stable", "port": {"number": 8000}}},
                        }
                    ]
                },
            }
        ],
    },
}


def _start(
    cluster: LocalCluster,
    namespace: str,
    name: str,
    nginx: bool = False,
    spec: dict[str, Any] | None = None,
    **canary: Any,
) -> Watcher:
    """v1 deployed as stable, then v2 applied: the canary starts."""
    _apply(cluster, namespace, INGRESS if nginx else ROUTE)
    docs = [_release(name, version, **canary) for version in ("v1", "v2")]
    for doc in docs:
        if nginx:
            doc["spec"]["traffic"] = {"provider": "nginx", "nginx": {"ingress": "brief-api"}}
        doc["spec"].update(spec or {})
    _apply(cluster, namespace, docs[0])
    watcher = Watcher(cluster, namespace, name, nginx)
    watcher.until("v1 stable", lambda s: s.get("phase") == "Succeeded")
    _apply(cluster, namespace, docs[1])
    return watcher


def _promoted(status: dict[str, Any]) -> bool:
    return status.get("phase") == "Succeeded" and status.get("stableVersion") == "v2"


def _condition(release: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(c for c in release["status"]["conditions"] if c["type"] == kind)


def test_healthy_canary_walks_every_step_and_is_promoted(
    operator: KopfRunner,
    cluster: LocalCluster,
    namespace: str,
    serving_exporter: ServingExporter,
    release_name: str,
) -> None:
    serving_exporter.set(release_name)
    watcher = _start(cluster, namespace, release_name)
    final = watcher.until("v2 promoted", _promoted)
    assert watcher.weights == [0, 1, 5, 25, 100, 0]
    assert final["status"]["history"][-1]["outcome"] == "Succeeded"
    conditions = {c["type"]: c["status"] for c in final["status"]["conditions"]}
    assert conditions == {
        "Ready": "True",
        "Reconciling": "False",
        "Stalled": "False",
        "ScaleUpBlocked": "False",
    }
    stable = watcher.get("deployment", f"{release_name}-stable")
    assert stable is not None
    assert stable["spec"]["template"]["spec"]["containers"][0]["image"] == "serving:v2"
    wait_for(lambda: watcher.get("deployment", f"{release_name}-canary") is None, "canary removed")
    assert final["status"]["observedGeneration"] == final["metadata"]["generation"]
    events = cluster.kubectl(
        "get", "events", "-n", namespace, "-o", "jsonpath={.items[*].reason}"
    ).stdout.split()
    assert {"Started", "Progressing", "StepAdvanced", "Promoting", "Promoted"} <= set(events)
    scraped = urllib.request.urlopen(f"http://127.0.0.1:{METRICS_PORT}/metrics").read().decode()
    series = f'namespace="{namespace}",phase="Succeeded",release="{release_name}"'
    assert f"fragrance_release_phase{{{series}}} 1.0" in scraped
    assert f'fragrance_canary_weight{{namespace="{namespace}",release="{release_name}"}} 0.0' in (
        scraped
    )
    assert "fragrance_gate_duration_seconds_count" in scraped


def test_5xx_spike_at_25_percent_rolls_back(
    operator: KopfRunner,
    cluster: LocalCluster,
    namespace: str,
    serving_exporter: ServingExporter,
    release_name: str,
) -> None:
    serving_exporter.set(release_name)
    watcher = _start(cluster, namespace, release_name)
    watcher.until("25%", lambda s: s.get("canaryWeight") == 25)
    serving_exporter.set(release_name, error_5xx=0.3)
    final = watcher.until("rolled back", lambda s: s.get("phase") == "RolledBack")
    assert final["status"]["stableVersion"] == "v1"
    last = final["status"]["history"][-1]
    assert last["outcome"] == "RolledBack"
    assert "errorRate5xx" in last["reason"]
    assert final["status"]["analysis"]["noGoCount"] == 1, "rolled back at the first NO-GO"
    assert watcher.route_weight() == 0
    assert 100 not in watcher.weights
    wait_for(lambda: watcher.get("deployment", f"{release_name}-canary") is None, "canary removed")
    stalled = {c["type"]: c for c in final["status"]["conditions"]}["Stalled"]
    assert (stalled["status"], stalled["reason"]) == ("True", "RolledBack")


def test_creative_p95_over_budget_rolls_back(
    operator: KopfRunner,
    cluster: LocalCluster,
    namespace: str,
    serving_exporter: ServingExporter,
    release_name: str,
) -> None:
    serving_exporter.set(release_name, latency={"fast": 0.8, "balanced": 1.5, "creative": 5.5})
    watcher = _start(cluster, namespace, release_name)
    final = watcher.until("rolled back", lambda s: s.get("phase") == "RolledBack")
    assert "latencyP95/creative" in final["status"]["history"][-1]["reason"]
    assert watcher.weights == [0, 1, 0]
    check = next(c for c in final["status"]["gate"]["checks"] if c["name"] == "latencyP95/creative")
    assert (check["result"], check["threshold"]) == ("NO-GO", 4.5)


def test_no_data_is_inconclusive_and_pauses_after_the_limit(
    operator: KopfRunner, cluster: LocalCluster, namespace: str, release_name: str
) -> None:
    # Nothing exports this release's series; CPU-only so the VRAM floor does not apply.
    watcher = _start(cluster, namespace, release_name, spec=CPU_ONLY)
    final = watcher.until("paused", lambda s: s.get("phase") == "Paused")
    assert final["status"]["pauseReason"] == "GateInconclusive"
    assert final["status"]["gate"]["decision"] == "INCONCLUSIVE"
    assert final["status"]["analysis"]["inconclusiveStreak"] == 3
    assert watcher.weights == [0, 1]
    ready = _condition(final, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "GateInconclusive")


def test_warning_holds_the_step_then_pauses(
    operator: KopfRunner,
    cluster: LocalCluster,
    namespace: str,
    serving_exporter: ServingExporter,
    release_name: str,
) -> None:
    serving_exporter.set(release_name, cache_hit=0.3)
    watcher = _start(cluster, namespace, release_name)
    final = watcher.until("paused", lambda s: s.get("phase") == "Paused")
    assert final["status"]["pauseReason"] == "GateWarning"
    assert watcher.weights == [0, 1], "a WARNING never advances a step"
    assert "cacheHitRate" in final["status"]["gate"]["checks"][-1]["name"]


def test_manual_promotion_waits_then_promote_annotation_finishes(
    operator: KopfRunner,
    cluster: LocalCluster,
    namespace: str,
    serving_exporter: ServingExporter,
    release_name: str,
) -> None:
    serving_exporter.set(release_name)
    watcher = _start(cluster, namespace, release_name, manualPromotion=True)
    watcher.until("awaiting promotion", lambda s: s.get("pauseReason") == "AwaitingPromotion")
    assert watcher.weights == [0, 1, 5, 25]
    cluster.kubectl(
        "annotate", "frel", release_name, "-n", namespace, "fragrance.ai/action=promote"
    )
    final = watcher.until("promoted", _promoted)
    assert "fragrance.ai/action" not in final["metadata"].get("annotations", {})
    assert final["status"]["history"][-1]["reason"] == "promoted"


def test_abort_annotation_rolls_back_now(
    operator: KopfRunner,
    cluster: LocalCluster,
    namespace: str,
    serving_exporter: ServingExporter,
    release_name: str,
) -> None:
    serving_exporter.set(release_name)
    watcher = _start(cluster, namespace, release_name, stepInterval="30s")
    watcher.until("1%", lambda s: s.get("canaryWeight") == 1)
    cluster.kubectl("annotate", "frel", release_name, "-n", namespace, "fragrance.ai/action=abort")
    final = watcher.until("aborted", lambda s: s.get("phase") == "RolledBack")
    assert final["status"]["history"][-1]["outcome"] == "Aborted"
    assert watcher.route_weight() == 0


def test_progress_deadline_fails_with_a_reason(
    operator: KopfRunner, cluster: LocalCluster, namespace: str, release_name: str
) -> None:
    watcher = _start(
        cluster,
        namespace,
        release_name,
        spec=CPU_ONLY,
        progressDeadline="8s",
        analysis={"interval": "2s", "minRequests": 10, "inconclusiveLimit": 50},
    )
    final = watcher.until("failed", lambda s: s.get("phase") == "Failed")
    assert "progress deadline" in final["status"]["history"][-1]["reason"]
    stalled = _condition(final, "Stalled")
    assert (stalled["status"], stalled["reason"]) == ("True", "ProgressDeadlineExceeded")
    assert watcher.route_weight() == 0


def test_spec_edit_mid_rollout_restarts_the_analysis(
    operator: KopfRunner,
    cluster: LocalCluster,
    namespace: str,
    serving_exporter: ServingExporter,
    release_name: str,
) -> None:
    serving_exporter.set(release_name)
    watcher = _start(cluster, namespace, release_name)
    watcher.until("5%", lambda s: s.get("canaryWeight") == 5)
    _apply(cluster, namespace, _release(release_name, "v3"))
    final = watcher.until(
        "v3 promoted",
        lambda s: s.get("phase") == "Succeeded" and s.get("stableVersion") == "v3",
    )
    assert watcher.weights == [0, 1, 5, 0, 1, 5, 25, 100, 0]
    assert [h["version"] for h in final["status"]["history"]][-1] == "v3"


def test_nginx_canary_ingress_carries_every_weight(
    operator: KopfRunner,
    cluster: LocalCluster,
    namespace: str,
    serving_exporter: ServingExporter,
    release_name: str,
) -> None:
    serving_exporter.set(release_name)
    watcher = _start(cluster, namespace, release_name, nginx=True)
    watcher.until("v2 promoted", _promoted)
    assert watcher.weights == [0, 1, 5, 25, 100, 0]
    wait_for(lambda: watcher.get("ingress", "brief-api-canary") is None, "canary ingress removed")


def test_kubectl_plugin_status_pause_resume_abort(
    operator: KopfRunner,
    cluster: LocalCluster,
    namespace: str,
    serving_exporter: ServingExporter,
    release_name: str,
) -> None:
    serving_exporter.set(release_name)
    watcher = _start(cluster, namespace, release_name, stepInterval="60s")
    watcher.until("1%", lambda s: s.get("canaryWeight") == 1)
    env = {
        **os.environ,
        "KUBECONFIG": str(cluster.layout.kubeconfig),
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }

    def plugin(*args: str) -> str:
        kubectl = str(cluster.layout.bin / "kubectl")
        done = subprocess.run(
            [kubectl, "fragrance", *args, release_name, "-n", namespace],
            env=env, capture_output=True, text=True, check=True,
        )  # fmt: skip
        return done.stdout

    plugin("pause")
    watcher.until("paused", lambda s: s.get("pauseReason") == "PausedByUser")
    shown = plugin("status")
    assert f"{namespace}/{release_name}: Paused" in shown
    assert "PausedByUser" in shown
    assert "weight 1%" in shown
    plugin("resume")
    watcher.until("resumed", lambda s: s.get("phase") == "Progressing")
    plugin("abort")
    final = watcher.until("aborted", lambda s: s.get("phase") == "RolledBack")
    assert final["status"]["history"][-1]["outcome"] == "Aborted"
