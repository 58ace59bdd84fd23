"""The tests' Prometheus: the same server the local demo runs."""

from fragrance_dev.cluster.prometheus import PrometheusServer, free_port

__all__ = ["PrometheusServer", "free_port"]
