"""The validating admission webhook, served by kopf on 127.0.0.1 with the project's own CA."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from kopf.testing import KopfRunner

from fragrance_dev.cluster import LocalCluster
from fragrance_dev.cluster.pki import CertificateAuthority
from tests.cluster.rollouts import release_doc
from tests.helpers import wait_for
from tests.prometheus_server import PrometheusServer, free_port
from tests.serving_exporter import ServingExporter

WEBHOOK_ENV = ("FRAGRANCE_WEBHOOK_PORT", "FRAGRANCE_WEBHOOK_CERT", "FRAGRANCE_WEBHOOK_KEY",
               "FRAGRANCE_WEBHOOK_CA")  # fmt: skip


@pytest.fixture(scope="module")
def operator_with_webhook(
    cluster: LocalCluster, prometheus: PrometheusServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[KopfRunner]:
    ca = CertificateAuthority(tmp_path_factory.mktemp("webhook-pki"))
    serving = ca.serving("webhook", ("127.0.0.1",))
    values = (str(free_port()), str(serving.cert), str(serving.key), str(ca.pair.cert))
    os.environ.update(dict(zip(WEBHOOK_ENV, values, strict=True)))
    os.environ.update(
        KUBECONFIG=str(cluster.layout.kubeconfig),
        FRAGRANCE_PROMETHEUS_URL=prometheus.url,
        FRAGRANCE_TICK="0.5",
        FRAGRANCE_LEASE_SECONDS="4",
        FRAGRANCE_METRICS_PORT="0",
    )
    args = ["run", "--all-namespaces", "--standalone", "-m", "fragrance_operator.main"]
    try:
        with KopfRunner(args, timeout=60) as runner:
            wait_for(
                lambda: cluster.kubectl(
                    "get", "validatingwebhookconfiguration", "fragrance.ai", check=False
                ).returncode == 0,
                "kopf to register the webhook",
            )  # fmt: skip
            yield runner
    finally:
        for key in WEBHOOK_ENV:
            os.environ.pop(key, None)
        cluster.kubectl("delete", "validatingwebhookconfiguration", "fragrance.ai", check=False)
    assert runner.exception is None


def apply(cluster: LocalCluster, namespace: str, doc: dict[str, object]) -> str:
    result = cluster.kubectl(
        "apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(doc), check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stderr


def test_webhook_refuses_replica_increase_under_the_floor_and_warns_on_missing_policy(
    operator_with_webhook: KopfRunner,
    cluster: LocalCluster,
    namespace: str,
    serving_exporter: ServingExporter,
    release_name: str,
    tmp_path: Path,
) -> None:
    serving_exporter.set(release_name, track="stable", vram_used_fraction=0.85)
    doc = release_doc(release_name, "v1")
    doc["spec"]["workload"]["replicas"] = 2
    warned = apply(cluster, namespace, doc)
    assert "spec.tuningPolicyRef: TuningPolicy default not found" in warned

    def refused() -> bool:
        doc["spec"]["workload"]["replicas"] = 3
        result = cluster.kubectl(
            "apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(doc), check=False
        )
        return result.returncode != 0 and "VRAM headroom 15% < floor 20%" in result.stderr

    wait_for(refused, "the webhook to refuse 2 -> 3 at 15% headroom", 30)
    doc["spec"]["workload"]["replicas"] = 1
    apply(cluster, namespace, doc)  # scale-down is always allowed
    serving_exporter.set(release_name, track="stable", vram_used_fraction=0.5)

    def allowed() -> bool:
        doc["spec"]["workload"]["replicas"] = 2
        result = cluster.kubectl(
            "apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(doc), check=False
        )
        return result.returncode == 0

    wait_for(allowed, "the webhook to allow 1 -> 2 at 50% headroom", 30)
