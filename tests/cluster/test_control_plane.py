"""The local control plane: real nodes, scheduling, RBAC, ServiceAccount kubeconfigs, helm."""

from __future__ import annotations

import json
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

from fragrance_dev.cluster import Layout, LocalCluster, gateway, kuberay
from fragrance_dev.cluster.node.config import NODE_NAME
from fragrance_dev.cluster.processes import recorded
from tests.helpers import ROOT, wait_for


def _json(cluster: LocalCluster, *args: str) -> dict:  # type: ignore[type-arg]
    return json.loads(cluster.kubectl(*args, "-o", "json").stdout)  # type: ignore[no-any-return]


def test_server_reports_a_real_version(cluster: LocalCluster) -> None:
    version = json.loads(cluster.kubectl("version", "-o", "json").stdout)
    assert version["serverVersion"]["gitVersion"].startswith("v1.34.")
    assert version["serverVersion"]["minor"] == "34"
    assert version["clientVersion"]["gitVersion"] == version["serverVersion"]["gitVersion"]


def test_four_fake_nodes_two_with_gpus_and_the_real_node_all_ready(cluster: LocalCluster) -> None:
    nodes = _json(cluster, "get", "nodes")["items"]
    for node in nodes:
        ready = [c for c in node["status"]["conditions"] if c["type"] == "Ready"]
        assert [c["status"] for c in ready] == ["True"], node["metadata"]["name"]
    fake = [n for n in nodes if n["metadata"].get("annotations", {}).get("kwok.x-k8s.io/node")]
    assert len(fake) == 4
    assert [n["metadata"]["name"] for n in nodes if n not in fake] == [NODE_NAME]
    gpus = {n["metadata"]["name"]: n["status"]["capacity"].get("nvidia.com/gpu") for n in nodes}
    assert sorted(name for name, count in gpus.items() if count == "8") == [
        "gpu-node-1",
        "gpu-node-2",
    ]


def test_deployment_pods_are_scheduled_running_and_ready(
    cluster: LocalCluster, namespace: str
) -> None:
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "worker-llm", "namespace": namespace},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "worker-llm"}},
            "template": {
                "metadata": {"labels": {"app": "worker-llm"}},
                "spec": {
                    "containers": [
                        {
                            "name": "serving",
                            "image": "fragrance-serving:test",
                            "resources": {"limits": {"nvidia.com/gpu": "2"}},
                        }
                    ]
                },
            },
        },
    }
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(deployment))
    cluster.kubectl(
        "wait",
        "-n",
        namespace,
        "--for=condition=Available",
        "deploy/worker-llm",
        "--timeout=60s",
    )
    pods = _json(cluster, "get", "pods", "-n", namespace, "-l", "app=worker-llm")["items"]
    assert len(pods) == 3
    for pod in pods:
        assert pod["status"]["phase"] == "Running"
        assert pod["spec"]["nodeName"].startswith("gpu-node-"), "GPU pods land on GPU nodes"


def test_pod_asking_more_gpus_than_a_node_has_stays_pending(
    cluster: LocalCluster, namespace: str
) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "too-big", "namespace": namespace},
        "spec": {
            "containers": [
                {"name": "c", "image": "x", "resources": {"limits": {"nvidia.com/gpu": "9"}}}
            ]
        },
    }
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(pod))

    def unschedulable() -> bool:
        conditions = _json(cluster, "get", "pod/too-big", "-n", namespace)["status"].get(
            "conditions", []
        )
        return any(
            c["type"] == "PodScheduled"
            and c.get("reason") == "Unschedulable"
            and "nvidia.com/gpu" in c.get("message", "")
            for c in conditions
        )

    wait_for(unschedulable, "the scheduler to refuse a 9-GPU pod")


