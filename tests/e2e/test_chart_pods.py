"""The chart on the real node: the operator image as two pods that lead and reconcile."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from fragrance_dev.cluster import LocalCluster
from fragrance_dev.cluster.node.config import NODE_NAME
from fragrance_dev.cluster.prometheus import PrometheusServer
from fragrance_dev.images import Built
from tests.cluster.rollouts import CPU_ONLY, Watcher, apply, release_doc
from tests.helpers import CHART, helm, wait_for


@pytest.mark.timeout(600)
def test_the_chart_runs_the_operator_image_as_two_pods_that_reconcile(
    cluster: LocalCluster,
    namespace: str,
    images: dict[str, Built],
    pod_prometheus: PrometheusServer,
    release_name: str,
    tmp_path: Path,
) -> None:
    repository, tag = images["operator"].image.rsplit(":", 1)
    values = {
        "image": {"repository": repository, "tag": tag},
        "watchNamespaces": [namespace],
        "prometheus": {"url": pod_prometheus.url},
        "tickSeconds": 1,
        "leaseSeconds": 5,
        "nodeSelector": {"fragrance.ai/node": "real"},
        "tolerations": [{"key": "fragrance.ai/real-node", "operator": "Exists"}],
    }
    (tmp_path / "values.yaml").write_text(yaml.safe_dump(values))
    install = helm(
        cluster, "install", "fr", str(CHART),
        "--namespace", namespace, "--values", str(tmp_path / "values.yaml"),
        "--wait", "--timeout", "5m", check=False, timeout=420,
    )  # fmt: skip
    try:
        assert install.returncode == 0, install.stdout + install.stderr
        pods = json.loads(cluster.kubectl(
            "get", "pods", "-n", namespace, "-l", "app.kubernetes.io/instance=fr", "-o", "json"
        ).stdout)["items"]  # fmt: skip
        assert len(pods) == 2
        names = set()
        for pod in pods:
            names.add(pod["metadata"]["name"])
            assert pod["spec"]["nodeName"] == NODE_NAME
            assert pod["status"]["phase"] == "Running"
            assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
            container = pod["spec"]["containers"][0]
            assert container["image"] == images["operator"].image
            assert container["securityContext"]["readOnlyRootFilesystem"] is True
            assert all(c["ready"] for c in pod["status"]["containerStatuses"])

        def leader() -> str:
            got = cluster.kubectl("get", "leases", "-n", namespace, "-o", "json")
            holders = [
                lease["spec"].get("holderIdentity") or ""
                for lease in json.loads(got.stdout)["items"]
            ]
            return next((h for h in holders if any(h.startswith(n) for n in names)), "")

        wait_for(lambda: bool(leader()), "one operator pod to hold the Lease", 60)

        # The pods reconcile: a release in the watched namespace rolls out to Succeeded.
        doc = release_doc(release_name, "v1")
        doc["spec"].update(CPU_ONLY)
        apply(cluster, namespace, doc)
        watcher = Watcher(cluster, namespace, release_name)
        watcher.until(
            "v1 Succeeded by the chart's operator pods",
            lambda s: s.get("phase") == "Succeeded",
            120,
        )
        print(f"operator pods {sorted(names)}; leader {leader()}")
    finally:
        logs = cluster.kubectl(
            "logs", "-n", namespace, "-l", "app.kubernetes.io/instance=fr", "--tail=40",
            check=False,
        )  # fmt: skip
        print(logs.stdout[-4000:])
        helm(
            cluster, "uninstall", "fr", "--namespace", namespace, "--wait",
            check=False, timeout=420,
        )  # fmt: skip
