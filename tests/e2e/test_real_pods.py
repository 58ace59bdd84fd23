"""Real pods: the project's images, built from its Dockerfile, run a release on the real node.

What a platform team does on a cluster: a FragranceRelease whose workload is a pod template
they own (tolerations, nodeSelector, resources, the weights' volume); the operator writes the
serving pods' config; their Services answer `/v1/brief`; a Prometheus that discovers pods
through the apiserver scrapes them, and the gate judges the canary on those series.
"""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from fragrance_dev.cluster import LocalCluster
from fragrance_dev.cluster.node.config import NODE_IP, NODE_NAME
from fragrance_dev.cluster.prometheus import PrometheusServer, pod_discovery_job
from fragrance_dev.demo.client import request_body
from fragrance_dev.images import Built, build_images, load_images
from fragrance_serving.brief import BriefResponse
from tests.cluster.rollouts import (
    CPU_ONLY,
    ROUTE,
    Watcher,
    apply,
    operator_process,
    release_doc,
)
from tests.helpers import ROOT, wait_for


@pytest.fixture(scope="module")
def images(cluster: LocalCluster) -> dict[str, Built]:
    """Both targets of the Dockerfile, built (or found in the cache) and on the node."""
    built = build_images(ROOT, print)
    load_images(cluster.node().ctr(), built, print)
    return {image.target: image for image in built}


def _layer_paths(archive: str) -> set[str]:
    """Every path in every layer of an (uncompressed) OCI archive."""
    paths: set[str] = set()
    with tarfile.open(archive) as outer:
        index = json.load(outer.extractfile("index.json"))  # type: ignore[arg-type]
        digest = index["manifests"][0]["digest"].split(":")[1]
        manifest = json.load(outer.extractfile(f"blobs/sha256/{digest}"))  # type: ignore[arg-type]
        for layer in manifest["layers"]:
            blob = outer.extractfile(f"blobs/sha256/{layer['digest'].split(':')[1]}")
            assert blob is not None
            with tarfile.open(fileobj=io.BytesIO(blob.read())) as inner:
                paths.update(inner.getnames())
    return paths


def test_the_operator_image_holds_the_operator_and_no_torch_or_ray(
    images: dict[str, Built],
) -> None:
    operator = images["operator"]
    paths = _layer_paths(operator.archive)
    packages = {p.split("site-packages/")[1].split("/")[0] for p in paths if "site-packages/" in p}
    assert {"fragrance_operator", "fragrance_api", "kopf"} <= packages
    assert not packages & {"torch", "ray", "fragrance_serving", "fragrance_dev"}
    print(f"operator image {operator.image}: {operator.size_mib:,.0f} MiB")
    print(f"serving image {images['serving'].image}: {images['serving'].size_mib:,.0f} MiB")


def _template() -> dict[str, Any]:
    """Where a platform team puts serving pods: the real node, tainted like a GPU pool."""
    return {
        "metadata": {"labels": {"team": "perfume"}},
        "spec": {
            "nodeSelector": {"fragrance.ai/node": "real"},
            "tolerations": [
                {"key": "fragrance.ai/real-node", "operator": "Exists", "effect": "NoSchedule"}
            ],
            "containers": [
                {
                    "name": "serving",
                    "resources": {"requests": {"cpu": "100m", "memory": "512Mi"}},
                    "volumeMounts": [{"name": "models", "mountPath": "/models", "readOnly": True}],
                }
            ],
            # The weights `make models` trained; a cluster would use a PVC or an image volume.
            "volumes": [
                {"name": "models", "hostPath": {"path": str(ROOT / "models"), "type": "Directory"}}
            ],
        },
    }


class Load:
    """The demo's client traffic (modes in turn, mostly hot prompts) to both tracks'
    Services, two workers each, until stopped; every answer kept."""

    def __init__(self, urls: list[str]) -> None:
        self.answers: list[tuple[str, dict[str, Any]]] = []
        self.failures: list[tuple[str, str]] = []
        self.stop = threading.Event()
        self.threads = [
            threading.Thread(target=self._run, args=(url, worker), daemon=True)
            for worker, url in enumerate(urls * 2)
        ]
        for thread in self.threads:
            thread.start()

    def _run(self, url: str, worker: int) -> None:
        n = 0
        while not self.stop.is_set():
            n += 1
            data = json.dumps(request_body(worker, n)).encode()
            request = urllib.request.Request(
                f"{url}/v1/brief", data, {"Content-Type": "application/json"}
            )
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    self.answers.append((url, json.load(response)))
            except urllib.error.HTTPError as error:
                self.failures.append((url, f"{error.code} {error.read()[:300]!r}"))
            except OSError as error:
                self.failures.append((url, str(error)))

    def close(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)


@pytest.fixture
def prometheus(cluster: LocalCluster, namespace: str, tmp_path: Path) -> Iterator[PrometheusServer]:
    job = pod_discovery_job(cluster.layout.kubeconfig, [namespace])
    # On the node's address: the chart's operator pods query it from there.
    server = PrometheusServer(
        tmp_path / "prometheus", [], scrape_interval="2s", jobs=[job], host=NODE_IP
    )
    yield server
    server.stop()


def _series(prometheus: PrometheusServer, query: str) -> list[dict[str, Any]]:
    url = f"{prometheus.url}/api/v1/query?" + urllib.parse.urlencode({"query": query})
    with urllib.request.urlopen(url, timeout=10) as response:
        return list(json.load(response)["data"]["result"])


