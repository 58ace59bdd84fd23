"""One operator, fifty releases rolled out at once, five turned bad mid-rollout.

The scale benchmark's correctness check at a size CI can afford: every failing canary is
rolled back and every healthy one promoted, with the operator as its own process.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from fragrance_dev.cluster import LocalCluster
from tests.cluster.rollouts import operator_process
from tests.fleet import FaultInjector, apply_all, release, route, statuses, wrong
from tests.helpers import wait_for
from tests.prometheus_server import PrometheusServer
from tests.serving_exporter import ServingExporter

RELEASES, FAILING, INTERVAL = 50, 5, 3


@pytest.mark.timeout(600)
def test_fifty_releases_every_failing_canary_rolled_back_every_healthy_one_promoted(
    cluster: LocalCluster,
    namespace: str,
    prometheus: PrometheusServer,
    serving_exporter: ServingExporter,
    tmp_path: Path,
) -> None:
    # The exporter's series carry no namespace: names unique to this test.
    prefix = f"m{uuid.uuid4().hex[:6]}"
    names = [f"{prefix}-{i:02d}" for i in range(RELEASES)]
    for name in names:
        # 40/s: 12 creative requests in a 3 s window, enough for the per-mode p95.
        serving_exporter.set(name, rps=40.0)
    failing = set(names[:FAILING])
    log = tmp_path / "operator.log"
    with operator_process(cluster, prometheus.url, log, namespace):
        apply_all(cluster, namespace, [route(n) for n in names])
        apply_all(cluster, namespace, [release(n, "v1", INTERVAL) for n in names])
        wait_for(
            lambda: all(
                st.get("phase") == "Succeeded" for st in statuses(cluster, namespace).values()
            ),
            f"v1 stable in all {RELEASES} releases",
            180,
        )
        injector = FaultInjector(cluster, namespace, serving_exporter, failing)
        try:
            apply_all(cluster, namespace, [release(n, "v2", INTERVAL) for n in names])
            wait_for(lambda: injector.all_finished(names), "every v2 rollout to finish", 300)
        finally:
            injector.stop()
    assert injector.injected == failing, "each failing canary turned bad while at 5%"
    promoted_bad, missed = wrong(statuses(cluster, namespace), names, failing)
    assert not promoted_bad, f"failing canaries not rolled back: {promoted_bad}"
    assert not missed, f"healthy canaries not promoted: {missed}"
