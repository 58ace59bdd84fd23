"""The real node: a kubelet on containerd runs pods that serve HTTP, through a Service (kube-
proxy) and by DNS name (CoreDNS) from another pod, with `kubectl logs` reaching the kubelet."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import yaml

from fragrance_dev.cluster import LocalCluster
from fragrance_dev.cluster.node.config import ECHO_IMAGE, NODE_IP, NODE_NAME, POD_CIDR
from fragrance_dev.cluster.node.runtime import TAINT
from tests.helpers import wait_for

ON_THE_REAL_NODE: dict[str, Any] = {
    "nodeSelector": {"fragrance.ai/node": "real"},
    "tolerations": [{"key": TAINT.split("=")[0], "operator": "Exists", "effect": "NoSchedule"}],
}


def _get(cluster: LocalCluster, *args: str) -> dict[str, Any]:
    return dict(json.loads(cluster.kubectl("get", *args, "-o", "json").stdout))


def _http(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return str(response.read().decode())


def _fetch_once(cluster: LocalCluster, namespace: str, name: str, url: str, *flags: str) -> None:
    """A pod on the real node that fetches ``url`` once (the smoke-test image's ``-get``);
    returns when it has finished. Its answer is in its log."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            **ON_THE_REAL_NODE,
            "restartPolicy": "Never",
            "containers": [
                {
                    "name": "get",
                    "image": ECHO_IMAGE,
                    "imagePullPolicy": "Never",
                    "args": ["-get", url, *flags],
                }
            ],
        },
    }
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(pod))
    wait_for(
        lambda: (
            _get(cluster, "pod", name, "-n", namespace)["status"].get("phase")
            in ("Succeeded", "Failed")
        ),
        f"the {name} pod to finish",
        60,
    )


def test_the_real_node_is_a_kubelet_on_containerd_and_keeps_other_pods_off(
    cluster: LocalCluster,
) -> None:
    node = _get(cluster, "node", NODE_NAME)
    info = node["status"]["nodeInfo"]
    assert info["kubeletVersion"].startswith("v1.34.")
    assert info["containerRuntimeVersion"].startswith("containerd://")
    assert {"type": "InternalIP", "address": NODE_IP} in node["status"]["addresses"]
    assert [t["key"] for t in node["spec"]["taints"]] == [TAINT.split("=")[0]]


def test_a_pod_serves_http_through_its_service_and_by_dns_name(
    cluster: LocalCluster, namespace: str
) -> None:
    docs = [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "echo", "namespace": namespace},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "echo"}},
                "template": {
                    "metadata": {"labels": {"app": "echo"}},
                    "spec": {
                        **ON_THE_REAL_NODE,
                        "containers": [
                            {
                                "name": "echo",
                                "image": ECHO_IMAGE,
                                "imagePullPolicy": "Never",
                                "ports": [{"containerPort": 8080}],
                                "readinessProbe": {
                                    "httpGet": {"path": "/healthz", "port": 8080},
                                    "periodSeconds": 1,
                                },
                            }
                        ],
                    },
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "echo", "namespace": namespace},
            "spec": {"selector": {"app": "echo"}, "ports": [{"port": 80, "targetPort": 8080}]},
        },
    ]
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(docs))
    cluster.kubectl(
        "wait", "-n", namespace, "--for=condition=Available", "deploy/echo", "--timeout=90s"
    )
    pods = _get(cluster, "pods", "-n", namespace, "-l", "app=echo")["items"]
    names = {p["metadata"]["name"] for p in pods}
    prefix = POD_CIDR.split(".0.0/")[0] + "."
    for pod in pods:
        assert pod["spec"]["nodeName"] == NODE_NAME
        assert pod["status"]["podIP"].startswith(prefix)
        # From this machine to the pod's own address, on the project's bridge.
        answer = _http(f"http://{pod['status']['podIP']}:8080/")
        assert answer == f"hello from {pod['metadata']['name']}\n"
    # Through the Service's cluster IP (kube-proxy's rules): both pods answer in time.
    service_ip = _get(cluster, "service", "echo", "-n", namespace)["spec"]["clusterIP"]
    seen: set[str] = set()

    def both_answered() -> bool:
        try:  # kube-proxy writes the new endpoints' rules within a second or so
            seen.add(_http(f"http://{service_ip}/").split()[-1])
        except OSError:
            return False
        return seen == names

    wait_for(both_answered, "both pods answering through the Service", 30)
    # From another pod, by the Service's DNS name (CoreDNS).
    _fetch_once(cluster, namespace, "client", f"http://echo.{namespace}.svc.cluster.local/")
    logs = cluster.kubectl("logs", "client", "-n", namespace).stdout  # through the kubelet
    assert logs.startswith("200 hello from echo-"), logs
    assert _get(cluster, "pod", "client", "-n", namespace)["status"]["phase"] == "Succeeded"


def test_a_pod_reaches_the_apiserver_as_its_service_account(
    cluster: LocalCluster, namespace: str
) -> None:
    """In-cluster clients (the operator as a pod) find the apiserver the standard way: the
    `kubernetes` Service by DNS name, its CA and the pod's ServiceAccount token."""
    secrets = "/var/run/secrets/kubernetes.io/serviceaccount"
    url = f"https://kubernetes.default.svc/api/v1/namespaces/{namespace}/secrets"
    _fetch_once(
        cluster,
        namespace,
        "in-cluster",
        url,
        "-ca",
        f"{secrets}/ca.crt",
        "-token",
        f"{secrets}/token",
    )
    answer = cluster.kubectl("logs", "in-cluster", "-n", namespace).stdout
    # The apiserver knew who asked (RBAC then refuses the default account, as it should).
    assert answer.startswith("403 "), answer
    assert f"system:serviceaccount:{namespace}:default" in answer
