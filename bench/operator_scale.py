"""Many releases progressing at once in one operator: RSS, step lateness, decision latency.

Starts the local control plane (or reuses a running one, and leaves it running), a real
Prometheus scraping the fixture exporter, and the operator as a process. Creates
``--releases`` FragranceReleases with HTTPRoutes, waits for v1 everywhere, then rolls v2 out
to all of them at once; ``--nogo`` of them turn to 5xx after their first step so they roll
back. Prints, with the machine:
- the operator's peak RSS (goal ≤ 250 MB);
- how late steps run: the time between two steps' weights being written, minus the step
  interval (p50/p95/max; goal p95 ≤ 2 s);
- from a decided gate to the weight written, for advances and rollbacks (goal p99 ≤ 1 s),
  from the operator's ``fragrance_weight_change_seconds`` histogram;
- the operator's requests to the apiserver per release per minute.
It is also a correctness check: it exits 1, naming them, when a failing canary was promoted
or a healthy one was not (the fault is injected by ``tests.fleet.FaultInjector``).
Usage: python bench/operator_scale.py [--releases 1000] [--nogo 50] [--interval 10]
"""

from __future__ import annotations

import argparse
import itertools
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from bench.control_plane import machine  # noqa: E402
from fragrance_dev.cluster import LocalCluster  # noqa: E402
from fragrance_operator.canary.status import seconds  # noqa: E402
from tests.fleet import (  # noqa: E402
    FaultInjector,
    apply_all,
    release,
    route,
    statuses,
    wrong,
)
from tests.prometheus_server import PrometheusServer, free_port  # noqa: E402
from tests.serving_exporter import ServingExporter  # noqa: E402


def rss_mib(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1]) / 1024
    return 0.0


def api_requests(text: str) -> float:
    return sum(
        float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith("fragrance_apiserver_requests_total")
    )


READS = ("GET", "LIST", "WATCH", "CONNECT")


def traced(operator: subprocess.Popen[bytes], dump: Path) -> None:
    """Have the traced operator write its allocations to ``dump``; wait for the file."""
    operator.send_signal(signal.SIGUSR2)
    deadline = time.monotonic() + 300  # a snapshot of a big heap takes a while
    while not dump.exists() and time.monotonic() < deadline:
        time.sleep(1)


def apiserver_writes(cluster: LocalCluster) -> Counter[str]:
    """The apiserver's own count of writes by verb and resource, from every client."""
    counted: Counter[str] = Counter()
    text = cluster.kubectl("get", "--raw", "/metrics").stdout
    for family in text_string_to_metric_families(text):
        for sample in family.samples if family.name == "apiserver_request" else ():
            labels = sample.labels
            if sample.name != "apiserver_request_total" or labels.get("verb") in READS:
                continue
            sub = labels.get("subresource")
            resource = labels.get("resource", "") + (f"/{sub}" if sub else "")
            counted[f"{labels.get('verb')} {resource}"] += int(sample.value)
    return counted


def histogram(text: str, metric: str, labels: str = "") -> tuple[int, dict[float, int]]:
    """A histogram's count and cumulative buckets from the operator's /metrics."""
    buckets: dict[float, int] = {}
    count = 0
    for line in text.splitlines():
        if labels not in line:
            continue
        if line.startswith(f"{metric}_bucket"):
            le = line.split('le="')[1].split('"')[0]
            buckets[float("inf") if le == "+Inf" else float(le)] = int(float(line.split()[-1]))
        if line.startswith(f"{metric}_count"):
            count = int(float(line.split()[-1]))
    return count, buckets


