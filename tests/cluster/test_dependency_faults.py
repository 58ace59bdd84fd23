"""Chaos: the operator's dependencies fail under a live rollout — Prometheus killed for
longer than the analysis interval, Prometheus frozen past the query timeout, the HTTPRoute
deleted by someone else, the canary's pods deleted at a step boundary. The same invariants
as the crash points, from the apiserver and the route's weights: no step skipped or
repeated (a canary that lost its pods gives its share back to stable and takes it again at
the same step), no step taken without data, one history entry, the phase the world shows; and the
operator's memory and open sockets, read from /proc, back to their level afterwards."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from fragrance_dev.cluster import LocalCluster
from tests.cluster.rollouts import (
    CPU_ONLY,
    ROUTE,
    STEPS,
    Footprint,
    Watcher,
    Weights,
    apply,
    decisions,
    one_history_entry,
    operator_process,
    peers,
    promoted,
    seconds,
    start,
)
from tests.helpers import wait_for
from tests.prometheus_server import PrometheusServer
from tests.serving_exporter import ServingExporter

# Enough inconclusive windows in a row that an outage of a few windows holds, not pauses.
PATIENT: dict[str, Any] = {
    "analysis": {
        "interval": "3s",
        "minRequests": 10,
        "minRequestsPerMode": 5,
        "inconclusiveLimit": 20,
    }
}


@pytest.fixture
def own_prometheus(serving_exporter: ServingExporter, tmp_path: Path) -> Any:
    """A Prometheus of this test's own, which it may kill and start again on the same port."""
    servers = [PrometheusServer(tmp_path / "prometheus", [f"127.0.0.1:{serving_exporter.port}"])]
    yield servers
    servers[-1].stop()


@contextmanager
def at_five_percent(
    cluster: LocalCluster,
    namespace: str,
    name: str,
    prometheus_url: str,
    tmp_path: Path,
    **canary: Any,
) -> Iterator[tuple[Weights, Watcher]]:
    """The operator running and v2's canary at step 2 (5%), the route's weights recorded;
    once the test is done with it, the operator's footprint back to what it was at 5%."""
    with operator_process(cluster, prometheus_url, tmp_path / "operator.log", namespace) as op:
        weights = Weights(cluster, namespace, name)
        watcher = start(cluster, namespace, name, spec=CPU_ONLY, **canary)
        watcher.until("5%", lambda s: s.get("canaryWeight") == 5)
        before = Footprint.of(op.pid)
        yield weights, watcher
        # A frozen Prometheus holds all 16 of a gate's queries at once, and the client's pool
        # keeps the 16 connections it then opened (seen after: 16 to one port, 8 to another,
        # 18 sockets in all before): bounded, so allowed; a connection leaked per failed
        # call would pass it within two gates.
        after = before.settled_back(op.pid, "the fault", extra_sockets=16)
        print(f"{name}: operator {before} at 5%, {after} after the fault; {peers(op.pid)}")


def _held(weights: Weights, duration: float) -> int:
    """The weight stays where it is for ``duration`` seconds (the gate has nothing to judge)."""
    before = list(weights.seen)
    deadline = time.monotonic() + duration
    while time.monotonic() < deadline:
        moved = f"the weight moved during the fault: {before} -> {weights.seen}"
        assert weights.seen == before, moved
        time.sleep(0.2)
    return before[-1]


def test_prometheus_killed_longer_than_a_window_holds_then_the_rollout_goes_on(
    cluster: LocalCluster,
    namespace: str,
    own_prometheus: list[PrometheusServer],
    serving_exporter: ServingExporter,
    release_name: str,
    tmp_path: Path,
    recovery: dict[str, float],
) -> None:
    serving_exporter.set(release_name)
    first = own_prometheus[0]
    with at_five_percent(cluster, namespace, release_name, first.url, tmp_path, **PATIENT) as (
        weights,
        watcher,
    ):
        first.stop()  # gone: connections refused
        at = _held(weights, 9)  # three analysis windows
        own_prometheus.append(
            PrometheusServer(
                tmp_path / "prometheus", [f"127.0.0.1:{serving_exporter.port}"], port=first.port
            )
        )
        back = time.monotonic()
        wait_for(lambda: weights.seen[-1] != at, "a step after Prometheus came back", 90)
        recovery["prometheus killed 9s"] = time.monotonic() - back
        final = watcher.until("v2 promoted", promoted)
    assert weights.done() == STEPS, f"the route's watch was relisted {weights.relists} times"
    assert final["status"]["gate"]["decision"] == "GO"
    one_history_entry(final, "v2", "Succeeded")


def test_prometheus_frozen_past_the_query_timeout_holds_then_the_rollout_goes_on(
    cluster: LocalCluster,
    namespace: str,
    own_prometheus: list[PrometheusServer],
    serving_exporter: ServingExporter,
    release_name: str,
    tmp_path: Path,
    recovery: dict[str, float],
) -> None:
    serving_exporter.set(release_name)
    server = own_prometheus[0]
    with at_five_percent(cluster, namespace, release_name, server.url, tmp_path, **PATIENT) as (
        weights,
        watcher,
    ):
        server.process.send_signal(signal.SIGSTOP)  # accepts connections, never answers
        try:
            at = _held(weights, 12)  # past the 5 s query timeout, twice
        finally:
            server.process.send_signal(signal.SIGCONT)
        back = time.monotonic()
        wait_for(lambda: weights.seen[-1] != at, "a step after Prometheus answered again", 90)
        recovery["prometheus frozen 12s"] = time.monotonic() - back
        final = watcher.until("v2 promoted", promoted)
    assert weights.done() == STEPS
    one_history_entry(final, "v2", "Succeeded")


