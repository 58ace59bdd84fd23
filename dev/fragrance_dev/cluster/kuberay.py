"""KubeRay's operator, run on this machine like the control plane: the RayServices and
RayClusters applied to the local cluster become Ray pods on the real node.

It reaches each Ray head's dashboard through the apiserver's service proxy: from outside the
pod network a head Service's cluster DNS name does not resolve.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from . import probes


def command(binary: Path, kubeconfig: Path, ports: dict[str, int]) -> list[str]:
    return [
        str(binary),
        f"--kubeconfig={kubeconfig}",
        "--enable-leader-election=false",
        "--use-kubernetes-proxy",
        f"--metrics-addr=127.0.0.1:{ports['kuberay-metrics']}",
        f"--health-probe-bind-address=127.0.0.1:{ports['kuberay-health']}",
        "--log-stdout-encoder=console",
    ]


def healthy(port: int) -> bool:
    return probes.answers(f"http://127.0.0.1:{port}/readyz")


def start(
    binary: Path,
    kubeconfig: Path,
    ports: dict[str, int],
    launch: Callable[[str, list[str]], None],
    poll: Callable[[Callable[[], bool], str, float], None],
) -> None:
    launch("kuberay-operator", command(binary, kubeconfig, ports))
    poll(lambda: healthy(ports["kuberay-health"]), "KubeRay's operator /readyz", 60)