def share_within(buckets: dict[float, int], count: int, bound: float) -> float:
    return buckets.get(bound, 0) / count if count else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--releases", type=int, default=1000)
    parser.add_argument("--nogo", type=int, default=50)
    parser.add_argument("--interval", type=int, default=10)
    parser.add_argument("--timeout", type=float, default=900, help="per rollout round")
    parser.add_argument(
        "--rounds", type=int, default=1, help="rollouts one after the other (a soak: RSS drift)"
    )
    parser.add_argument(
        "--tracemalloc",
        type=Path,
        help="run the operator under tracemalloc; its largest allocations and what grew go to "
        "PATH.1 before the first round, PATH.<n+1> after round n (slower: for attribution, "
        "not for figures)",
    )
    args = parser.parse_args()

    cluster = LocalCluster(progress=lambda _: None)
    reused = cluster.running() is not None
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
        command = ["-m", "fragrance_operator.cli", "operator"]
        if args.tracemalloc:
            command = [str(ROOT / "bench" / "traced_operator.py"), str(args.tracemalloc)]
        operator = subprocess.Popen(
            [sys.executable, *command], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            apply_all(cluster, namespace, [route(n) for n in names])
            apply_all(cluster, namespace, [release(n, "v1", args.interval) for n in names])
            wait(cluster, namespace, lambda s: s.get("phase") == "Succeeded", args.timeout, "v1")
            failing = set(names[: args.nogo])
            metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
            requests_before = api_requests(urllib.request.urlopen(metrics_url).read().decode())
            writes_before = apiserver_writes(cluster)
            rss_start = rss_mib(operator.pid, "VmRSS:")
            if args.tracemalloc:
                traced(operator, Path(f"{args.tracemalloc}.1"))  # before the first round
            started = time.monotonic()
            marks: list[list[str]] = []
            held: Counter[str] = Counter()
            wrong_rounds: list[str] = []
            for round_ in range(args.rounds):
                version = f"v{round_ + 2}"
                for name in failing:
                    exporter.set(name, error_5xx=0.0)  # healthy again until it carries 5%
                watcher = FaultInjector(cluster, namespace, exporter, failing, version)
                began = time.monotonic()
                apply_all(cluster, namespace, [release(n, version, args.interval) for n in names])
                while time.monotonic() - began < args.timeout and not watcher.all_finished(names):
                    time.sleep(1)
                watcher.stop()
                marks += watcher.marks.values()
                held += watcher.held
                final = statuses(cluster, namespace)
                promoted_bad, missed = wrong(final, names, failing, version)
                if promoted_bad or missed:
                    wrong_rounds.append(
                        f"{version}: failing canaries not rolled back: {promoted_bad or 'none'}; "
                        f"healthy ones not promoted: {missed or 'none'}"
                    )
                if args.tracemalloc:
                    traced(operator, Path(f"{args.tracemalloc}.{round_ + 2}"))
                print(
                    f"  round {round_ + 1} ({version}): {time.monotonic() - began:.0f}s, "
                    f"operator RSS {rss_mib(operator.pid, 'VmRSS:'):.0f} MiB"
                    f"{', WRONG' if promoted_bad or missed else ''}",
                    flush=True,
                )
            elapsed = time.monotonic() - started
            peak = rss_mib(operator.pid, "VmHWM:")
            now_rss = rss_mib(operator.pid, "VmRSS:")
            scraped = urllib.request.urlopen(metrics_url).read()
            writes = apiserver_writes(cluster) - writes_before
        finally:
            # Deleted while the operator runs: kopf's finalizers on the releases stay until it
            # removes them, and a namespace left terminating had the next run's operator
            # finalize a thousand releases at its start (579 MiB RSS before its round began).
            running = operator.poll() is None
            until = "--timeout=600s" if running else "--wait=false"
            deleted = cluster.kubectl("delete", "namespace", namespace, until, check=False)
            if not running or deleted.returncode != 0:
                print(f"  namespace {namespace} not deleted: the next run on this cluster sees it")
            operator.terminate()
            operator.wait(timeout=30)
            prom.stop()
            exporter.stop()
            if not reused:
                cluster.down()  # a thousand releases' objects would weigh on what runs next

    lateness = [
        seconds(b) - seconds(a) - args.interval  # type: ignore[operator]
        for steps in marks
        for a, b in itertools.pairwise(steps)
    ]
    lateness.sort()
    phases = [st.get("phase") for st in final.values()]
    text = scraped.decode()
    print("machine:", machine())
    print(f"{args.releases} releases, {args.nogo} turned NO-GO after their first step, "
          f"step and analysis interval {args.interval}s, operator tick 1s, "
          f"{args.rounds} rollout round(s)")  # fmt: skip
    print(f"  finished in {elapsed:.0f}s; last round: {phases.count('Succeeded')} promoted, "
          f"{phases.count('RolledBack')} rolled back, others {len(phases) - phases.count('Succeeded') - phases.count('RolledBack')}")  # fmt: skip  # noqa: E501
    print(f"  operator RSS: peak {peak:.0f} MiB (goal <= 250 MB); {rss_start:.0f} MiB when the "
          f"rollouts began, {now_rss:.0f} MiB at the end")  # fmt: skip
    if lateness:
        print(
            f"  step lateness over {len(lateness)} steps: p50 {statistics.median(lateness):.2f}s "
            f"p95 {lateness[int(0.95 * (len(lateness) - 1))]:.2f}s max {lateness[-1]:.2f}s"
        )
    if held:
        reasons = ", ".join(f"{n}x {why}" for why, n in held.most_common(4))
        print(
            f"  gates that held a step for another window: {sum(held.values())} checks: {reasons}"
        )
    errors = sum(
        float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith("fragrance_reconcile_errors_total")
    )
    print(f"  reconcile ticks that raised: {errors:.0f}")
    sent = api_requests(text) - requests_before
    print(
        f"  apiserver requests from the operator's client: {sent:.0f} during the rollout, "
        f"{sent / args.releases / (elapsed / 60):.1f} per release per minute"
    )
    print(
        f"  apiserver writes from every client: {sum(writes.values()) / elapsed:.0f} a second; "
        + ", ".join(f"{what} {n / elapsed:.1f}" for what, n in writes.most_common(8))
    )
    count, buckets = histogram(text, "fragrance_gate_duration_seconds")
    print(
        f"  gate evaluations (all of a gate's queries): {count}, "
        + ", ".join(f"{share_within(buckets, count, b):.0%} within {b:g}s" for b in (0.1, 1, 5))
    )
    for cause in ("advance", "rollback"):
        count, buckets = histogram(text, "fragrance_weight_change_seconds", f'cause="{cause}"')
        print(
            f"  decided gate -> weight written ({cause}): {count} changes, "
            f"{share_within(buckets, count, 0.1):.0%} within 0.1s, "
            f"{share_within(buckets, count, 1.0):.0%} within 1s (goal: p99 <= 1s, 99%)"
        )
    if wrong_rounds:
        print("FAILED:", *wrong_rounds, sep="\n  ")
        sys.exit(1)
    print(
        f"  correct: in every round all {len(failing)} failing canaries rolled back, "
        "all others promoted"
    )


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
