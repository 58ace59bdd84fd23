"""From the operator's weight write to the client seeing the new split, through the Gateway.

Starts (or reuses) the local cluster with its real node and Gateway (Traefik), puts a stable
and a canary Deployment of the smoke-test image behind two Services and an HTTPRoute on the
Gateway, and has one client send requests back to back through the Gateway. Then
``--changes`` times the operator's own HTTPRoute writer (``GatewayAPITraffic``) moves the
canary's weight between 0 and 100, and the benchmark times, from the moment the write
returned, the first answer from the side that now takes all traffic. Prints p50/p95/max with
the machine. Usage: python bench/gateway_split.py [--changes 20]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.control_plane import machine  # noqa: E402
from bench.real_node import manifests as echo_manifests  # noqa: E402
from fragrance_api.release import FragranceReleaseSpec  # noqa: E402
from fragrance_dev.cluster import LocalCluster  # noqa: E402
from fragrance_dev.cluster import gateway as local_gateway  # noqa: E402
from fragrance_operator.adapters.kubernetes import Kube  # noqa: E402
from fragrance_operator.drivers.traffic import GatewayAPITraffic  # noqa: E402
from tests.helpers import release_manifest  # noqa: E402

RELEASE = "split"
TRACKS = ("stable", "canary")


def workloads(namespace: str) -> list[dict[str, Any]]:
    """Echo pods named after their track (they answer with their pod's name)."""
    docs: list[dict[str, Any]] = [
        doc
        for track in ("stable", "canary")
        for doc in echo_manifests(namespace, 1, f"{RELEASE}-{track}", 8000)[1:]
    ]
    route = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "brief-api", "namespace": namespace},
        "spec": {
            "parentRefs": [local_gateway.parent_ref()],
            "hostnames": ["split.fragrance.test"],
            "rules": [{"backendRefs": [{"name": f"{RELEASE}-stable", "port": 8000}]}],
        },
    }
    return [*docs, route]


class Answers:
    """One client, requests back to back: (time answered, which track answered)."""

    def __init__(self, url: str) -> None:
        self.seen: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(url,), daemon=True)
        self._thread.start()

    def _run(self, url: str) -> None:
        with httpx.Client(timeout=5, headers={"Host": "split.fragrance.test"}) as http:
            while not self._stop.is_set():
                try:
                    body = http.get(url).text
                except httpx.HTTPError:
                    continue
                track = next((t for t in TRACKS if f"{RELEASE}-{t}-" in body), "error")
                self.seen.append((time.time(), track))

    def first(self, track: str, after: float, timeout: float = 30) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = next((t for t, k in reversed(self.seen) if t > after and k == track), None)
            if found is not None:
                # The earliest one after the write: scan forward from there.
                return min(t for t, k in self.seen if t > after and k == track)
            time.sleep(0.005)
        raise SystemExit(f"no answer from {track} within {timeout:.0f}s of a write")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--changes", type=int, default=20)
    args = parser.parse_args()
    cluster = LocalCluster(progress=lambda _: None, real_node=True)
    info = cluster.up()
    os.environ["KUBECONFIG"] = info.kubeconfig  # the operator's client reads it
    namespace = f"bench-{uuid.uuid4().hex[:8]}"
    cluster.kubectl("create", "namespace", namespace)
    try:
        cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(workloads(namespace)))
        for track in ("stable", "canary"):
            cluster.kubectl("wait", "-n", namespace, "--for=condition=Available",
                            f"deploy/{RELEASE}-{track}", "--timeout=180s")  # fmt: skip
        writer = GatewayAPITraffic(Kube())
        release = {"metadata": {"name": RELEASE, "namespace": namespace}}
        spec = FragranceReleaseSpec.model_validate(release_manifest(RELEASE, "v1")["spec"])
        answers = Answers(f"http://127.0.0.1:{info.ports['gateway']}/")
        answers.first("stable", 0, timeout=60)
        # The first time the route names the canary's Service, Traefik starts a load balancer
        # for it: timed apart, not among the changes.
        writer.set_weight(release, spec, 100)
        written = time.time()
        first = answers.first("canary", written, timeout=60) - written
        writer.set_weight(release, spec, 0)
        answers.first("stable", time.time(), timeout=60)
        delays = []
        for change in range(args.changes):
            weight = 100 if change % 2 == 0 else 0
            writer.set_weight(release, spec, weight)
            written = time.time()
            seen = answers.first("canary" if weight else "stable", written)
            delays.append(seen - written)
            print(f"  change {change + 1:2d}: weight {weight:3d}: new side answered after "
                  f"{delays[-1] * 1000:.0f} ms", flush=True)  # fmt: skip
        answers.stop()
        errors = sum(track == "error" for _, track in answers.seen)
    finally:
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
    delays.sort()
    print("\nmachine:", json.dumps(machine()))
    print(
        f"{args.changes} weight changes through Traefik's Gateway (provider throttle "
        f"{local_gateway.THROTTLE}), write returned -> first answer from the new side: "
        f"p50 {statistics.median(delays) * 1000:.0f} ms, "
        f"p95 {delays[int(0.95 * (len(delays) - 1))] * 1000:.0f} ms, "
        f"max {delays[-1] * 1000:.0f} ms; {len(answers.seen)} requests answered, "
        f"{errors} by neither side"
    )
    print(f"the first change naming the canary's Service (not counted): {first * 1000:.0f} ms")


if __name__ == "__main__":
    main()
