"""Pods on the local cluster's real node: how long from `kubectl apply` to Ready, and to the
first answer through their Service, on this machine.

Starts (or reuses) the local cluster, then ``--runs`` times applies a Deployment of
``--replicas`` smoke-test pods with a readiness probe and a Service in a fresh namespace,
and deletes the namespace. Usage: python bench/real_node.py [--runs 3] [--replicas 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.control_plane import machine  # noqa: E402
from fragrance_dev.cluster import LocalCluster  # noqa: E402
from fragrance_dev.cluster.node.config import ECHO_IMAGE  # noqa: E402
from fragrance_dev.cluster.node.runtime import TAINT  # noqa: E402


def manifests(
    namespace: str, replicas: int, name: str = "echo", port: int = 80
) -> list[dict[str, object]]:
    pod = {
        "nodeSelector": {"fragrance.ai/node": "real"},
        "tolerations": [{"key": TAINT.split("=")[0], "operator": "Exists"}],
        "containers": [
            {
                "name": "echo",
                "image": ECHO_IMAGE,
                "imagePullPolicy": "Never",
                "readinessProbe": {
                    "httpGet": {"path": "/healthz", "port": 8080},
                    "periodSeconds": 1,
                },
            }
        ],
    }
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": name}},
                "template": {"metadata": {"labels": {"app": name}}, "spec": pod},
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"selector": {"app": name}, "ports": [{"port": port, "targetPort": 8080}]},
        },
    ]


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--replicas", type=int, default=5)
    args = parser.parse_args()
    cluster = LocalCluster(progress=lambda _: None, real_node=True)
    cluster.up()
    ready: list[float] = []
    served: list[float] = []
    for run in range(args.runs):
        namespace = f"bench-{uuid.uuid4().hex[:8]}"
        began = time.monotonic()
        cluster.kubectl(
            "apply", "-f", "-", input=yaml.safe_dump_all(manifests(namespace, args.replicas))
        )
        cluster.kubectl(
            "wait", "-n", namespace, "--for=condition=Available", "deploy/echo", "--timeout=180s"
        )
        ready.append(time.monotonic() - began)
        got = cluster.kubectl("get", "service", "echo", "-n", namespace, "-o", "json")
        url = f"http://{json.loads(got.stdout)['spec']['clusterIP']}/"
        while not answers(url):
            if time.monotonic() - began > 180:
                raise SystemExit(f"{url} did not answer within 180 s")
            time.sleep(0.05)
        served.append(time.monotonic() - began)
        cluster.kubectl("delete", "namespace", namespace, "--wait=true", "--timeout=180s")
        print(f"run {run + 1}: {args.replicas} pods Ready in {ready[-1]:.1f}s, "
              f"first answer through the Service at {served[-1]:.1f}s")  # fmt: skip

    print("\nmachine:", json.dumps(machine()))
    print(f"\n{args.replicas} pods on the real node, apply -> ({args.runs} runs, median / max):")
    for what, figures in (
        ("all Ready (Deployment Available)", ready),
        ("first answer via the Service", served),
    ):
        print(f"  {what:<34} {statistics.median(figures):5.1f}s / {max(figures):.1f}s")


if __name__ == "__main__":
    main()
