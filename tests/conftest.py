"""Shared fixtures: the local control plane, started once per run, and a namespace per test."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Iterator

import pytest

from fragrance_dev.cluster import LocalCluster
from tests.helpers import ROOT, wait_for
from tests.prometheus_server import PrometheusServer
from tests.serving_exporter import ServingExporter


@pytest.fixture(scope="session")
def cluster() -> Iterator[LocalCluster]:
    """The local control plane: reused when one is running, else started and stopped here."""
    local = LocalCluster()
    reused = local.running() is not None
    local.up()
    # Always serve the CRDs the models generate now, also on a reused cluster.
    local.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(ROOT / "crds"))
    local.wait_all("crd", "Established", expected=None)
    yield local
    if not reused:
        local.down()
        # What the real node changed on this machine goes with it (bridge, chains, mounts).
        assert local.node().leftovers() == []


@pytest.fixture(scope="session")
def serving_exporter() -> Iterator[ServingExporter]:
    exporter = ServingExporter()
    yield exporter
    exporter.stop()


@pytest.fixture(scope="session")
def prometheus(
    serving_exporter: ServingExporter, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PrometheusServer]:
    """A real Prometheus scraping the fixture exporter every second."""
    server = PrometheusServer(
        tmp_path_factory.mktemp("prometheus"), [f"127.0.0.1:{serving_exporter.port}"]
    )
    yield server
    server.stop()


@pytest.fixture
def release_name() -> str:
    """A release name no other test uses, so series never mix between tests."""
    return f"rel-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def namespace(cluster: LocalCluster) -> Iterator[str]:
    """A fresh namespace, with its default ServiceAccount, deleted after the test."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    cluster.kubectl("create", "namespace", name)
    wait_for(
        lambda: cluster.kubectl("get", "sa/default", "-n", name, check=False).returncode == 0,
        f"the default ServiceAccount in {name}",
    )
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def _has_gpu() -> bool:
    nvidia_smi = shutil.which("nvidia-smi")
    if not nvidia_smi:
        return False
    return subprocess.run([nvidia_smi, "-L"], capture_output=True, check=False).returncode == 0


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``gpu`` run only where an NVIDIA GPU answers ``nvidia-smi``."""
    if any("gpu" in item.keywords for item in items) and not _has_gpu():
        skip = pytest.mark.skip(reason="needs an NVIDIA GPU (nvidia-smi found none)")
        for item in items:
            if "gpu" in item.keywords:
                item.add_marker(skip)
