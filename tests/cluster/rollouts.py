"""What the operator's cluster tests share: release manifests, a watcher of weights and
status, the operator as a process of its own."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import urllib3
import yaml
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

from fragrance_dev.cluster import LocalCluster
from tests.helpers import release_manifest, wait_for
from tests.prometheus_server import free_port

METRICS_PORT = free_port()


def release_doc(name: str, version: str, **canary: Any) -> dict[str, Any]:
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


STEPS = [0, 1, 5, 25, 100, 0]  # the route's canary weights of a promoted rollout


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
        last: dict[str, Any] = {}

        def check() -> bool:
            self.route_weight()
            last.update(status=self.release().get("status", {}))
            return bool(condition(last["status"]))

        try:
            wait_for(check, what, timeout)
        except pytest.fail.Exception as timed_out:
            # The condition alone says nothing of where the release stopped: say it, so a
            # failure in CI, whose log keeps only this line, can be read.
            said = _summary(last.get("status", {}))
            pytest.fail(f"{timed_out}; weights {self.weights}; the release's last status: {said}")
        # Status is written before the world converges to it: wait for the traffic to follow.
        wait_for(
            lambda: self.route_weight() == self.release()["status"].get("canaryWeight", 0),
            f"traffic to follow status after {what}",
            30,
        )
        return self.release()


def _summary(status: dict[str, Any]) -> str:
    keys = ("phase", "stableVersion", "canaryVersion", "canaryWeight", "pauseReason")
    said: dict[str, Any] = {key: status[key] for key in keys if status.get(key) is not None}
    gate = status.get("gate") or {}
    said["gate"] = gate.get("decision")
    said["failing"] = [c for c in gate.get("checks", []) if c.get("result") != "GO"]
    said["conditions"] = [
        f"{c['type']}={c['status']}: {c.get('message', '')}" for c in status.get("conditions", [])
    ]
    said["last outcome"] = (status.get("history") or [None])[-1]
    return json.dumps(said)


def apply(cluster: LocalCluster, namespace: str, doc: dict[str, Any]) -> None:
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


def start(
    cluster: LocalCluster,
    namespace: str,
    name: str,
    nginx: bool = False,
    spec: dict[str, Any] | None = None,
    **canary: Any,
) -> Watcher:
    """v1 deployed as stable, then v2 applied: the canary starts."""
    apply(cluster, namespace, INGRESS if nginx else ROUTE)
    docs = [release_doc(name, version, **canary) for version in ("v1", "v2")]
    for doc in docs:
        if nginx:
            doc["spec"]["traffic"] = {"provider": "nginx", "nginx": {"ingress": "brief-api"}}
        doc["spec"].update(spec or {})
    apply(cluster, namespace, docs[0])
    watcher = Watcher(cluster, namespace, name, nginx)
    watcher.until("v1 stable", lambda s: s.get("phase") == "Succeeded")
    apply(cluster, namespace, docs[1])
    return watcher


def promoted(status: dict[str, Any]) -> bool:
    return status.get("phase") == "Succeeded" and status.get("stableVersion") == "v2"


def condition(status: dict[str, Any], kind: str) -> dict[str, Any]:
    """A condition of a status, {} when it has none of that type."""
    return next((c for c in status.get("conditions", []) if c["type"] == kind), {})


def deployment_replicas(cluster: LocalCluster, namespace: str, name: str) -> int | None:
    got = cluster.kubectl(
        "get", "deploy", name, "-n", namespace, "-o", "jsonpath={.spec.replicas}", check=False
    )
    return int(got.stdout) if got.returncode == 0 and got.stdout else None


@contextmanager
def operator_process(
    cluster: LocalCluster,
    prometheus_url: str,
    log: Path,
    lease_namespace: str,
    settings: dict[str, str] | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "KUBECONFIG": str(cluster.layout.kubeconfig),
        "FRAGRANCE_PROMETHEUS_URL": prometheus_url,
        "FRAGRANCE_TICK": "0.5",
        "FRAGRANCE_LEASE_NAMESPACE": lease_namespace,
        "FRAGRANCE_LEASE_SECONDS": "4",
        "FRAGRANCE_METRICS_PORT": "0",
        **(settings or {}),
    }
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "fragrance_operator.cli", "operator"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=30)


class Weights:
    """Every weight the HTTPRoute carried, in order: what the data plane was told while the
    test waited elsewhere (for the crash, for the restart).

    From a watch resumed at the last resourceVersion it saw, so every write is seen even
    across an apiserver restart; polling missed a step once (a read right after the restart
    took 7 s, longer than the step lasted)."""

    def __init__(self, cluster: LocalCluster, namespace: str, name: str) -> None:
        self.namespace, self.name = namespace, name
        api = config.new_client_from_config(str(cluster.layout.kubeconfig))
        self.routes = client.CustomObjectsApi(api)
        self.seen: list[int] = []
        self.relists = 0  # watches resumed too late (410): what happened between is lost
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        since: str | None = None  # None: list what there is, then watch
        while not self.stop.is_set():
            options: dict[str, Any] = {"resource_version": since} if since else {}
            try:
                for event in watch.Watch().stream(
                    self.routes.list_namespaced_custom_object, "gateway.networking.k8s.io",
                    "v1", self.namespace, "httproutes", field_selector="metadata.name=brief-api",
                    timeout_seconds=5, _request_timeout=10, **options,
                ):  # fmt: skip
                    route = event["object"]
                    since = route["metadata"]["resourceVersion"]
                    if event["type"] != "DELETED":
                        self._record(route)
                    if self.stop.is_set():
                        return
            except ApiException as error:
                if error.status == 410:  # history compacted: start over from a list
                    since = None
                    self.relists += 1
            except urllib3.exceptions.HTTPError:
                self.stop.wait(0.2)  # the apiserver is away: resume where we were

    def _record(self, route: dict[str, Any]) -> None:
        refs = route["spec"]["rules"][0].get("backendRefs") or []
        weight = next((r["weight"] for r in refs if r["name"] == f"{self.name}-canary"), 0)
        if not self.seen or self.seen[-1] != weight:
            self.seen.append(int(weight))

    def done(self) -> list[int]:
        self.stop.set()
        self.thread.join(timeout=10)
        return self.seen


def one_history_entry(final: dict[str, Any], version: str, outcome: str) -> None:
    entries = [h["outcome"] for h in final["status"].get("history", []) if h["version"] == version]
    assert entries == [outcome], entries


@dataclass(frozen=True)
class Footprint:
    """A process's resident memory and open sockets, read from /proc (not from its log)."""

    rss_mib: float
    sockets: int

    @classmethod
    def of(cls, pid: int) -> Footprint:
        status = Path(f"/proc/{pid}/status").read_text()
        rss_kib = next(
            int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")
        )
        return cls(rss_kib / 1024, len(_socket_inodes(pid)))

    def settled_back(
        self, pid: int, what: str, extra_sockets: int = 8, extra_mib: float = 40
    ) -> Footprint:
        """Wait until the process is back near this footprint after a fault: a client that
        leaks a connection per failed call, or a queue that keeps what it could not send,
        stays above it."""
        last = [self]

        def back() -> bool:
            last[0] = now = Footprint.of(pid)
            return (
                now.sockets <= self.sockets + extra_sockets
                and now.rss_mib <= self.rss_mib + extra_mib
            )

        try:
            wait_for(back, f"the operator's footprint back to its level after {what}", 30)
        except pytest.fail.Exception:
            pytest.fail(f"after {what}: {last[0]} (before the fault: {self}); {peers(pid)}")
        return last[0]


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with suppress(OSError):  # closed between listing and reading
            link = os.readlink(fd)
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
    return inodes


def peers(pid: int) -> str:
    """The process's TCP sockets counted by remote port and state: where extra ones go."""
    inodes = _socket_inodes(pid)
    counted: Counter[str] = Counter()
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[9] in inodes:
                counted[f"port {int(fields[2].split(':')[1], 16)} state {fields[3]}"] += 1
    return "TCP sockets by remote port: " + ", ".join(f"{n}x {k}" for k, n in counted.most_common())


def decisions(cluster: LocalCluster, namespace: str, name: str, version: str) -> list[Any]:
    """A rollout's decision records, from the release's decision-log ConfigMap."""
    got = cluster.kubectl(
        "get", "configmap", f"{name}-decisions", "-n", namespace,
        "-o", "jsonpath={.data.decisions\\.json}",
    )  # fmt: skip
    rollout = next(r for r in json.loads(got.stdout)["rollouts"] if r["version"] == version)
    return list(rollout["decisions"])


def seconds(stamp: str) -> float:
    """An RFC 3339 time from the apiserver or the operator's status, as a Unix time."""
    return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