def test_the_httproute_deleted_by_someone_else_holds_the_step_until_it_is_back(
    cluster: LocalCluster,
    namespace: str,
    prometheus: PrometheusServer,
    serving_exporter: ServingExporter,
    release_name: str,
    tmp_path: Path,
    recovery: dict[str, float],
) -> None:
    serving_exporter.set(release_name)
    with at_five_percent(cluster, namespace, release_name, prometheus.url, tmp_path) as (
        weights,
        watcher,
    ):
        cluster.kubectl("delete", "httproute", "brief-api", "-n", namespace)
        gone = time.monotonic() + 9  # three analysis windows with no route
        while time.monotonic() < gone:
            status = watcher.release()["status"]
            # A GO on the step already carried may move status one step on; its weight is
            # never written, so nothing is judged or promoted until the route is back.
            assert status["canaryWeight"] in (5, 25), status
            assert status["phase"] == "Progressing", status
            time.sleep(0.5)
        events = cluster.kubectl(
            "get", "events", "-n", namespace, "-o", "jsonpath={.items[*].reason}"
        ).stdout.split()
        assert "TrafficNotSet" in events
        apply(cluster, namespace, ROUTE)  # the owner puts it back, with no weights
        back = time.monotonic()
        final = watcher.until("v2 promoted", promoted)
        recovery["httproute deleted 9s"] = time.monotonic() - back
    seen = weights.done()
    # Re-applied, the route reads 0 until the operator writes the step's weight again.
    steps = [w for i, w in enumerate(seen) if w or i in (0, len(seen) - 1)]
    assert [w for i, w in enumerate(steps) if i == 0 or w != steps[i - 1]] == STEPS, seen
    one_history_entry(final, "v2", "Succeeded")


def test_the_apiserver_and_etcd_restarted_mid_rollout_and_the_rollout_goes_on(
    cluster: LocalCluster,
    namespace: str,
    prometheus: PrometheusServer,
    serving_exporter: ServingExporter,
    release_name: str,
    tmp_path: Path,
    recovery: dict[str, float],
) -> None:
    serving_exporter.set(release_name)
    with at_five_percent(cluster, namespace, release_name, prometheus.url, tmp_path) as (
        weights,
        watcher,
    ):
        at = weights.seen[-1]
        # Longer than the operator's Lease (4 s): it stops acting, then takes the Lease again.
        gone = cluster.restart("kube-apiserver", "etcd", down_for=5)
        back = time.monotonic()
        wait_for(lambda: weights.seen[-1] != at, "a step after the apiserver came back", 90)
        recovery[f"apiserver and etcd restarted ({gone:.0f}s gone)"] = time.monotonic() - back
        final = watcher.until("v2 promoted", promoted)
    assert weights.done() == STEPS, f"the route's watch was relisted {weights.relists} times"
    assert final["status"]["gate"]["decision"] == "GO"
    one_history_entry(final, "v2", "Succeeded")


def test_the_canarys_pods_evicted_with_nowhere_to_go_send_its_share_to_stable_until_back(
    cluster: LocalCluster,
    namespace: str,
    prometheus: PrometheusServer,
    serving_exporter: ServingExporter,
    release_name: str,
    tmp_path: Path,
    recovery: dict[str, float],
) -> None:
    serving_exporter.set(release_name)
    nodes = cluster.kubectl("get", "nodes", "-o", "name").stdout.split()
    # A step of 12 s (windows of 3 s): no GO can move 5% on before the readiness of the pods
    # deleted below reaches the operator (a 3 s step raced it, one run in five).
    with at_five_percent(
        cluster, namespace, release_name, prometheus.url, tmp_path, stepInterval="12s"
    ) as (weights, watcher):
        # Every node cordoned, then the canary's pods deleted: their replacements stay
        # Pending, and the canary is not Ready, while the exporter's series still say GO.
        cluster.kubectl("cordon", *nodes)
        try:
            cluster.kubectl(
                "delete", "pods", "-n", namespace, "-l", f"release={release_name},track=canary",
            )  # fmt: skip
            deleted = time.monotonic()
            # One analysis window (3 s) of grace, then its 5% goes back to stable.
            wait_for(lambda: weights.seen[-1] == 0, "the canary's share back to stable", 20)
            recovery["canary pods evicted: its share withdrawn"] = time.monotonic() - deleted
            status = watcher.release()["status"]
            assert (status["phase"], status["pauseReason"]) == ("Paused", "CanaryUnavailable")
            assert status["currentStep"] == 1
            assert _held(weights, 6) == 0, "no traffic back to a canary without pods"
        finally:
            cluster.kubectl("uncordon", *nodes)
        back = time.time()
        final = watcher.until("v2 promoted", promoted)
        recovery["canary pods evicted: promoted after the uncordon"] = time.time() - back
    # 5% taken away and given back at the same step, then the steps as always.
    assert weights.done() == [0, 1, 5, 0, 5, 25, 100, 0]
    one_history_entry(final, "v2", "Succeeded")
    recorded = [d for d in decisions(cluster, namespace, release_name, "v2") if d["step"] == 1]
    advanced = [d for d in recorded if "StepAdvanced" in d["applied"]]
    assert len(advanced) == 1, recorded
    # 5% became 25% only on a GO judged once its pods could run again.
    assert seconds(advanced[0]["at"]) >= back, (advanced[0], back)