def test_rbac_is_enforced_for_service_accounts(
    cluster: LocalCluster, namespace: str, tmp_path: Path
) -> None:
    cluster.kubectl("create", "serviceaccount", "reader", "-n", namespace)
    cluster.kubectl(
        "create", "role", "pod-reader", "-n", namespace, "--verb=get,list", "--resource=pods"
    )
    cluster.kubectl(
        "create",
        "rolebinding",
        "reader",
        "-n",
        namespace,
        "--role=pod-reader",
        f"--serviceaccount={namespace}:reader",
    )
    config = cluster.mint_kubeconfig(namespace, "reader", tmp_path / "reader.yaml")
    whoami = json.loads(
        cluster.kubectl("auth", "whoami", "-o", "json", kubeconfig_path=config).stdout
    )
    assert whoami["status"]["userInfo"]["username"] == f"system:serviceaccount:{namespace}:reader"
    allowed = cluster.kubectl("get", "pods", "-n", namespace, kubeconfig_path=config, check=False)
    assert allowed.returncode == 0, allowed.stderr
    denied = cluster.kubectl("get", "secrets", "-n", namespace, kubeconfig_path=config, check=False)
    assert denied.returncode != 0
    assert "Forbidden" in denied.stderr
    elsewhere = cluster.kubectl(
        "get", "pods", "-n", "kube-system", kubeconfig_path=config, check=False
    )
    assert "Forbidden" in elsewhere.stderr


def test_third_party_crds_are_served(cluster: LocalCluster) -> None:
    for crd in (
        "httproutes.gateway.networking.k8s.io",
        "rayservices.ray.io",
        "servicemonitors.monitoring.coreos.com",
        "prometheusrules.monitoring.coreos.com",
    ):
        cluster.kubectl("wait", "--for=condition=Established", f"crd/{crd}", "--timeout=10s")


def test_the_gateway_is_accepted_and_programmed_by_traefik(cluster: LocalCluster) -> None:
    got = cluster.kubectl(
        "get", "gateway", gateway.NAME, "-n", gateway.NAMESPACE, "-o", "json"
    )  # fmt: skip
    found = json.loads(got.stdout)
    assert gateway.programmed(found), found.get("status")
    assert found["status"]["addresses"] == [{"type": "IPAddress", "value": "127.0.0.1"}]
    info = cluster.running()
    assert info is not None
    assert gateway.pinged(info.ports["gateway-ping"])


def test_kuberays_operator_runs_with_the_cluster(cluster: LocalCluster) -> None:
    info = cluster.running()
    assert info is not None
    assert kuberay.healthy(info.ports["kuberay-health"])
    cluster.kubectl("wait", "--for=condition=Established", "crd/rayjobs.ray.io", "--timeout=10s")


def test_helm_installs_a_chart(cluster: LocalCluster, namespace: str) -> None:
    helm = Path(cluster.layout.bin / "helm")
    env = {**os.environ, "KUBECONFIG": str(cluster.layout.kubeconfig)}
    result = subprocess.run(
        [
            str(helm),
            "install",
            "hello",
            str(ROOT / "tests/fixtures/charts/hello"),
            "-n",
            namespace,
            "--wait",
            "--timeout=60s",
            "--set",
            "greeting=bonjour",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    data = _json(cluster, "get", "configmap", "hello-hello", "-n", namespace)["data"]
    assert data == {"greeting": "bonjour"}


def test_up_and_down_leave_no_process_behind(tmp_path: Path) -> None:
    """A second, throwaway cluster: started, proven working, stopped without leftovers."""
    layout = Layout(Layout.default().root, state_dir=tmp_path / "cluster")
    messages: list[str] = []
    second = LocalCluster(layout, progress=messages.append, real_node=False)
    # Two callers at once (make cluster beside a pytest run) get one cluster.
    with ThreadPoolExecutor(max_workers=2) as pool:
        infos = list(pool.map(lambda _: second.up(), range(2)))
    assert infos[0] == infos[1]
    info = infos[0]
    try:
        assert second.running() == info
        started = recorded(layout.state / "pids")
        assert {p.name for p in started} == {
            "etcd",
            "kube-apiserver",
            "kube-controller-manager",
            "kube-scheduler",
            "kwok",
        }
        assert all(p.alive() for p in started)
        assert second.kubectl("get", "nodes", "-o", "name").stdout.count("node/") == 4
    finally:
        second.down()
    assert not any(p.alive() for p in started)
    leftovers = [
        pid
        for pid in os.listdir("/proc")
        if pid.isdigit() and _cmdline_mentions(int(pid), str(layout.state))
    ]
    assert leftovers == []
    assert second.running() is None


def _cmdline_mentions(pid: int, text: str) -> bool:
    try:
        return text.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
