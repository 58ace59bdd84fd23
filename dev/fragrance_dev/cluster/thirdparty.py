"""CRDs of the projects the operator talks to, taken from those projects' Go modules."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .toolchain import go_binary


@dataclass(frozen=True)
class CRDSource:
    module: str
    version: str
    files: tuple[str, ...]


SOURCES = (
    CRDSource(
        "sigs.k8s.io/gateway-api",
        "v1.4.1",
        tuple(
            f"config/crd/standard/gateway.networking.k8s.io_{plural}.yaml"
            # Traefik's provider watches every standard kind, GRPC routes and TLS policies too.
            for plural in (
                "gatewayclasses",
                "gateways",
                "httproutes",
                "referencegrants",
                "grpcroutes",
                "backendtlspolicies",
            )
        ),
    ),
    CRDSource(
        "github.com/ray-project/kuberay/ray-operator",
        "v1.5.0",  # the version hack/tools/kuberay builds; its operator watches all three
        tuple(
            f"config/crd/bases/ray.io_{plural}.yaml"
            for plural in ("rayclusters", "rayjobs", "rayservices")
        ),
    ),
    CRDSource(
        "github.com/prometheus-operator/prometheus-operator",
        "v0.85.0",
        tuple(
            f"example/prometheus-operator-crd/monitoring.coreos.com_{plural}.yaml"
            for plural in ("servicemonitors", "podmonitors", "prometheusrules")
        ),
    ),
)


def module_dir(module: str, version: str) -> Path:
    """The module's directory in the Go module cache, downloading it if needed."""
    result = subprocess.run(
        [go_binary(), "mod", "download", "-json", f"{module}@{version}"],
        capture_output=True,
        text=True,
        check=False,
    )
    info = json.loads(result.stdout or "{}")
    if result.returncode != 0 or "Dir" not in info:
        raise RuntimeError(
            f"cannot download {module}@{version}: {info.get('Error') or result.stderr.strip()}"
        )
    return Path(info["Dir"])


def crd_files() -> list[Path]:
    paths = []
    for source in SOURCES:
        root = module_dir(source.module, source.version)
        paths += [root / name for name in source.files]
    return paths
