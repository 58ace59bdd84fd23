"""The operator as a process: killed mid-rollout it resumes from status; Prometheus down."""

from __future__ import annotations

import json
import signal
from pathlib import Path

from fragrance_dev.cluster import LocalCluster
from tests.cluster.rollouts import CPU_ONLY, operator_process, promoted, start
from tests.prometheus_server import PrometheusServer
from tests.serving_exporter import ServingExporter


def test_operator_killed_between_steps_resumes_at_the_right_step(
    cluster: LocalCluster,
    namespace: str,
    prometheus: PrometheusServer,
    serving_exporter: ServingExporter,
    release_name: str,
    tmp_path: Path,
) -> None:
    serving_exporter.set(release_name)
    log = tmp_path / "operator.log"
    with operator_process(cluster, prometheus.url, log, namespace) as first:
        watcher = start(cluster, namespace, release_name)
        at_kill = watcher.until("5%", lambda s: s.get("canaryWeight") == 5)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    assert at_kill["status"]["currentStep"] == 1
    with operator_process(cluster, prometheus.url, log, namespace):
        final = watcher.until("v2 promoted", promoted)
    assert watcher.weights == [0, 1, 5, 25, 100, 0], "no step repeated or skipped"
    outcomes = [h["outcome"] for h in final["status"]["history"] if h["version"] == "v2"]
    assert outcomes == ["Succeeded"]


def test_prometheus_down_never_promotes(
    cluster: LocalCluster,
    namespace: str,
    serving_exporter: ServingExporter,
    release_name: str,
    tmp_path: Path,
) -> None:
    serving_exporter.set(release_name)
    with operator_process(cluster, "http://127.0.0.1:9", tmp_path / "operator.log", namespace):
        # CPU-only: with no Prometheus the VRAM floor would hold a GPU canary at 0% instead.
        watcher = start(cluster, namespace, release_name, spec=CPU_ONLY)
        final = watcher.until("paused", lambda s: s.get("phase") == "Paused")
    assert final["status"]["pauseReason"] == "GateInconclusive"
    assert final["status"]["stableVersion"] == "v1"
    assert watcher.weights == [0, 1]
    applicable = [
        c for c in final["status"]["gate"]["checks"] if not c["message"].startswith("skipped")
    ]
    assert all("query failed" in c["message"] for c in applicable)


def test_two_replicas_never_both_act_and_the_standby_takes_over(
    cluster: LocalCluster,
    namespace: str,
    prometheus: PrometheusServer,
    serving_exporter: ServingExporter,
    release_name: str,
    tmp_path: Path,
) -> None:
    serving_exporter.set(release_name)
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    with (
        operator_process(cluster, prometheus.url, logs[0], namespace) as a,
        operator_process(cluster, prometheus.url, logs[1], namespace) as b,
    ):
        watcher = start(cluster, namespace, release_name)
        watcher.until("5%", lambda s: s.get("canaryWeight") == 5)
        holder = json.loads(
            cluster.kubectl(
                "get", "lease", "fragrance-operator", "-n", namespace, "-o", "json"
            ).stdout
        )["spec"]["holderIdentity"]
        leader, standby = (a, b) if f"-{a.pid}-" in holder else (b, a)
        assert f"-{leader.pid}-" in holder
        standby_log = logs[0] if standby is a else logs[1]
        assert "transition" not in standby_log.read_text(), "the standby acted"
        leader.send_signal(signal.SIGKILL)
        leader.wait(timeout=10)
        final = watcher.until("v2 promoted", promoted)
    assert watcher.weights == [0, 1, 5, 25, 100, 0]
    text = standby_log.read_text()
    assert text.index("leader") < text.index("transition")
    assert [h["outcome"] for h in final["status"]["history"] if h["version"] == "v2"] == [
        "Succeeded"
    ]
