"""Many releases rolled out at once, some turned bad mid-rollout: shared by the scale
benchmark and the cluster test that fails when a failing canary is promoted.

The fault is injected from a watch on the releases, the moment a failing one's status shows
its second step: a polling round of many statuses through kubectl could come after the
canary had passed the later gates, leaving nothing to catch.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from typing import Any

import yaml
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from fragrance_dev.cluster import LocalCluster
from tests.helpers import release_manifest
from tests.serving_exporter import ServingExporter

FAULT = {"error_5xx": 0.5}  # what a failing canary turns to once it carries 5%


def release(name: str, version: str, interval: int) -> dict[str, Any]:
    """A CPU-only release behind its own HTTPRoute (one route per release: no contention)."""
    doc = release_manifest(name, version, f"{interval}s", min_requests=5, gpus=0)
    doc["spec"]["traffic"]["gatewayAPI"]["httpRoute"] = name
    doc["spec"]["canary"]["progressDeadline"] = "10m"
    return doc


def route(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": name},
        "spec": {"rules": [{"backendRefs": []}]},
    }


def apply_all(cluster: LocalCluster, namespace: str, docs: list[dict[str, Any]]) -> None:
    for start in range(0, len(docs), 50):
        batch = yaml.safe_dump_all(docs[start : start + 50])
        cluster.kubectl("apply", "-n", namespace, "-f", "-", input=batch)


def statuses(cluster: LocalCluster, namespace: str) -> dict[str, dict[str, Any]]:
    listed = json.loads(cluster.kubectl("get", "frel", "-n", namespace, "-o", "json").stdout)
    return {item["metadata"]["name"]: item.get("status") or {} for item in listed["items"]}


def finished_ok(status: dict[str, Any], version: str = "v2") -> bool:
    return status.get("phase") == "Succeeded" and status.get("stableVersion") == version


def finished(status: dict[str, Any], version: str = "v2") -> bool:
    # A rollback counts only when it is this version's (not the previous round's).
    ended_badly = status.get("phase") in ("RolledBack", "Failed")
    return finished_ok(status, version) or (ended_badly and status.get("canaryVersion") == version)


def wrong(
    final: dict[str, dict[str, Any]], names: list[str], failing: set[str], version: str = "v2"
) -> tuple[list[str], list[str]]:
    """(failing canaries not rolled back, healthy ones not promoted)."""
    promoted_bad = sorted(n for n in failing if final.get(n, {}).get("phase") != "RolledBack")
    missed = sorted(
        n for n in names if n not in failing and not finished_ok(final.get(n, {}), version)
    )
    return promoted_bad, missed


class FaultInjector:
    """The releases' statuses from a watch; turns each failing canary bad once it is at 5%."""

    def __init__(
        self,
        cluster: LocalCluster,
        namespace: str,
        exporter: ServingExporter,
        failing: set[str],
        version: str = "v2",
    ) -> None:
        self.statuses: dict[str, dict[str, Any]] = {}
        self.marks: dict[str, list[str]] = {}  # each release's step start times, in order
        self.injected: set[str] = set()
        self.version = version
        # Why gates held a step (INCONCLUSIVE, WARNING): the failing checks, counted.
        self.held: Counter[str] = Counter()
        self._gates: set[tuple[str, str]] = set()
        self._stopped = threading.Event()
        self._failing, self._exporter, self._namespace = failing, exporter, namespace
        self._api = client.CustomObjectsApi(
            config.new_client_from_config(str(cluster.layout.kubeconfig))
        )
        self._watch = watch.Watch()
        self._lock = threading.Lock()
        threading.Thread(target=self._run, daemon=True, name="fleet-watch").start()

    def _run(self) -> None:
        while not self._stopped.is_set():
            stream = self._watch.stream(
                self._api.list_namespaced_custom_object, "fragrance.ai", "v1alpha1",
                self._namespace, "fragrancereleases", timeout_seconds=300,
            )  # fmt: skip
            try:
                for event in stream:
                    obj = event["object"]
                    self._seen(obj["metadata"]["name"], obj.get("status") or {})
            except HTTPError:
                continue  # the connection dropped (or stop() closed it): list and watch again
            except ApiException:
                # 410 (too old) or 504 (too new for an apiserver's lagging watch cache, seen
                # at 1,000 releases): list afresh instead of resuming, or the thread dies.
                self._watch.resource_version = None
                self._stopped.wait(1)

    def _seen(self, name: str, st: dict[str, Any]) -> None:
        with self._lock:
            self.statuses[name] = st
            # A step carries traffic from when its weight was written.
            mark, weight = st.get("weightSetAt"), st.get("canaryWeight") or 0
            marks = self.marks.setdefault(name, [])
            ours = st.get("canaryVersion") == self.version
            if mark and weight and ours and mark not in marks:
                marks.append(mark)
            gate = st.get("gate") or {}
            at = gate.get("evaluatedAt")
            if ours and at and (name, at) not in self._gates:
                self._gates.add((name, at))
                if gate.get("decision") in ("INCONCLUSIVE", "WARNING"):
                    for check in gate.get("checks", []):
                        if check.get("result") == gate["decision"]:
                            self.held[check.get("message") or check["name"]] += 1
            if ours and name in self._failing and weight >= 5 and name not in self.injected:
                self._exporter.set(name, **FAULT)
                self.injected.add(name)

    def snapshot(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return dict(self.statuses)

    def all_finished(self, names: list[str]) -> bool:
        current = self.snapshot()
        return all(finished(current.get(n, {}), self.version) for n in names)

    def stop(self) -> None:
        self._stopped.set()
        self._watch.stop()
