"""How many writes a second the local apiserver takes on this machine: the ceiling under
the scale benchmark's figures.

Creates ``--releases`` FragranceReleases (no operator runs: nothing else writes them), then
``--threads`` threads merge-patch their status, each guarded by the resourceVersion it last
wrote, as the operator's status writes are, for ``--seconds``. Prints the writes a second
and their latency with the machine. A rollout step of the operator writes the status twice
(the decision, then when its weight was written), the HTTPRoute once and the decision
record once, and posts an Event: at 1,000 releases stepping every 10 s that is 500 writes a
second for the steps to run on time.
Usage: python bench/apiserver_writes.py [--releases 200] [--threads 32] [--seconds 30]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path

from kubernetes import config

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.control_plane import machine  # noqa: E402
from fragrance_dev.cluster import LocalCluster  # noqa: E402
from fragrance_operator.adapters.kubernetes import Kube  # noqa: E402
from tests.fleet import apply_all, release  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--releases", type=int, default=200)
    parser.add_argument("--threads", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=30)
    args = parser.parse_args()

    cluster = LocalCluster(progress=lambda _: None)
    reused = cluster.running() is not None
    cluster.up()
    namespace = f"writes-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "namespace", namespace)
    names = [f"w{i:04d}" for i in range(args.releases)]
    latencies: list[float] = []
    lock = threading.Lock()
    try:
        apply_all(cluster, namespace, [release(n, "v1", 10) for n in names])
        kube = Kube(config.new_client_from_config(str(cluster.layout.kubeconfig)))
        versions: dict[str, str] = {}
        for name in names:
            got = kube.get("fragrance.ai/v1alpha1", "FragranceRelease", namespace, name) or {}
            versions[name] = str(got["metadata"]["resourceVersion"])
        stop = time.monotonic() + args.seconds

        def writer(mine: list[str]) -> None:
            step = 0
            while time.monotonic() < stop:
                for name in mine:
                    step += 1
                    began = time.perf_counter()
                    written = kube.patch_release_status(
                        namespace, name, {"currentStep": step % 4}, versions[name]
                    )
                    with lock:
                        latencies.append(time.perf_counter() - began)
                    if written is None:
                        raise SystemExit(f"{name}: 409, something else wrote it")
                    versions[name] = written

        threads = [
            threading.Thread(target=writer, args=(names[i :: args.threads],))
            for i in range(args.threads)
        ]
        began = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - began
    finally:
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
        if not reused:
            cluster.down()
    latencies.sort()
    print("machine:", machine())
    print(
        f"{len(latencies)} guarded status writes to {args.releases} FragranceReleases from "
        f"{args.threads} threads in {elapsed:.0f}s: {len(latencies) / elapsed:.0f} a second; "
        f"latency p50 {statistics.median(latencies) * 1000:.0f} ms, "
        f"p95 {latencies[int(0.95 * (len(latencies) - 1))] * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
