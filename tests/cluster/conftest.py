import os
from collections.abc import Iterator

import pytest
from kopf.testing import KopfRunner

from fragrance_dev.cluster import LocalCluster
from tests.cluster.rollouts import METRICS_PORT
from tests.prometheus_server import PrometheusServer


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/cluster/" in str(item.fspath):
            item.add_marker(pytest.mark.cluster)


@pytest.fixture(scope="module")
def operator(cluster: LocalCluster, prometheus: PrometheusServer) -> Iterator[KopfRunner]:
    os.environ["KUBECONFIG"] = str(cluster.layout.kubeconfig)
    os.environ["FRAGRANCE_PROMETHEUS_URL"] = prometheus.url
    os.environ["FRAGRANCE_TICK"] = "0.5"
    os.environ["FRAGRANCE_LEASE_SECONDS"] = "4"
    os.environ["FRAGRANCE_METRICS_PORT"] = str(METRICS_PORT)
    args = ["run", "--all-namespaces", "--standalone", "-m", "fragrance_operator.main"]
    with KopfRunner(args, timeout=60) as runner:
        yield runner
    assert runner.exception is None, runner.output[-3000:]


@pytest.fixture(scope="module")
def recovery() -> Iterator[dict[str, float]]:
    """Chaos scenarios' times to recover (seconds), printed at the module's end."""
    measured: dict[str, float] = {}
    yield measured
    for scenario, seconds in measured.items():
        print(f"{scenario}: end state reached {seconds:.1f}s after the fault was lifted")
