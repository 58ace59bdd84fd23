"""The VRAM floor end to end: scripted GPU memory series in a real Prometheus, kwok GPU nodes."""

from __future__ import annotations

from typing import Any

import yaml
from kopf.testing import KopfRunner

from fragrance_dev.cluster import LocalCluster
from tests.cluster.rollouts import (
    condition,
    deployment_replicas,
    promoted,
    release_doc,
    start,
)
from tests.helpers import wait_for
from tests.serving_exporter import ServingExporter


def test_canary_start_blocked_at_15_percent_then_lifted_at_25(
    operator: KopfRunner,
    cluster: LocalCluster,
    namespace: str,
    serving_exporter: ServingExporter,
    release_name: str,
) -> None:
    serving_exporter.set(release_name, track="stable", vram_used_fraction=0.85)
    serving_exporter.set(release_name, vram_used_fraction=0.85)
    watcher = start(cluster, namespace, release_name)
    held = watcher.until(
        "held for low headroom",
        lambda s: condition(s, "ScaleUpBlocked").get("reason") == "LowVRAMHeadroom",
    )
    blocked = condition(held["status"], "ScaleUpBlocked")
    assert blocked["status"] == "True"
    assert held["status"]["pauseReason"] == "ScaleUpBlocked"
    assert "15% < floor 20%" in blocked["message"]
    assert held["status"]["phase"] == "Paused", "paused with the reason, not failed"
    assert deployment_replicas(cluster, namespace, f"{release_name}-canary") == 0
    assert watcher.weights == [0]
    serving_exporter.set(release_name, track="stable", vram_used_fraction=0.75)
    serving_exporter.set(release_name, vram_used_fraction=0.75)
    final = watcher.until("v2 promoted", promoted)
    assert watcher.weights == [0, 1, 5, 25, 100, 0]
    events = cluster.kubectl(
        "get", "events", "-n", namespace, "-o", "jsonpath={.items[*].reason}"
    ).stdout.split()
    assert {"ScaleUpBlocked", "ScaleUpAllowed"} <= set(events)
    assert condition(final["status"], "ScaleUpBlocked")["status"] == "False"


def test_unknown_headroom_blocks_with_its_own_reason(
    operator: KopfRunner,
    cluster: LocalCluster,
    namespace: str,
    release_name: str,
) -> None:
    watcher = start(cluster, namespace, release_name)  # no GPU memory series at all
    held = watcher.until("held", lambda s: s.get("pauseReason") == "ScaleUpBlocked")
    assert condition(held["status"], "ScaleUpBlocked")["reason"] == "HeadroomUnknown"


def test_stable_replicas_increase_waits_scale_down_does_not(
    operator: KopfRunner,
    cluster: LocalCluster,
    namespace: str,
    serving_exporter: ServingExporter,
    release_name: str,
) -> None:
    serving_exporter.set(release_name, track="stable", vram_used_fraction=0.85)
    doc = release_doc(release_name, "v1")
    doc["spec"]["workload"]["replicas"] = 2
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(doc))
    stable = f"{release_name}-stable"
    wait_for(lambda: deployment_replicas(cluster, namespace, stable) == 2, "v1 with 2 replicas")

    def scale(replicas: int) -> None:
        doc["spec"]["workload"]["replicas"] = replicas
        cluster.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(doc))

    def frel() -> dict[str, Any]:
        import json

        got = cluster.kubectl("get", "frel", release_name, "-n", namespace, "-o", "json")
        return json.loads(got.stdout)  # type: ignore[no-any-return]

    scale(3)
    wait_for(
        lambda: condition(frel()["status"], "ScaleUpBlocked").get("status") == "True",
        "ScaleUpBlocked",
    )
    assert deployment_replicas(cluster, namespace, stable) == 2, "the increase waits"
    assert frel()["status"]["phase"] == "Succeeded", "scaling never starts a canary"
    scale(1)
    wait_for(
        lambda: deployment_replicas(cluster, namespace, stable) == 1, "scale-down while blocked"
    )
    scale(2)
    serving_exporter.set(release_name, track="stable", vram_used_fraction=0.5)
    wait_for(
        lambda: deployment_replicas(cluster, namespace, stable) == 2,
        "scale-up once headroom is back",
    )
    wait_for(
        lambda: condition(frel()["status"], "ScaleUpBlocked").get("status") == "False",
        "the block lifted",
    )
