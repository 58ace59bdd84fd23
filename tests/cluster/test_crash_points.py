"""Chaos: the operator SIGKILLed at each of its crash points, then started again. The
invariants are read from the apiserver (status, the HTTPRoute, the Deployments), not from the
operator's log: weights follow the steps in order, none skipped or repeated; no promotion
without a GO; the release ends in the phase the world shows; one history entry per rollout."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from fragrance_dev.cluster import LocalCluster
from tests.cluster.rollouts import (
    CPU_ONLY,
    ROUTE,
    STEPS,
    Watcher,
    Weights,
    apply,
    condition,
    deployment_replicas,
    one_history_entry,
    operator_process,
    promoted,
    release_doc,
    start,
)
from tests.helpers import wait_for
from tests.prometheus_server import PrometheusServer
from tests.serving_exporter import ServingExporter


class Crash:
    """The operator armed at one crash point; ``restart`` waits for the kill, starts a clean
    operator and returns when it is running."""

    def __init__(
        self, cluster: LocalCluster, prometheus: PrometheusServer, namespace: str, tmp: Path,
        point: str,
    ) -> None:  # fmt: skip
        self.args = (cluster, prometheus.url, tmp / "operator.log", namespace)
        self.point = point
        self.armed = operator_process(*self.args, {"FRAGRANCE_CRASH_AT": point})
        self.clean: Any = None

    def __enter__(self) -> Crash:
        self.process = self.armed.__enter__()
        return self

    def restart(self) -> float:
        wait_for(lambda: self.process.poll() is not None, f"the crash at {self.point}", 180)
        assert self.process.returncode == -signal.SIGKILL, "killed at its crash point"
        self.clean = operator_process(*self.args)
        self.clean.__enter__()
        return time.monotonic()

    def __exit__(self, *exc: Any) -> None:
        self.armed.__exit__(*exc)
        if self.clean is not None:
            self.clean.__exit__(*exc)


def _in_order(weights: list[int]) -> None:
    """The weights seen are the steps in order, a prefix of them, then 0: nothing skipped."""
    assert weights in ([*STEPS[: len(weights) - 1], 0], STEPS), weights


def _canary_gone(cluster: LocalCluster, namespace: str, name: str) -> None:
    wait_for(
        lambda: deployment_replicas(cluster, namespace, f"{name}-canary") is None,
        "the canary's Deployment removed",
        60,
    )


@pytest.mark.parametrize(
    "point", ["after-status-write/StepAdvanced", "after-status-write/Promoting", "mid-promotion"]
)
def test_crashed_during_a_healthy_rollout_it_is_promoted_once(
    cluster: LocalCluster,
    namespace: str,
    prometheus: PrometheusServer,
    serving_exporter: ServingExporter,
    release_name: str,
    tmp_path: Path,
    recovery: dict[str, float],
    point: str,
) -> None:
    serving_exporter.set(release_name)
    with Crash(cluster, prometheus, namespace, tmp_path, point) as crash:
        weights = Weights(cluster, namespace, release_name)
        watcher = start(cluster, namespace, release_name, spec=CPU_ONLY)
        restarted = crash.restart()
        final = watcher.until("v2 promoted", promoted, timeout=120)
        _canary_gone(cluster, namespace, release_name)
        recovery[point] = time.monotonic() - restarted
    assert weights.done() == STEPS, "no step repeated or skipped across the crash"
    one_history_entry(final, "v2", "Succeeded")
    stable = watcher.get("deployment", f"{release_name}-stable") or {}
    assert stable["spec"]["template"]["spec"]["containers"][0]["image"] == "serving:v2"
    assert final["status"]["gate"]["decision"] == "GO", "promoted on a GO"


def _policy(name: str, max_retries: int) -> dict[str, Any]:
    return {
        "apiVersion": "fragrance.ai/v1alpha1",
        "kind": "TuningPolicy",
        "metadata": {"name": name},
        "spec": {"jsonGuard": {"maxRetries": max_retries}},
    }


def test_crashed_mid_promotion_of_a_policy_edit_stable_gets_the_settings_once(
    cluster: LocalCluster,
    namespace: str,
    prometheus: PrometheusServer,
    serving_exporter: ServingExporter,
    release_name: str,
    tmp_path: Path,
    recovery: dict[str, float],
) -> None:
    serving_exporter.set(release_name)
    policy = f"tp-{release_name}"
    apply(cluster, namespace, ROUTE)
    apply(cluster, namespace, _policy(policy, 3))
    doc = release_doc(release_name, "v1")
    doc["spec"].update(CPU_ONLY, tuningPolicyRef={"name": policy})
    with Crash(cluster, prometheus, namespace, tmp_path, "mid-promotion") as crash:
        weights = Weights(cluster, namespace, release_name)
        apply(cluster, namespace, doc)
        watcher = Watcher(cluster, namespace, release_name)
        before = watcher.until("v1 stable", lambda s: s.get("phase") == "Succeeded")
        apply(cluster, namespace, _policy(policy, 5))  # the settings' canary starts
        restarted = crash.restart()
        final = watcher.until(
            "the settings promoted",
            lambda s: (
                s.get("phase") == "Succeeded"
                and s.get("stablePolicy") not in (None, before["status"].get("stablePolicy"))
            ),
            timeout=120,
        )
        _canary_gone(cluster, namespace, release_name)
        recovery["mid-promotion of a policy edit"] = time.monotonic() - restarted
    assert weights.done() == STEPS, "no step repeated or skipped across the crash"
    one_history_entry(final, "v1", "Succeeded")
    assert final["status"]["stablePolicy"] == final["status"]["canaryPolicy"]
    settings = watcher.get("configmap", f"{release_name}-stable-policy") or {}
    assert json.loads(settings["data"]["policy.json"])["jsonGuard"]["maxRetries"] == 5


def test_crashed_mid_rollback_the_canary_is_removed_and_never_promoted(
    cluster: LocalCluster,
    namespace: str,
    prometheus: PrometheusServer,
    serving_exporter: ServingExporter,
    release_name: str,
    tmp_path: Path,
    recovery: dict[str, float],
) -> None:
    serving_exporter.set(release_name)
    with Crash(cluster, prometheus, namespace, tmp_path, "mid-rollback") as crash:
        weights = Weights(cluster, namespace, release_name)
        watcher = start(cluster, namespace, release_name, spec=CPU_ONLY)
        watcher.until("5%", lambda s: s.get("canaryWeight") == 5)
        serving_exporter.set(release_name, error_5xx=0.3)
        restarted = crash.restart()
        # The kill came after weight 0 was written and before the canary was removed.
        assert watcher.route_weight() == 0
        final = watcher.until("rolled back", lambda s: s.get("phase") == "RolledBack")
        _canary_gone(cluster, namespace, release_name)
        recovery["mid-rollback"] = time.monotonic() - restarted
    seen = weights.done()
    _in_order(seen)
    assert 100 not in seen
    assert final["status"]["stableVersion"] == "v1"
    one_history_entry(final, "v2", "RolledBack")


def test_crashed_while_consuming_an_action_it_acts_once(
    cluster: LocalCluster,
    namespace: str,
    prometheus: PrometheusServer,
    serving_exporter: ServingExporter,
    release_name: str,
    tmp_path: Path,
    recovery: dict[str, float],
) -> None:
    serving_exporter.set(release_name)
    with Crash(cluster, prometheus, namespace, tmp_path, "consuming-action") as crash:
        weights = Weights(cluster, namespace, release_name)
        watcher = start(cluster, namespace, release_name, spec=CPU_ONLY, stepInterval="60s")
        watcher.until("1%", lambda s: s.get("canaryWeight") == 1)
        cluster.kubectl(
            "annotate", "frel", release_name, "-n", namespace, "fragrance.ai/action=pause"
        )
        restarted = crash.restart()
        watcher.until("paused", lambda s: s.get("pauseReason") == "PausedByUser")
        wait_for(
            lambda: (
                "fragrance.ai/action"
                not in (watcher.release()["metadata"].get("annotations") or {})
            ),
            "the action annotation removed",
            60,
        )
        recovery["consuming-action"] = time.monotonic() - restarted
        held = watcher.release()
        assert held["status"]["phase"] == "Paused"
        assert weights.done() == [0, 1], "held where it was paused"
        cluster.kubectl(
            "annotate", "frel", release_name, "-n", namespace, "fragrance.ai/action=resume"
        )
        watcher.until("resumed", lambda s: s.get("phase") == "Progressing")


def test_crashed_during_the_vram_hold_it_still_holds_then_proceeds(
    cluster: LocalCluster,
    namespace: str,
    prometheus: PrometheusServer,
    serving_exporter: ServingExporter,
    release_name: str,
    tmp_path: Path,
    recovery: dict[str, float],
) -> None:
    serving_exporter.set(release_name, track="stable", vram_used_fraction=0.85)
    serving_exporter.set(release_name, vram_used_fraction=0.85)
    with Crash(cluster, prometheus, namespace, tmp_path, "vram-hold") as crash:
        weights = Weights(cluster, namespace, release_name)
        watcher = start(cluster, namespace, release_name)  # GPU workers: the floor applies
        restarted = crash.restart()
        held = watcher.until(
            "still held after the restart",
            lambda s: condition(s, "ScaleUpBlocked").get("reason") == "LowVRAMHeadroom",
        )
        recovery["vram-hold"] = time.monotonic() - restarted
        assert deployment_replicas(cluster, namespace, f"{release_name}-canary") in (None, 0)
        assert held["status"]["canaryWeight"] == 0
        serving_exporter.set(release_name, track="stable", vram_used_fraction=0.5)
        serving_exporter.set(release_name, vram_used_fraction=0.5)
        final = watcher.until("v2 promoted", promoted, timeout=120)
    assert weights.done() == STEPS
    one_history_entry(final, "v2", "Succeeded")


def test_an_unknown_crash_point_is_refused_naming_the_setting(
    cluster: LocalCluster, namespace: str, prometheus: PrometheusServer, tmp_path: Path
) -> None:
    log = tmp_path / "operator.log"
    with operator_process(
        cluster, prometheus.url, log, namespace, {"FRAGRANCE_CRASH_AT": "somewhere"}
    ) as process:
        wait_for(lambda: process.poll() is not None, "the operator to refuse the setting", 60)
    assert process.returncode != 0
    assert "crash_at" in log.read_text()
