"""``make demo-cluster``: the product as a cluster runs it, on the local control plane.

The chart's operator image as pods, a TuningPolicy, a FragranceRelease of the serving image
(a Deployment on the real node, its pod template the user's), a Prometheus that discovers
the pods, a steady client through the Gateway (Traefik). v2 is promoted step by step; a
faulty v3 is caught and rolled back. Every answer says which version served it, so the
picture shows the split the client measured beside the weights the operator wrote.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import yaml

from fragrance_dev.cluster import LocalCluster
from fragrance_dev.cluster import gateway as local_gateway
from fragrance_dev.cluster.node.config import NODE_IP
from fragrance_dev.cluster.node.runtime import TAINT
from fragrance_dev.cluster.prometheus import PrometheusServer, pod_discovery_job
from fragrance_dev.demo.client import Client
from fragrance_dev.demo.follow import Outcome, Say, Timeline, follow
from fragrance_dev.demo.scenario import POLICY, DemoConfig, release_doc, report
from fragrance_dev.images import build_images, load_images

NAMESPACE = "fragrance-demo"
HOSTNAME = "brief.fragrance.demo"
ROUTE = "brief-api"


def serving_template(models_dir: Path) -> dict[str, Any]:
    """The serving pods' template a platform team owns: the real node (tainted like a GPU
    pool), requests, and the trained weights (hostPath here; a PVC or an image volume on a
    cluster)."""
    return {
        "metadata": {"labels": {"team": "perfume"}},
        "spec": {
            "nodeSelector": {"fragrance.ai/node": "real"},
            "tolerations": [
                {"key": TAINT.split("=")[0], "operator": "Exists", "effect": "NoSchedule"}
            ],
            "containers": [
                {
                    "name": "serving",
                    "resources": {"requests": {"cpu": "100m", "memory": "512Mi"}},
                    "volumeMounts": [{"name": "models", "mountPath": "/models", "readOnly": True}],
                }
            ],
            "volumes": [
                {
                    "name": "models",
                    "hostPath": {"path": str(models_dir.resolve()), "type": "Directory"},
                }
            ],
        },
    }


def cluster_release(
    config: DemoConfig, version: str, image: str, faulty: bool = False
) -> dict[str, Any]:
    """The local demo's release, as a Deployment of the serving image behind the Gateway."""
    doc = release_doc(config, version, faulty)
    doc["metadata"]["namespace"] = NAMESPACE
    doc["spec"].update(
        image=image,
        workload={"replicas": 1, "gpusPerReplica": 0,
                  "template": serving_template(config.models_dir)},
        traffic={"provider": "gatewayAPI", "gatewayAPI": {"httpRoute": ROUTE}},
    )  # fmt: skip
    # Pods start in tens of seconds, not Ray's applications' seconds.
    doc["spec"]["canary"]["progressDeadline"] = "6m"
    return doc


def route() -> dict[str, Any]:
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": ROUTE, "namespace": NAMESPACE},
        "spec": {
            "parentRefs": [local_gateway.parent_ref()],
            "hostnames": [HOSTNAME],
            "rules": [{"backendRefs": []}],
        },
    }


def chart_values(image: str, prometheus_url: str) -> dict[str, Any]:
    repository, tag = image.rsplit(":", 1)
    return {
        "image": {"repository": repository, "tag": tag},
        "watchNamespaces": [NAMESPACE],
        "prometheus": {"url": prometheus_url},
        "tickSeconds": 1,
        "nodeSelector": {"fragrance.ai/node": "real"},
        "tolerations": [{"key": TAINT.split("=")[0], "operator": "Exists"}],
    }


def _helm(cluster: LocalCluster, *args: str) -> None:
    binary = cluster.layout.tools_dir / "bin" / "helm"
    done = subprocess.run(
        [str(binary), "--kubeconfig", str(cluster.layout.kubeconfig), *args],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"helm {args[0]} failed: {done.stderr.strip() or done.stdout}")


def _apply(cluster: LocalCluster, doc: dict[str, Any]) -> None:
    cluster.kubectl("apply", "-n", NAMESPACE, "-f", "-", input=yaml.safe_dump(doc))


def run(
    config: DemoConfig, root: Path, out: Path, say: Say = print
) -> tuple[list[Outcome], Client]:
    out.mkdir(parents=True, exist_ok=True)
    timeline = Timeline()
    with ExitStack() as stack:
        cluster = LocalCluster(progress=say, real_node=True)
        say("starting the local control plane with its real node and Gateway")
        info = cluster.up()
        say("building the images (cached by their inputs) and loading them on the node")
        built = {image.target: image for image in build_images(root, say)}
        load_images(cluster.node().ctr(), list(built.values()), say)
        cluster.kubectl("delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=true",
                        "--timeout=180s")  # fmt: skip
        cluster.kubectl("create", "namespace", NAMESPACE)
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="fragrance-demo-")))
        job = pod_discovery_job(cluster.layout.kubeconfig, [NAMESPACE])
        # On the node's address: the operator's pods query it from there.
        prometheus = PrometheusServer(work / "prometheus", [], "2s", jobs=[job], host=NODE_IP)
        stack.callback(prometheus.stop)
        say(f"Prometheus on {prometheus.url}, discovering the serving pods through the apiserver")
        values = work / "values.yaml"
        values.write_text(yaml.safe_dump(chart_values(built["operator"].image, prometheus.url)))
        say("installing the chart: the operator image as two pods (one leads)")
        chart = root / "charts" / "fragrance-operator"
        _helm(cluster, "install", "fragrance", str(chart), "--namespace", NAMESPACE,
              "--values", str(values), "--wait", "--timeout", "5m")  # fmt: skip
        stack.callback(_helm, cluster, "uninstall", "fragrance", "--namespace", NAMESPACE)
        policy = {**POLICY, "metadata": {"name": "default", "namespace": NAMESPACE}}
        _apply(cluster, policy)
        _apply(cluster, route())
        image = built["serving"].image
        say(f"--- v1: the first release of {image} becomes stable")
        _apply(cluster, cluster_release(config, "v1", image))
        outcomes = [follow(cluster, "v1", timeline, say, config.budget, NAMESPACE)]
        url = f"http://127.0.0.1:{info.ports['gateway']}/v1/brief"
        client = Client(url, config.rate, host=HOSTNAME)
        say(f"--- a steady client: {config.rate:.0f} requests/s through the Gateway ({url})")
        client.start()
        stack.callback(client.stop)
        time.sleep(3)
        say("--- v2: canary through the gate")
        _apply(cluster, cluster_release(config, "v2", image))
        outcomes.append(follow(cluster, "v2", timeline, say, config.budget, NAMESPACE))
        say("--- v3: a faulty version (half its model calls fail); the gate must catch it")
        _apply(cluster, cluster_release(config, "v3", image, faulty=True))
        outcomes.append(follow(cluster, "v3", timeline, say, config.budget, NAMESPACE))
        time.sleep(2)
        client.stop()
        report(config, out, timeline, outcomes, client, say)
        return outcomes, client
    raise AssertionError("unreachable")
