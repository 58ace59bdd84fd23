"""What the Gateway tests and benchmark share: a route on the local Gateway, a record of its
weights as a watch sees them, and the binomial bounds a split's share is held to."""

from __future__ import annotations

import json
import math
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from fragrance_dev.cluster import LocalCluster
from fragrance_dev.cluster import gateway as local_gateway


def route(name: str, hostname: str) -> dict[str, Any]:
    """The user's HTTPRoute on the local Gateway; the operator writes its backendRefs."""
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": name},
        "spec": {
            "parentRefs": [local_gateway.parent_ref()],
            "hostnames": [hostname],
            "rules": [{"backendRefs": []}],
        },
    }


def gateway_url(cluster: LocalCluster) -> str:
    info = cluster.running()
    assert info is not None, "the local control plane is not running"
    return f"http://127.0.0.1:{info.ports['gateway']}"


@dataclass
class RouteWeights:
    """The canary's weight on a route each time a watch delivers a change, with its time."""

    cluster: LocalCluster
    namespace: str
    name: str
    canary_service: str
    changes: list[tuple[float, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._process = subprocess.Popen(
            [
                str(self.cluster.layout.bin / "kubectl"),
                f"--kubeconfig={self.cluster.layout.kubeconfig}",
                "get", "httproute", self.name, "-n", self.namespace, "--watch",
                "-o", "jsonpath={.spec.rules[0].backendRefs}{'\\n'}",
            ],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            refs = json.loads(line) if line.strip() else []
            weight = next((r["weight"] for r in refs if r["name"] == self.canary_service), 0)
            if not self.changes or self.changes[-1][1] != weight:
                self.changes.append((time.time(), weight))

    def stop(self) -> None:
        self._process.terminate()
        self._process.wait(timeout=10)

    def intervals(self, until: float) -> list[tuple[float, float, int]]:
        """(from, to, weight) for each weight the route held, the last one ending at ``until``."""
        ends = [at for at, _ in self.changes[1:]] + [until]
        return [(at, end, weight) for (at, weight), end in zip(self.changes, ends, strict=True)]


def binomial_interval(n: int, p: float, confidence: float = 0.99) -> tuple[int, int]:
    """The central ``confidence`` interval of a Binomial(n, p) count, exactly."""
    if p in (0.0, 1.0):
        return (0, 0) if p == 0 else (n, n)
    tail = (1 - confidence) / 2

    def log_pmf(k: int) -> float:  # in logs: comb(n, k) overflows a float at n ~ 1,000
        log_comb = math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
        return log_comb + k * math.log(p) + (n - k) * math.log(1 - p)

    pmf = [math.exp(log_pmf(k)) for k in range(n + 1)]
    low, below = 0, 0.0
    while below + pmf[low] <= tail:
        below += pmf[low]
        low += 1
    high, above = n, 0.0
    while above + pmf[high] <= tail:
        above += pmf[high]
        high -= 1
    return low, high
