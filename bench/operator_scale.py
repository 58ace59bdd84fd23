"""Many releases progressing at once in one operator: RSS, step lateness, decision latency.

Starts (or reuses) the local control plane, a real Prometheus scraping the fixture exporter,
and the operator as a process. Creates ``--releases`` FragranceReleases with HTTPRoutes,
waits for v1 everywhere, then rolls v2 out to all of them at once; ``--nogo`` of them turn
to 5xx after their first step so they roll back. Prints, with the machine:
- the operator's peak RSS (goal ≤ 250 MB for 200 releases);
- how late steps run: each step's duration minus the step interval (p50/p95/max);
- from a decided gate to the weight written, for advances and rollbacks (goal ≤ 1 s),
  from the operator's ``fragrance_weight_change_seconds`` histogram.
Usage: python bench/operator_scale.py [--releases 200] [--nogo 10] [--interval 10]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.control_plane import machine  # noqa: E402
from fragrance_operator.canary.status import seconds  # noqa: E402
from fragrance_operator.devcluster import LocalCluster  # noqa: E402
from tests.helpers import release_manifest  # noqa: E402
from tests.prometheus_server import PrometheusServer, free_port  # noqa: E402
from tests.serving_exporter import ServingExporter  # noqa: E402


def release(name: str, version: str, interval: int) -> dict[str, Any]:
    doc = release_manifest(name, version, f"{interval}s", min_requests=5, gpus=0)
    doc["spec"]["traffic"]["gatewayAPI"]["httpRoute"] = name
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


def rss_mib(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1]) / 1024
    return 0.0


def histogram(text: str, cause: str) -> tuple[int, dict[float, int]]:
    buckets: dict[float, int] = {}
    count = 0
    for line in text.splitlines():
        if line.startswith("fragrance_weight_change_seconds_bucket") and f'cause="{cause}"' in line:
            le = line.split('le="')[1].split('"')[0]
            buckets[float("inf") if le == "+Inf" else float(le)] = int(float(line.split()[-1]))
        if line.startswith("fragrance_weight_change_seconds_count") and f'cause="{cause}"' in line:
            count = int(float(line.split()[-1]))
    return count, buckets


def share_within(buckets: dict[float, int], count: int, bound: float) -> float:
    return buckets.get(bound, 0) / count if count else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--releases", type=int, default=200)
    parser.add_argument("--nogo", type=int, default=10)
    parser.add_argument("--interval", type=int, default=10)
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args()

    cluster = LocalCluster(progress=lambda _: None)
    cluster.up()
    exporter = ServingExporter()
    names = [f"b{i:03d}" for i in range(args.releases)]
    for name in names:
        exporter.set(name, rps=20.0)
    namespace = f"bench-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "namespace", namespace)
    metrics_port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        prom = PrometheusServer(Path(tmp), [f"127.0.0.1:{exporter.port}"], "2s")
        env = {
            **os.environ,
            "KUBECONFIG": str(cluster.layout.kubeconfig),
            "FRAGRANCE_PROMETHEUS_URL": prom.url,
            "FRAGRANCE_TICK": "1",
            "FRAGRANCE_METRICS_PORT": str(metrics_port),
            "FRAGRANCE_LEASE_NAMESPACE": namespace,
        }
        log_path = Path(os.environ.get("BENCH_OPERATOR_LOG", Path(tmp) / "operator.log"))
        log = log_path.open("wb")
        operator = subprocess.Popen(
            [sys.executable, "-m", "fragrance_operator.cli", "operator"],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            apply_all(cluster, namespace, [route(n) for n in names])
            apply_all(cluster, namespace, [release(n, "v1", args.interval) for n in names])
            wait(cluster, namespace, lambda s: s.get("phase") == "Succeeded", args.timeout, "v1")
            started = time.monotonic()
            apply_all(cluster, namespace, [release(n, "v2", args.interval) for n in names])
            failing = set(names[: args.nogo])
            seen: dict[str, list[str]] = {n: [] for n in names}
            while time.monotonic() - started < args.timeout:
                current = statuses(cluster, namespace)
                for name, st in current.items():
                    mark = st.get("stepStartedAt")
                    if mark and st.get("canaryWeight") and mark not in seen[name]:
                        seen[name].append(mark)
                    if name in failing and st.get("canaryWeight", 0) >= 5:
                        exporter.set(name, error_5xx=0.5)
                if all(finished(st) for st in current.values()):
                    break
                time.sleep(2)
            elapsed = time.monotonic() - started
            final = statuses(cluster, namespace)
            peak = rss_mib(operator.pid, "VmHWM:")
            now_rss = rss_mib(operator.pid, "VmRSS:")
            scraped = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics").read()
        finally:
            operator.terminate()
            operator.wait(timeout=30)
            prom.stop()
            exporter.stop()
            cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)

    lateness = [
        seconds(b) - seconds(a) - args.interval  # type: ignore[operator]
        for marks in seen.values()
        for a, b in itertools.pairwise(marks)
    ]
    lateness.sort()
    phases = [st.get("phase") for st in final.values()]
    text = scraped.decode()
    print("machine:", machine())
    print(f"{args.releases} releases, {args.nogo} turned NO-GO after their first step, "
          f"step and analysis interval {args.interval}s, operator tick 1s")  # fmt: skip
    print(f"  finished in {elapsed:.0f}s: {phases.count('Succeeded')} promoted, "
          f"{phases.count('RolledBack')} rolled back, others {len(phases) - phases.count('Succeeded') - phases.count('RolledBack')}")  # fmt: skip  # noqa: E501
    print(f"  operator RSS: peak {peak:.0f} MiB, at the end {now_rss:.0f} MiB (goal <= 250 MB)")
    if lateness:
        print(
            f"  step lateness over {len(lateness)} steps: p50 {statistics.median(lateness):.2f}s "
            f"p95 {lateness[int(0.95 * (len(lateness) - 1))]:.2f}s max {lateness[-1]:.2f}s"
        )
    errors = sum(
        float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith("fragrance_reconcile_errors_total")
    )
    print(f"  reconcile ticks that raised: {errors:.0f}")
    for cause in ("advance", "rollback"):
        count, buckets = histogram(text, cause)
        print(
            f"  decided gate -> weight written ({cause}): {count} changes, "
            f"{share_within(buckets, count, 0.1):.0%} within 0.1s, "
            f"{share_within(buckets, count, 1.0):.0%} within 1s (goal <= 1s)"
        )


def finished(st: dict[str, Any]) -> bool:
    promoted = st.get("phase") == "Succeeded" and st.get("stableVersion") == "v2"
    return promoted or st.get("phase") in ("RolledBack", "Failed")


def wait(cluster: LocalCluster, namespace: str, done: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        current = statuses(cluster, namespace)
        if current and all(done(st) for st in current.values()):
            return
        time.sleep(2)
    raise SystemExit(f"timed out waiting for {what}")


if __name__ == "__main__":
    main()
