"""What the Gateway tests share: a route on the local Gateway, a record of its weights as a
watch sees them and as Traefik applies them, and the binomial bounds a split's share is held
to."""

from __future__ import annotations

import json
import math
import re
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

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


def _normalized(name: str) -> str:
    """A name as Traefik's providers write it: runs of other characters become one dash."""
    return "-".join(part for part in re.split(r"[^0-9A-Za-z]+", name) if part)


@dataclass
class RouteWeights:
    """The canary's weight on a route each time it changes: as a watch of the HTTPRoute
    delivers it (``changes``) and as Traefik's API shows it in the configuration it routes by
    (``applied``, polled every 50 ms), each with its time."""

    cluster: LocalCluster
    namespace: str
    name: str
    canary_service: str
    changes: list[tuple[float, int]] = field(default_factory=list)
    applied: list[tuple[float, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        info = self.cluster.running()
        assert info is not None, "the local control plane is not running"
        self._api = f"http://127.0.0.1:{info.ports['gateway-ping']}/api/http"
        self._router_prefix = _normalized(f"httproute-{self.namespace}-{self.name}-gw-")
        self._canary_prefix = _normalized(f"{self.namespace}-{self.canary_service}-")
        self._stopped = threading.Event()
        self._poller = threading.Thread(target=self._poll, daemon=True)
        self._poller.start()
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

    def _poll(self) -> None:
        with httpx.Client(timeout=5) as api:
            while not self._stopped.wait(0.05):
                try:
                    weight = self._applied_weight(api)
                except httpx.HTTPError:
                    continue
                if weight is not None and (not self.applied or self.applied[-1][1] != weight):
                    self.applied.append((time.time(), weight))

    def _applied_weight(self, api: httpx.Client) -> int | None:
        """The canary's weight in the service of the route's unpinned rule, as Traefik routes;
        None while Traefik has no router for the route."""
        page = {"per_page": 1000}
        routers = api.get(f"{self._api}/routers", params=page).raise_for_status().json()
        # The operator's pinned copies of a rule match on X-Fragrance-Track; the split is
        # the rule without it.
        split = [
            r
            for r in routers
            if r["name"].startswith(self._router_prefix) and "Header" not in r["rule"]
        ]
        if not split:
            return None
        service = f"{split[0]['service']}@{split[0]['provider']}"
        members = api.get(f"{self._api}/services/{service}").raise_for_status().json()
        weighted = members.get("weighted", {}).get("services", [])
        canary = [m for m in weighted if m["name"].startswith(self._canary_prefix)]
        return int(sum(m.get("weight", 1) for m in canary))

    def stop(self) -> None:
        self._stopped.set()
        self._poller.join(timeout=10)
        self._process.terminate()
        self._process.wait(timeout=10)

    def applied_intervals(self, until: float) -> list[tuple[float, float, int]]:
        """(from, to, weight) for each weight Traefik routed by, the last one ending at
        ``until``."""
        ends = [at for at, _ in self.applied[1:]] + [until]
        return [(at, end, weight) for (at, weight), end in zip(self.applied, ends, strict=True)]


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
