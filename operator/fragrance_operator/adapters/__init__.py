"""Adapters to the outside world: Prometheus, Kubernetes, Ray, NVML."""
