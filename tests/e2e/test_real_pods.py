"""Real pods: the project's images, built from its Dockerfile, run a release on the real node.

What a platform team does on a cluster: a FragranceRelease whose workload is a pod template
they own (tolerations, nodeSelector, resources, the weights' volume); the operator writes the
serving pods' config; their Services answer `/v1/brief`; a Prometheus that discovers pods
through the apiserver scrapes them, and the gate judges the canary on those series.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from fragrance_dev.cluster import LocalCluster
from fragrance_dev.cluster.node.config import NODE_NAME
from fragrance_dev.cluster.prometheus import PrometheusServer
from fragrance_dev.demo.client import request_body
from fragrance_dev.demo.on_cluster import serving_template
from fragrance_dev.images import Built
from fragrance_operator.adapters.prometheus import Prometheus
from fragrance_serving.brief import BriefResponse
from tests.cluster.rollouts import (
    ROUTE,
    Watcher,
    apply,
    operator_process,
    release_doc,
)
from tests.helpers import ROOT, wait_for


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


def _cluster_ip(cluster: LocalCluster, namespace: str, service: str) -> str:
    got = cluster.kubectl("get", "svc", service, "-n", namespace, "-o", "json")
    return f"http://{json.loads(got.stdout)['spec']['clusterIP']}:8000"


@pytest.mark.timeout(900)
def test_a_release_of_real_pods_serves_briefs_and_is_gated_on_their_own_metrics(
    cluster: LocalCluster,
    namespace: str,
    images: dict[str, Built],
    pod_prometheus: PrometheusServer,
    release_name: str,
    tmp_path: Path,
) -> None:
    image = images["serving"].image
    docs = []
    for version in ("v1", "v2"):
        doc = release_doc(
            release_name, version, steps=[50, 100], stepInterval="30s", progressDeadline="10m",
            analysis={"interval": "20s", "minRequests": 5, "minRequestsPerMode": 5},
        )  # fmt: skip
        template = serving_template(ROOT / "models")
        doc["spec"].update(
            image=image, workload={"replicas": 1, "gpusPerReplica": 0, "template": template}
        )
        docs.append(doc)
    apply(cluster, namespace, ROUTE)
    log = tmp_path / "operator.log"
    with operator_process(cluster, pod_prometheus.url, log, namespace):
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
    series = Prometheus(pod_prometheus.url).query(query).samples
    assert series is not None
    for labels, _ in series:
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