def _cluster_ip(cluster: LocalCluster, namespace: str, service: str) -> str:
    got = cluster.kubectl("get", "svc", service, "-n", namespace, "-o", "json")
    return f"http://{json.loads(got.stdout)['spec']['clusterIP']}:8000"


@pytest.mark.timeout(900)
def test_a_release_of_real_pods_serves_briefs_and_is_gated_on_their_own_metrics(
    cluster: LocalCluster,
    namespace: str,
    images: dict[str, Built],
    prometheus: PrometheusServer,
    release_name: str,
    tmp_path: Path,
) -> None:
    image = images["serving"].image
    docs = []
    for version in ("v1", "v2"):
        doc = release_doc(
            release_name, version, steps=[50, 100], stepInterval="30s", progressDeadline="10m",
            analysis={"interval": "20s", "minRequests": 5},
        )  # fmt: skip
        doc["spec"].update(image=image, workload={
            "replicas": 1, "gpusPerReplica": 0, "template": _template()})  # fmt: skip
        docs.append(doc)
    apply(cluster, namespace, ROUTE)
    log = tmp_path / "operator.log"
    with operator_process(cluster, prometheus.url, log, namespace):
        apply(cluster, namespace, docs[0])
        watcher = Watcher(cluster, namespace, release_name)
        watcher.until("v1 stable on real pods", lambda s: s.get("phase") == "Succeeded", 420)

        pods = json.loads(cluster.kubectl(
            "get", "pods", "-n", namespace, "-l", f"release={release_name}", "-o", "json"
        ).stdout)["items"]  # fmt: skip
        assert [p["spec"]["nodeName"] for p in pods] == [NODE_NAME]
        assert pods[0]["metadata"]["labels"]["team"] == "perfume"

        apply(cluster, namespace, docs[1])
        wait_for(
            lambda: cluster.kubectl(
                "get", "svc", f"{release_name}-canary", "-n", namespace, check=False
            ).returncode == 0,
            "the canary Service",
            60,
        )  # fmt: skip
        urls = [
            _cluster_ip(cluster, namespace, f"{release_name}-{t}") for t in ("stable", "canary")
        ]
        load = Load(urls)
        gates: list[dict[str, Any]] = []

        def promoted(status: dict[str, Any]) -> bool:
            if status.get("gate") and status["gate"] not in gates:
                gates.append(status["gate"])
            return status.get("phase") == "Succeeded" and status.get("stableVersion") == "v2"

        try:
            watcher.until("v2 promoted on its own pods' metrics", promoted, 420)
        finally:
            load.close()

    # The gate judged the canary on the series its pods exported, scraped by discovery.
    assert [g["decision"] for g in gates][-1:] == ["GO"], gates
    measured = {c["name"]: c.get("value") for c in gates[-1]["checks"]}
    assert measured["errorRate5xx"] == 0
    assert measured["latencyP95/fast"] is not None
    by_track: dict[str, set[str]] = {}
    # Every series of the rollout, also those of the canary pods gone since the promotion.
    query = f'max_over_time(http_requests_total{{release="{release_name}"}}[15m])'
    for series in _series(prometheus, query):
        labels = series["metric"]
        assert labels["namespace"] == namespace
        assert labels["pod"].startswith(release_name)
        by_track.setdefault(labels["track"], set()).add(labels["pod"])
    assert {"stable", "canary"} <= by_track.keys(), by_track
    assert all(pod.startswith(f"{release_name}-canary-") for pod in by_track["canary"])

    # Both Services answered schema-valid briefs from the serving image's real models.
    answered = {url for url, _ in load.answers}
    assert answered == set(urls), (answered, load.failures[-5:])
    for _, answer in load.answers:
        BriefResponse.model_validate(answer)
    # The stable Service answered throughout, its pods replaced by the promotion included;
    # the canary's stops answering once the canary is removed, after the promotion.
    stable_url = urls[0]
    stable_failures = [error for url, error in load.failures if url == stable_url]
    assert stable_failures == [], stable_failures[:5]
    print(f"{len(load.answers)} briefs answered; the stable Service never failed")


def _helm(cluster: LocalCluster, *args: str) -> subprocess.CompletedProcess[str]:
    helm = cluster.layout.tools_dir / "bin" / "helm"
    argv = [str(helm), "--kubeconfig", str(cluster.layout.kubeconfig), *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=420, check=False)


@pytest.mark.timeout(600)
def test_the_chart_runs_the_operator_image_as_two_pods_that_reconcile(
    cluster: LocalCluster,
    namespace: str,
    images: dict[str, Built],
    prometheus: PrometheusServer,
    release_name: str,
    tmp_path: Path,
) -> None:
    repository, tag = images["operator"].image.rsplit(":", 1)
    values = {
        "image": {"repository": repository, "tag": tag},
        "watchNamespaces": [namespace],
        "prometheus": {"url": prometheus.url},
        "tickSeconds": 1,
        "leaseSeconds": 5,
        "nodeSelector": {"fragrance.ai/node": "real"},
        "tolerations": [{"key": "fragrance.ai/real-node", "operator": "Exists"}],
    }
    (tmp_path / "values.yaml").write_text(yaml.safe_dump(values))
    install = _helm(
        cluster, "install", "fr", str(ROOT / "charts" / "fragrance-operator"),
        "--namespace", namespace, "--values", str(tmp_path / "values.yaml"),
        "--wait", "--timeout", "5m",
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
        _helm(cluster, "uninstall", "fr", "--namespace", namespace, "--wait")
