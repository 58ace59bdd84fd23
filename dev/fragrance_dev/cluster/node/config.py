"""The real node's configuration files: pure functions of paths, ports and addresses."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

NODE_NAME = "fragrance-node"
BRIDGE = "fragrance0"  # made by the project, removed by cluster down
# Not 10.88.0.0/16: Podman's and buildah's default network (cni-podman0) takes that one.
POD_CIDR = "10.244.0.0/16"
NODE_IP = "10.244.0.1"  # the bridge's own address: the pods' gateway, the node's, DNS's
CLUSTER_DOMAIN = "cluster.local"
PAUSE_IMAGE = "localhost/fragrance/pause:1"
ECHO_IMAGE = "localhost/fragrance/echo:1"


@dataclass(frozen=True)
class NodePaths:
    """Everything the node writes, under the cluster's state directory."""

    root: Path

    @property
    def containerd(self) -> Path:
        return self.root / "containerd"

    @property
    def socket(self) -> Path:
        return self.containerd / "containerd.sock"

    @property
    def cni_conf(self) -> Path:
        return self.root / "cni"

    @property
    def kubelet(self) -> Path:
        return self.root / "kubelet"

    @property
    def images(self) -> Path:
        return self.root / "images"


def containerd_toml(paths: NodePaths) -> str:
    """containerd 1.6's config (version 2), with its state in the project's folder."""
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    return "\n".join(
        [
            "version = 2",
            f'root = "{paths.containerd / "root"}"',
            f'state = "{paths.containerd / "state"}"',
            "[grpc]",
            f'  address = "{paths.socket}"',
            "[ttrpc]",
            f'  address = "{paths.socket}.ttrpc"',
            '[plugins."io.containerd.internal.v1.opt"]',
            f'  path = "{paths.containerd / "opt"}"',
            f"[{cri}]",
            f'  sandbox_image = "{PAUSE_IMAGE}"',
            # Root here may not lower an OOM score (the sandbox asks for -998): without this
            # every sandbox fails with "can't get final child's PID from pipe".
            "  restrict_oom_score_adj = true",
            f"[{cri}.containerd]",
            '  snapshotter = "overlayfs"',
            f"[{cri}.containerd.runtimes.runc]",
            '  runtime_type = "io.containerd.runc.v2"',
            f"[{cri}.cni]",
            '  bin_dir = "/usr/lib/cni"',
            f'  conf_dir = "{paths.cni_conf}"',
            "",
        ]
    )


def cni_conflist() -> str:
    """A bridge on the project's own interface, addresses from host-local, ports mapped."""
    return json.dumps(
        {
            "cniVersion": "0.4.0",
            "name": "fragrance",
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": BRIDGE,
                    "isGateway": True,
                    "ipMasq": False,
                    "hairpinMode": True,
                    "ipam": {
                        "type": "host-local",
                        "ranges": [[{"subnet": POD_CIDR, "gateway": NODE_IP}]],
                        "routes": [{"dst": "0.0.0.0/0"}],
                    },
                },
                {"type": "portmap", "capabilities": {"portMappings": True}},
                {"type": "loopback"},
            ],
        },
        indent=2,
    )


def kubelet_config(paths: NodePaths, ca: Path, ports: dict[str, int]) -> dict[str, Any]:
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        # These machines have cgroup v1, which the kubelet refuses unless told otherwise.
        "cgroupDriver": "cgroupfs",
        "failCgroupV1": False,
        "failSwapOn": False,
        "containerRuntimeEndpoint": f"unix://{paths.socket}",
        "address": NODE_IP,
        "port": ports["kubelet"],
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": ports["kubelet-healthz"],
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(ca)},
        },
        "authorization": {"mode": "Webhook"},
        "clusterDNS": [NODE_IP],
        "clusterDomain": CLUSTER_DOMAIN,
        "resolvConf": "",  # pods resolve cluster names only: nothing upstream is reachable
        "maxPods": 60,
        "serializeImagePulls": False,
        # A developer's disk is not a node's: evict only when it is really full.
        "evictionHard": {"memory.available": "100Mi", "nodefs.available": "2%"},
        "imageGCHighThresholdPercent": 99,
        "imageGCLowThresholdPercent": 98,
    }


def kubelet_args(binary: Path, paths: NodePaths, config: Path, kubeconfig: Path) -> list[str]:
    return [
        str(binary),
        f"--config={config}",
        f"--kubeconfig={kubeconfig}",
        f"--root-dir={paths.kubelet}",
        f"--cert-dir={paths.kubelet / 'pki'}",
        f"--hostname-override={NODE_NAME}",
        f"--node-ip={NODE_IP}",
        "--node-labels=fragrance.ai/node=real",
    ]


def kube_proxy_config(kubeconfig: Path, ports: dict[str, int]) -> dict[str, Any]:
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(kubeconfig)},
        "mode": "iptables",
        "clusterCIDR": POD_CIDR,
        "hostnameOverride": NODE_NAME,
        "bindAddress": "127.0.0.1",
        "healthzBindAddress": f"127.0.0.1:{ports['kube-proxy-healthz']}",
        "metricsBindAddress": f"127.0.0.1:{ports['kube-proxy-metrics']}",
        # Leave the machine's conntrack sysctls alone.
        "conntrack": {"maxPerCore": 0},
        # Without br_netfilter a reply between two pods on the bridge would skip the
        # un-DNAT: every Service connection is masqueraded through the node instead.
        "iptables": {"masqueradeAll": True},
        "nodePortAddresses": [f"{NODE_IP}/32"],
    }


def corefile(kubeconfig: Path, ports: dict[str, int]) -> str:
    return f"""{CLUSTER_DOMAIN}:53 in-addr.arpa:53 {{
    bind {NODE_IP}
    errors
    health 127.0.0.1:{ports["coredns-health"]}
    ready 127.0.0.1:{ports["coredns-ready"]}
    cache 5
    kubernetes {CLUSTER_DOMAIN} in-addr.arpa {{
        kubeconfig {kubeconfig}
        pods insecure
    }}
}}
"""
