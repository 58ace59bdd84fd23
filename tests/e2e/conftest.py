"""What the e2e tests on the real node share: the project's images on the node, and a
Prometheus that discovers pods through the apiserver."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fragrance_dev.cluster import LocalCluster
from fragrance_dev.cluster.node.config import NODE_IP
from fragrance_dev.cluster.prometheus import PrometheusServer, pod_discovery_job
from fragrance_dev.images import Built, build_images, load_images
from tests.helpers import ROOT


@pytest.fixture(scope="session")
def images(cluster: LocalCluster) -> dict[str, Built]:
    """Both targets of the Dockerfile, built (or found in the cache) and on the node."""
    built = build_images(ROOT, print)
    load_images(cluster.node().ctr(), built, print)
    return {image.target: image for image in built}


@pytest.fixture
def pod_prometheus(
    cluster: LocalCluster, namespace: str, tmp_path: Path
) -> Iterator[PrometheusServer]:
    job = pod_discovery_job(cluster.layout.kubeconfig, [namespace])
    # On the node's address: the chart's operator pods query it from there.
    server = PrometheusServer(
        tmp_path / "prometheus", [], scrape_interval="2s", jobs=[job], host=NODE_IP
    )
    yield server
    server.stop()
