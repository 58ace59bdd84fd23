"""Fake nodes for kwok: two CPU nodes and two GPU nodes advertising ``nvidia.com/gpu``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

GPU_RESOURCE = "nvidia.com/gpu"


@dataclass(frozen=True)
class NodeShape:
    name: str
    cpu: str
    memory: str
    gpus: int = 0


DEFAULT_NODES = (
    NodeShape("cpu-node-1", cpu="16", memory="64Gi"),
    NodeShape("cpu-node-2", cpu="16", memory="64Gi"),
    NodeShape("gpu-node-1", cpu="32", memory="256Gi", gpus=8),
    NodeShape("gpu-node-2", cpu="32", memory="256Gi", gpus=8),
)


def node_manifest(shape: NodeShape) -> dict[str, Any]:
    # Fake nodes: room for the scale benchmark's 1,000 releases, each with a stable and a
    # canary pod during a rollout (250 a node left every canary Pending).
    resources = {"cpu": shape.cpu, "memory": shape.memory, "pods": "1000"}
    labels = {
        "kubernetes.io/hostname": shape.name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "type": "kwok",
    }
    if shape.gpus:
        resources[GPU_RESOURCE] = str(shape.gpus)
        labels["nvidia.com/gpu.present"] = "true"
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": shape.name,
            "labels": labels,
            "annotations": {"kwok.x-k8s.io/node": "fake"},
        },
        "spec": {},
        "status": {"capacity": resources, "allocatable": resources},
    }
