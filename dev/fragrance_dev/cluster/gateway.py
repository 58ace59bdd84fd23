"""The real node's Gateway API data plane: Traefik, a GatewayClass and a shared Gateway.

Traefik runs on this machine (not as a pod), watches the apiserver like an in-cluster
controller and proxies a loopback port to the pods' addresses on the node's bridge, split by
the HTTPRoutes' backendRef weights. A user's HTTPRoute attaches with :func:`parent_ref`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from . import probes

CONTROLLER = "traefik.io/gateway-controller"
CLASS_NAME = "fragrance"
NAMESPACE = "fragrance-gateway"
NAME = "fragrance"
LISTENER = "http"
# Traefik batches provider events for this long before it applies a configuration; its
# default (2 s) would make every weight change that much later at the client.
THROTTLE = "100ms"


def static_config(ports: dict[str, int]) -> dict[str, Any]:
    """Traefik's static configuration: the Gateway's entry point, /ping and the API, the
    provider."""
    return {
        # A Gateway listener is served by the entry point whose address ends in its port.
        "entryPoints": {
            "web": {"address": f"127.0.0.1:{ports['gateway']}"},
            # Traefik serves its insecure API on the entry point of this name (on :8080 when
            # there is none); /ping shares it. Both stay on loopback.
            "traefik": {"address": f"127.0.0.1:{ports['gateway-ping']}"},
        },
        "ping": {"entryPoint": "traefik"},
        # The read-only API shows the configuration Traefik routes by, so a test can tell when
        # a route's new weights took effect in the data plane, not only in the apiserver.
        "api": {"insecure": True, "dashboard": False},
        "providers": {
            "providersThrottleDuration": THROTTLE,
            "kubernetesGateway": {"statusAddress": {"ip": "127.0.0.1"}},
        },
        "global": {"checkNewVersion": False, "sendAnonymousUsage": False},
        "log": {"level": "INFO", "noColor": True},
    }


def command(binary: Path, kubeconfig: Path, config_file: Path) -> list[str]:
    # Outside a pod Traefik's Kubernetes client reads $KUBECONFIG; env execs the binary, so
    # the process keeps the config file (in the state directory) on its command line.
    return ["/usr/bin/env", f"KUBECONFIG={kubeconfig}", str(binary), f"--configFile={config_file}"]


def manifests(port: int) -> list[dict[str, Any]]:
    """The namespace, the GatewayClass and the Gateway every namespace's routes may attach to."""
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "GatewayClass",
            "metadata": {"name": CLASS_NAME},
            "spec": {"controllerName": CONTROLLER},
        },
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "Gateway",
            "metadata": {"name": NAME, "namespace": NAMESPACE},
            "spec": {
                "gatewayClassName": CLASS_NAME,
                "listeners": [
                    {
                        "name": LISTENER,
                        "protocol": "HTTP",
                        "port": port,
                        "allowedRoutes": {"namespaces": {"from": "All"}},
                    }
                ],
            },
        },
    ]


def parent_ref() -> dict[str, str]:
    """What an HTTPRoute names in ``spec.parentRefs`` to be served by the local Gateway."""
    return {"name": NAME, "namespace": NAMESPACE, "sectionName": LISTENER}


def programmed(gateway: dict[str, Any]) -> bool:
    conditions = gateway.get("status", {}).get("conditions") or []
    return any(c["type"] == "Programmed" and c["status"] == "True" for c in conditions)


def pinged(port: int) -> bool:
    return probes.answers(f"http://127.0.0.1:{port}/ping")


Launch = Callable[[str, list[str]], None]
Poll = Callable[[Callable[[], bool], str, float], None]
Kubectl = Callable[..., Any]


def start(
    binary: Path, state: Path, kubeconfig: Path, ports: dict[str, int],
    launch: Launch, poll: Poll, kubectl: Kubectl,
) -> None:  # fmt: skip
    """Traefik started, the Gateway applied and Programmed (Traefik accepted it)."""
    directory = state / "gateway"
    directory.mkdir(parents=True, exist_ok=True)
    config_file = directory / "traefik.yaml"
    config_file.write_text(yaml.safe_dump(static_config(ports)))
    launch("traefik", command(binary, kubeconfig, config_file))
    poll(lambda: pinged(ports["gateway-ping"]), "Traefik's /ping", 60)
    kubectl("apply", "--server-side", "-f", "-", input=yaml.safe_dump_all(manifests(
        ports["gateway"])))  # fmt: skip

    def gateway_programmed() -> bool:
        got = kubectl("get", "gateway", NAME, "-n", NAMESPACE, "-o", "json", check=False)
        return bool(got.returncode == 0 and programmed(json.loads(got.stdout)))

    poll(gateway_programmed, f"Gateway {NAMESPACE}/{NAME} to be Programmed", 60)
