"""The local Kubernetes control plane the tests and the demo run against (no Docker needed)."""

from .cluster import ClusterError, ClusterInfo, LocalCluster
from .layout import Layout

__all__ = ["ClusterError", "ClusterInfo", "Layout", "LocalCluster"]
