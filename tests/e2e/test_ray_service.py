"""Ray Serve under KubeRay: the rayServe provider drives one RayService on the real node.

KubeRay's operator (built from its Go module, started with the cluster) runs the sample
RayService's head and worker from the project's serving image. The operator writes the
release's stable, canary and router applications into the RayService's ``serveConfigV2``
and nothing else; KubeRay submits them; the gate reads the Ray pods' own series, which a
Prometheus finds through the apiserver. The canary is a second application in the same Ray
cluster, never a second RayCluster.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from fragrance_api import serve_app
from fragrance_dev.cluster import LocalCluster
from fragrance_dev.cluster.prometheus import PrometheusServer, ray_serve_jobs
from fragrance_dev.demo.client import Client
from fragrance_dev.demo.scenario import POLICY, DemoConfig, release_doc
from fragrance_dev.images import Built
from fragrance_operator.adapters import ray_service as adapter
from tests.cluster.rollouts import Watcher, apply, operator_process
from tests.e2e.ray_service import local_ray_service, owners, ray_clusters, sample
from tests.helpers import ROOT, wait_for

STEPS = [25, 50, 100]


def _release(name: str, service: str, version: str, faulty: bool = False) -> dict[str, Any]:
    doc = release_doc(DemoConfig(ROOT / "models", steps=tuple(STEPS)), version, faulty)
    doc["metadata"] = {"name": name}
    doc["spec"]["traffic"] = {
        "provider": "rayServe",
        "rayServe": {"rayService": service, "routerApplication": f"{name}-router"},
    }
    doc["spec"]["canary"]["progressDeadline"] = "8m"
    return doc


@pytest.mark.timeout(1800)
def test_a_release_rolls_out_inside_one_ray_service_through_kuberay(
    cluster: LocalCluster,
    namespace: str,
    images: dict[str, Built],
    release_name: str,
    tmp_path: Path,
) -> None:
    service = "brief-api"
    mine = local_ray_service(service, images["serving"].image, ROOT / "models")
    # As Argo CD syncs it (server-side apply under its field manager).
    _sync(cluster, namespace, mine, "argocd-controller")
    # The head starts from the serving image (KubeRay's probes need its wget). A worker is
    # Ready only once Serve's proxy runs on it, after the first applications are written.
    wait_for(lambda: len(ray_clusters(cluster, namespace)) == 1, "KubeRay's RayCluster", 60)

    def head_ready() -> bool:
        got = cluster.kubectl("get", "pods", "-n", namespace, "-l", "ray.io/node-type=head",
                              "-o", "json")  # fmt: skip
        pods = json.loads(got.stdout)["items"]
        statuses = [c for p in pods for c in p["status"].get("containerStatuses", [])]
        return bool(statuses) and all(c["ready"] for c in statuses)

    wait_for(head_ready, "the Ray head pod Ready", 300)

    slots = [serve_app.app_name(release_name, slot) for slot in ("a", "b")]
    prometheus = PrometheusServer(
        tmp_path / "prometheus", [], scrape_interval="2s",
        jobs=ray_serve_jobs(cluster.layout.kubeconfig, namespace, slots),
    )  # fmt: skip
    watcher = Watcher(cluster, namespace, release_name)
    clusters_seen: set[int] = set()
    gates: dict[str, str] = {}  # evaluatedAt -> "version:decision"

    def outcome(version: str, phase: str) -> Any:
        def reached(status: dict[str, Any]) -> bool:
            clusters_seen.add(len(ray_clusters(cluster, namespace)))
            gate = status.get("gate") or {}
            if gate.get("decision") and status.get("canaryVersion") == version:
                gates[gate["evaluatedAt"]] = f"{version}:{gate['decision']}"
            history = status.get("history") or [{}]
            about = status.get("stableVersion") if phase == "Succeeded" else None
            about = about or history[-1].get("version")
            return status.get("phase") == phase and about == version

        return reached

    env = {
        "FRAGRANCE_MODELS_DIR": "/models",  # as the Ray pods mount them
        "FRAGRANCE_CHECKPOINT_DIR": "/tmp/checkpoints",
    }
    policy = {**POLICY, "metadata": {"name": "default"}}
    client: Client | None = None
    try:
        with operator_process(cluster, prometheus.url, tmp_path / "operator.log", namespace, env):
            apply(cluster, namespace, policy)
            apply(cluster, namespace, _release(release_name, service, "v1"))
            watcher.until("v1 stable in the RayService", outcome("v1", "Succeeded"), 420)
            found = cluster.kubectl("get", "rayservice", service, "-n", namespace, "-o", "json")
            head = adapter.head_url(json.loads(found.stdout))
            assert head is not None
            client = Client(f"{head}/{release_name}-router/v1/brief", rate=10, workers=4)
            client.start()
            wait_for(lambda: client is not None and len(client.samples) > 20, "answers", 120)

            apply(cluster, namespace, _release(release_name, service, "v2"))
            watcher.until("v2 promoted in the RayService", outcome("v2", "Succeeded"), 900)
            apply(cluster, namespace, _release(release_name, service, "v3", faulty=True))
            watcher.until("faulty v3 rolled back", outcome("v3", "RolledBack"), 600)

            # Syncs of the sample (no serveConfigV2) by Argo CD and by Flux (which forces its
            # fields) leave the operator's field alone.
            before = _serve_config(cluster, namespace, service)
            _sync(cluster, namespace, mine, "argocd-controller")
            _sync(cluster, namespace, mine, "kustomize-controller", "--force-conflicts")
            assert _serve_config(cluster, namespace, service) == before
    finally:
        if client is not None:
            client.stop()
        prometheus.stop()

    decisions = [gates[at] for at in sorted(gates)]
    print(f"gates: {decisions}; RayClusters seen at once: {sorted(clusters_seen)}")
    assert clusters_seen == {1}, "the canary never needs a second RayCluster"
    assert "v2:GO" in decisions
    assert decisions[-1] == "v3:NO-GO"
    managers = owners(cluster, namespace, service)
    print(f"managed fields of spec: {managers}")
    assert managers["fragrance-operator"] == ["f:serveConfigV2"]
    assert all("f:serveConfigV2" not in fields for m, fields in managers.items()
               if m != "fragrance-operator")  # fmt: skip
    assert "serveConfigV2" not in sample()["spec"]
    assert client is not None
    answered = [s for s in client.samples if s.status == 200]
    lost = [s for s in client.samples if s.status == 0]
    print(f"client: {len(client.samples)} requests, {len(answered)} answered, {len(lost)} lost")
    assert not lost, lost[:5]


def _serve_config(cluster: LocalCluster, namespace: str, name: str) -> dict[str, Any]:
    got = cluster.kubectl("get", "rayservice", name, "-n", namespace, "-o", "json")
    return adapter.parse(json.loads(got.stdout)["spec"].get("serveConfigV2"))


def _sync(
    cluster: LocalCluster, namespace: str, doc: dict[str, Any], manager: str, *flags: str
) -> None:
    cluster.kubectl(
        "apply", "--server-side", f"--field-manager={manager}", *flags, "-n", namespace,
        "-f", "-", input=yaml.safe_dump(doc),
    )  # fmt: skip
