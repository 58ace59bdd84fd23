"""Autoscaling of the GPU worker end to end: a real Prometheus signal, kwok GPU nodes."""

from __future__ import annotations

import json
from typing import Any

import yaml
from kopf.testing import KopfRunner

from fragrance_dev.cluster import LocalCluster
from fragrance_operator.canary.status import seconds
from tests.cluster.rollouts import (
    condition,
    deployment_replicas,
    release_doc,
)
from tests.helpers import wait_for
from tests.serving_exporter import ServingExporter


def apply(
    cluster: LocalCluster, namespace: str, name: str, replicas: int = 2, gpus: int = 1
) -> None:
    doc = release_doc(name, "v1")
    doc["spec"]["workload"] = {"replicas": replicas, "gpusPerReplica": gpus}
    doc["spec"]["scaling"] = {
        "autoscale": True,
        "minReplicas": 1,
        "maxReplicas": 6,
        "targetRequestsPerReplica": 10,
        "scaleUpAfter": "3s",
        "scaleDownCooldown": "8s",
    }
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(doc))


def _status(cluster: LocalCluster, namespace: str, name: str) -> dict[str, Any]:
    got = cluster.kubectl("get", "frel", name, "-n", namespace, "-o", "json")
    return json.loads(got.stdout).get("status", {})  # type: ignore[no-any-return]


def _autoscaling(cluster: LocalCluster, namespace: str, name: str) -> dict[str, Any]:
    return _status(cluster, namespace, name).get("autoscaling") or {}


def test_sustained_load_scales_up_after_vram_and_breach_then_down_after_cooldown(
    operator: KopfRunner,
    cluster: LocalCluster,
    namespace: str,
    serving_exporter: ServingExporter,
    release_name: str,
) -> None:
    # 35 rps over 2 replicas against a target of 10 per replica: 4 replicas wanted (any
    # measured rate in (30, 40] asks for 4, so the scrape's noise does not change the answer).
    serving_exporter.set(release_name, track="stable", rps=35.0, vram_used_fraction=0.85)
    apply(cluster, namespace, release_name)
    stable = f"{release_name}-stable"
    wait_for(lambda: deployment_replicas(cluster, namespace, stable) == 2, "v1 with 2 replicas")
    wait_for(
        lambda: _autoscaling(cluster, namespace, release_name).get("desiredReplicas") == 4,
        "the autoscaler to want 4 replicas",
    )
    wait_for(
        lambda: (
            condition(_status(cluster, namespace, release_name), "ScaleUpBlocked").get("reason")
            == "LowVRAMHeadroom"
        ),
        "the autoscaler's increase held by the VRAM floor",
    )
    assert deployment_replicas(cluster, namespace, stable) == 2, "no scale-up under the floor"
    serving_exporter.set(release_name, track="stable", vram_used_fraction=0.5)
    wait_for(
        lambda: deployment_replicas(cluster, namespace, stable) == 4,
        "scale-up once headroom is back",
    )
    up = _autoscaling(cluster, namespace, release_name)
    assert up["reason"] in ("ScaledUp", "Steady")

    # Load drops to 1 rps per replica: the autoscaler wants 1, but only after the cooldown.
    serving_exporter.set(release_name, track="stable", rps=4.0)
    wait_for(
        lambda: _autoscaling(cluster, namespace, release_name).get("reason") == "ScaleDownPending",
        "a scale-down waiting out the cooldown",
    )
    assert deployment_replicas(cluster, namespace, stable) == 4
    wait_for(
        lambda: deployment_replicas(cluster, namespace, stable) == 1,
        "scale-down after the cooldown",
    )
    down = _autoscaling(cluster, namespace, release_name)
    waited = seconds(down["lastScaleDownAt"]) - seconds(down["lastScaleUpAt"])  # type: ignore[operator]
    assert waited >= 8, f"scale-down {waited:.1f}s after the scale-up, cooldown is 8s"
    reasons = cluster.kubectl(
        "get", "events", "-n", namespace, "-o", "jsonpath={.items[*].reason}"
    ).stdout.split()
    assert {"ScaledUp", "ScaledDown"} <= set(reasons)


def test_growth_stops_at_the_gpus_the_nodes_can_allocate(
    operator: KopfRunner,
    cluster: LocalCluster,
    namespace: str,
    serving_exporter: ServingExporter,
    release_name: str,
) -> None:
    # Two kwok GPU nodes with 8 GPUs each; 8 GPUs a replica, huge load: at most 2 fit.
    serving_exporter.set(release_name, track="stable", rps=1000.0, vram_used_fraction=0.3)
    apply(cluster, namespace, release_name, replicas=1, gpus=8)
    wait_for(
        lambda: _autoscaling(cluster, namespace, release_name).get("gpuLimit") is not None,
        "the autoscaler to read the nodes' GPUs",
    )
    state = _autoscaling(cluster, namespace, release_name)
    assert state["gpuLimit"] <= 2
    assert state["desiredReplicas"] <= max(state["gpuLimit"], 1) < 6

    def pods_scheduled() -> bool:
        got = cluster.kubectl(
            "get", "pods", "-n", namespace, "-l", f"release={release_name},track=stable",
            "-o", "json",
        )  # fmt: skip
        pods = json.loads(got.stdout)["items"]
        desired = _autoscaling(cluster, namespace, release_name)["desiredReplicas"]
        return len(pods) == desired and all(p["spec"].get("nodeName") for p in pods)

    wait_for(pods_scheduled, "every stable pod placed on a GPU node")
