"""Command lines of the control plane's processes: pure functions of paths and ports."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .node.config import NODE_IP

SERVICE_CIDR = "10.0.0.0/16"  # room for hundreds of releases (two Services each)
# The names and addresses the apiserver's serving certificate is valid for.
APISERVER_HOSTS = (
    "127.0.0.1",
    NODE_IP,  # the real node's bridge, where pods reach the apiserver
    "localhost",
    "10.0.0.1",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)

PORT_NAMES = (
    "etcd", "etcd-peer", "apiserver", "controller-manager", "scheduler", "kwok",
    # the real node's
    "kubelet", "kubelet-healthz", "kube-proxy-healthz", "kube-proxy-metrics",
    "coredns-health", "coredns-ready", "gateway", "gateway-ping",
    "kuberay-metrics", "kuberay-health",
)  # fmt: skip


@dataclass(frozen=True)
class Certificates:
    ca: Path
    serving_cert: Path
    serving_key: Path
    sa_public: Path
    sa_private: Path
    directory: Path
    kubelet_client_cert: Path
    kubelet_client_key: Path


def etcd(binary: Path, data_dir: Path, ports: dict[str, int]) -> list[str]:
    client = f"http://127.0.0.1:{ports['etcd']}"
    peer = f"http://127.0.0.1:{ports['etcd-peer']}"
    return [
        str(binary),
        "--name=fragrance-local",
        f"--data-dir={data_dir}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=fragrance-local={peer}",
        "--initial-cluster-state=new",
        "--unsafe-no-fsync",  # a throwaway store: durability costs start time for nothing
        "--log-level=warn",
        "--logger=zap",
    ]


def apiserver(
    binary: Path, ports: dict[str, int], certs: Certificates, address: str = "127.0.0.1"
) -> list[str]:
    # A loopback advertise address is refused unless no endpoint reconciler runs; any other
    # becomes the `kubernetes` Service's endpoint, which pods reach.
    reconciler = ["--endpoint-reconciler-type=none"] if address.startswith("127.") else []
    return [
        str(binary),
        f"--etcd-servers=http://127.0.0.1:{ports['etcd']}",
        f"--bind-address={address}",
        f"--secure-port={ports['apiserver']}",
        f"--advertise-address={address}",
        *reconciler,
        f"--tls-cert-file={certs.serving_cert}",
        f"--tls-private-key-file={certs.serving_key}",
        f"--client-ca-file={certs.ca}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--authorization-mode=Node,RBAC",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-account-key-file={certs.sa_public}",
        f"--service-account-signing-key-file={certs.sa_private}",
        "--allow-privileged=true",
        f"--cert-dir={certs.directory}",
        # `kubectl logs/exec` on the real node: the apiserver calls its kubelet as an admin.
        f"--kubelet-client-certificate={certs.kubelet_client_cert}",
        f"--kubelet-client-key={certs.kubelet_client_key}",
        "--kubelet-preferred-address-types=InternalIP",
    ]


def _kube_component(kubeconfig: Path, port: int) -> list[str]:
    """Flags the controller-manager and the scheduler share."""
    return [
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1",
        f"--secure-port={port}",
        "--leader-elect=false",
        # Health endpoints served without credentials, as kubeadm configures them.
        "--authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics",
    ]


def controller_manager(
    binary: Path, kubeconfig: Path, ports: dict[str, int], certs: Certificates
) -> list[str]:
    return [
        str(binary),
        *_kube_component(kubeconfig, ports["controller-manager"]),
        "--use-service-account-credentials=true",
        f"--root-ca-file={certs.ca}",
        f"--service-account-private-key-file={certs.sa_private}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--controllers=*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller",
    ]


def scheduler(binary: Path, kubeconfig: Path, ports: dict[str, int]) -> list[str]:
    return [str(binary), *_kube_component(kubeconfig, ports["scheduler"])]


def kwok(binary: Path, kubeconfig: Path, ports: dict[str, int]) -> list[str]:
    return [
        str(binary),
        f"--kubeconfig={kubeconfig}",
        # Only its own fake nodes: the real node's status is its kubelet's.
        "--manage-all-nodes=false",
        "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
        # Heartbeats through Leases, as kwokctl does; without them the node lifecycle
        # controller marks the nodes NotReady after its grace period.
        "--node-lease-duration-seconds=40",
        f"--server-address=127.0.0.1:{ports['kwok']}",
    ]
