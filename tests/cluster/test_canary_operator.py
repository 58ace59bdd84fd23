"""The operator end to end: kopf (KopfRunner), the local control plane, a real Prometheus."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from kopf.testing import KopfRunner

from fragrance_dev.cluster import LocalCluster
from fragrance_operator.drivers.written import WATCH_LAG_SECONDS
from tests.cluster.rollouts import (
    CPU_ONLY,
    METRICS_PORT,
    ROUTE,
    Watcher,
    apply,
    condition,
    promoted,
    release_doc,
    start,
)
from tests.helpers import wait_for
from tests.serving_exporter import ServingExporter


def test_healthy_canary_walks_every_step_and_is_promoted(
    operator: KopfRunner,
    cluster: LocalCluster,
    namespace: str,
    serving_exporter: ServingExporter,
    release_name: str,
) -> None:
    serving_exporter.set(release_name)
    watcher = start(cluster, namespace, release_name)
    final = watcher.until("v2 promoted", promoted)
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
    watcher = start(cluster, namespace, release_name)
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
    watcher = start(cluster, namespace, release_name)
    final = watcher.until("rolled back", lambda s: s.get("phase") == "RolledBack")
    assert "latencyP95/creative" in final["status"]["history"][-1]["reason"]
    assert watcher.weights == [0, 1, 0]
    check = next(c for c in final["status"]["gate"]["checks"] if c["name"] == "latencyP95/creative")
    assert (check["result"], check["threshold"]) == ("NO-GO", 4.5)


def test_a_canary_slower_than_stable_within_budget_is_rolled_back_by_the_comparison(
    operator: KopfRunner,
    cluster: LocalCluster,
    namespace: str,
    serving_exporter: ServingExporter,
    release_name: str,
) -> None:
    serving_exporter.set(release_name, "stable")
    # Creative 40% slower than stable's 2.5 s, well inside the fixed 4.5 s budget.
    serving_exporter.set(release_name, latency={"fast": 0.8, "balanced": 1.5, "creative": 3.5})
    compare = [
        {"check": "latencyP95", "relative": 0.2},
        {"check": "errorRate5xx", "absolute": 0.02},
    ]
    analysis = {"interval": "3s", "minRequests": 10, "minRequestsPerMode": 5}
    watcher = start(
        cluster, namespace, release_name, analysis={**analysis, "compareWithStable": compare}
    )
    final = watcher.until("rolled back", lambda s: s.get("phase") == "RolledBack")
    assert watcher.weights == [0, 1, 0]
    assert "latencyP95.vsStable/creative" in final["status"]["history"][-1]["reason"]
    checks = {c["name"]: c for c in final["status"]["gate"]["checks"]}
    assert checks["latencyP95/creative"]["result"] == "GO"  # the fixed budget alone passes it
    slower = checks["latencyP95.vsStable/creative"]
    assert slower["result"] == "NO-GO"
    assert slower["value"] > slower["threshold"] == pytest.approx(1.2 * slower["stableValue"])
    assert slower["sample"] >= 5
    assert checks["errorRate5xx.vsStable"]["stableValue"] == 0


def test_no_data_is_inconclusive_and_pauses_after_the_limit(
    operator: KopfRunner, cluster: LocalCluster, namespace: str, release_name: str
) -> None:
    # Nothing exports this release's series; CPU-only so the VRAM floor does not apply.
    watcher = start(cluster, namespace, release_name, spec=CPU_ONLY)
    final = watcher.until("paused", lambda s: s.get("phase") == "Paused")
    assert final["status"]["pauseReason"] == "GateInconclusive"
    assert final["status"]["gate"]["decision"] == "INCONCLUSIVE"
    assert final["status"]["analysis"]["inconclusiveStreak"] == 3
    assert watcher.weights == [0, 1]
    ready = condition(final["status"], "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "GateInconclusive")


def test_warning_holds_the_step_then_pauses(
    operator: KopfRunner,
    cluster: LocalCluster,
    namespace: str,
    serving_exporter: ServingExporter,
    release_name: str,
) -> None:
    serving_exporter.set(release_name, cache_hit=0.3)
    watcher = start(cluster, namespace, release_name)
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
    watcher = start(cluster, namespace, release_name, manualPromotion=True)
    watcher.until("awaiting promotion", lambda s: s.get("pauseReason") == "AwaitingPromotion")
    assert watcher.weights == [0, 1, 5, 25]
    cluster.kubectl(
        "annotate", "frel", release_name, "-n", namespace, "fragrance.ai/action=promote"
    )
    final = watcher.until("promoted", promoted)
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
    watcher = start(cluster, namespace, release_name, stepInterval="30s")
    watcher.until("1%", lambda s: s.get("canaryWeight") == 1)
    cluster.kubectl("annotate", "frel", release_name, "-n", namespace, "fragrance.ai/action=abort")
    final = watcher.until("aborted", lambda s: s.get("phase") == "RolledBack")
    assert final["status"]["history"][-1]["outcome"] == "Aborted"
    assert watcher.route_weight() == 0


def test_progress_deadline_fails_with_a_reason(
    operator: KopfRunner, cluster: LocalCluster, namespace: str, release_name: str
) -> None:
    watcher = start(
        cluster,
        namespace,
        release_name,
        spec=CPU_ONLY,
        progressDeadline="8s",
        analysis={"interval": "2s", "minRequests": 10, "inconclusiveLimit": 50},
    )
    final = watcher.until("failed", lambda s: s.get("phase") == "Failed")
    assert "progress deadline" in final["status"]["history"][-1]["reason"]
    stalled = condition(final["status"], "Stalled")
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
    watcher = start(cluster, namespace, release_name)
    watcher.until("5%", lambda s: s.get("canaryWeight") == 5)
    apply(cluster, namespace, release_doc(release_name, "v3"))
    final = watcher.until(
        "v3 promoted",
        lambda s: s.get("phase") == "Succeeded" and s.get("stableVersion") == "v3",
    )
    assert watcher.weights == [0, 1, 5, 0, 1, 5, 25, 100, 0]
    assert [h["version"] for h in final["status"]["history"]][-1] == "v3"


def _serving_env(deployment: dict[str, Any] | None) -> dict[str, str]:
    assert deployment is not None
    containers = deployment["spec"]["template"]["spec"]["containers"]
    serving = next(c for c in containers if c["name"] == "serving")
    return {e["name"]: e.get("value", "") for e in serving.get("env", [])}


def _app_config(watcher: Watcher, track: str) -> dict[str, Any] | None:
    found = watcher.get("configmap", f"{watcher.name}-{track}-app")
    return None if found is None else json.loads(found["data"]["app.yaml"])


def test_stable_pods_keep_their_template_and_config_until_the_canary_is_promoted(
    operator: KopfRunner,
    cluster: LocalCluster,
    namespace: str,
    serving_exporter: ServingExporter,
    release_name: str,
) -> None:
    serving_exporter.set(release_name)
    apply(cluster, namespace, ROUTE)
    apply(cluster, namespace, release_doc(release_name, "v1"))
    watcher = Watcher(cluster, namespace, release_name)
    watcher.until("v1 stable", lambda s: s.get("phase") == "Succeeded")
    v2 = release_doc(release_name, "v2")
    container = {"name": "serving", "env": [{"name": "TEAM_FLAG", "value": "v2-only"}]}
    v2["spec"]["workload"]["template"] = {"spec": {"containers": [container]}}
    v2["spec"]["models"][0]["faults"] = {"delaySeconds": 0.01}
    apply(cluster, namespace, v2)
    watcher.until("5%", lambda s: s.get("canaryWeight") == 5)

    # Mid-rollout the stable pods run v1 as it was: the new template and faults are v2's.
    stable = watcher.get("deployment", f"{release_name}-stable")
    assert "TEAM_FLAG" not in _serving_env(stable)
    assert _serving_env(stable)["FRAGRANCE_POLICY_FILE"] == "/etc/fragrance/policy/policy.json"
    assert _serving_env(watcher.get("deployment", f"{release_name}-canary"))["TEAM_FLAG"] == (
        "v2-only"
    )
    stable_config, canary_config = _app_config(watcher, "stable"), _app_config(watcher, "canary")
    assert stable_config is not None
    assert canary_config is not None
    assert (stable_config["version"], stable_config["track"]) == ("v1", "stable")
    assert (canary_config["version"], canary_config["track"]) == ("v2", "canary")
    assert "faults" not in stable_config["models"][0]
    assert canary_config["models"][0]["faults"]["delaySeconds"] == 0.01

    watcher.until("v2 promoted", promoted)
    wait_for(
        lambda: (
            _serving_env(watcher.get("deployment", f"{release_name}-stable")).get("TEAM_FLAG")
            == "v2-only"
        ),
        "the stable Deployment to take v2's template",
    )
    promoted_config = _app_config(watcher, "stable")
    assert promoted_config is not None
    assert (promoted_config["version"], promoted_config["track"]) == ("v2", "stable")
    wait_for(lambda: _app_config(watcher, "canary") is None, "the canary's config removed")


def test_a_service_deleted_behind_the_operators_back_is_back_within_seconds(
    operator: KopfRunner, cluster: LocalCluster, namespace: str, release_name: str
) -> None:
    """Repaired from the watch of Services, not at the resync of what was written (5 to 10
    minutes): a release at rest writes nothing until then."""
    apply(cluster, namespace, ROUTE)
    apply(cluster, namespace, release_doc(release_name, "v1"))
    watcher = Watcher(cluster, namespace, release_name)
    watcher.until("v1 stable", lambda s: s.get("phase") == "Succeeded")
    name = f"{release_name}-stable"
    wait_for(lambda: watcher.get("service", name) is not None, "the stable Service")
    cluster.kubectl("delete", "service", name, "-n", namespace)
    assert watcher.get("service", name) is None
    # The watch may lag a write by WATCH_LAG_SECONDS before "not watched" means "deleted";
    # then the release's next tick (a quiet release ticks every 10 s).
    wait_for(
        lambda: watcher.get("service", name) is not None,
        "the stable Service applied again",
        timeout=WATCH_LAG_SECONDS + 20,
    )


def test_a_deleted_release_leaves_no_series_behind(
    operator: KopfRunner, cluster: LocalCluster, namespace: str, release_name: str
) -> None:
    """Forgotten when kopf stops its loop for the deletion (no kopf delete handler)."""
    apply(cluster, namespace, ROUTE)
    apply(cluster, namespace, release_doc(release_name, "v1"))
    watcher = Watcher(cluster, namespace, release_name)
    watcher.until("v1 stable", lambda s: s.get("phase") == "Succeeded")
    series = f'fragrance_canary_weight{{namespace="{namespace}",release="{release_name}"}}'
    url = f"http://127.0.0.1:{METRICS_PORT}/metrics"
    wait_for(lambda: series in urllib.request.urlopen(url).read().decode(), "its series")
    cluster.kubectl("delete", "frel", release_name, "-n", namespace, "--wait=true")
    wait_for(lambda: series not in urllib.request.urlopen(url).read().decode(), "no series", 20)


def test_nginx_canary_ingress_carries_every_weight(
    operator: KopfRunner,
    cluster: LocalCluster,
    namespace: str,
    serving_exporter: ServingExporter,
    release_name: str,
) -> None:
    serving_exporter.set(release_name)
    watcher = start(cluster, namespace, release_name, nginx=True)
    watcher.until("v2 promoted", promoted)
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
    watcher = start(cluster, namespace, release_name, stepInterval="60s")
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
