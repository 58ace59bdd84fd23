"""The serving's Prometheus series, each with ``release`` and ``track`` labels.

One registry per ensemble (so tests and several apps in one process do not collide),
rendered at ``GET /metrics``. GPU memory comes from NVML and is absent without a GPU.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from fragrance_serving import gpu

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 6.0, 8.0)
RETRY_BUCKETS = (0, 1, 2, 3, 5, 10)


class _GPUMemory(Collector):
    def __init__(self, labels: dict[str, str]) -> None:
        self.labels = labels

    def _families(self) -> tuple[GaugeMetricFamily, GaugeMetricFamily]:
        names = [*self.labels, "gpu"]
        used = GaugeMetricFamily("gpu_memory_used_bytes", "GPU memory used (NVML).", labels=names)
        total = GaugeMetricFamily("gpu_memory_total_bytes", "GPU memory (NVML).", labels=names)
        return used, total

    def describe(self):  # type: ignore[no-untyped-def]
        """The series, with no samples: what a GPU would show (read by the contract test)."""
        yield from self._families()

    def collect(self):  # type: ignore[no-untyped-def]
        readings = gpu.memory()
        if not readings:
            return
        used, total = self._families()
        for reading in readings:
            values = [*self.labels.values(), str(reading.index)]
            used.add_metric(values, reading.used)
            total.add_metric(values, reading.total)
        yield used
        yield total


class ServingMetrics:
    def __init__(self, release: str, track: str) -> None:
        self.registry = r = CollectorRegistry()
        self.base = {"release": release, "track": track}
        base = list(self.base)

        def counter(name: str, doc: str, *extra: str) -> Counter:
            return Counter(name, doc, [*base, *extra], registry=r)

        def gauge(name: str, doc: str, *extra: str) -> Gauge:
            return Gauge(name, doc, [*base, *extra], registry=r)

        self.requests = counter("llm_requests", "Model calls.", "model", "mode")
        self.http = counter("http_requests", "Brief requests by mode and status.", "mode", "status")
        self.duration = Histogram(
            "http_request_duration_seconds", "Brief request latency.", [*base, "mode"],
            buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.parse_failures = counter("llm_json_parse_failures", "Answers not JSON.", "model")
        self.retries = Histogram(
            "llm_json_retry_count", "JSON guard retries per request.", base,
            buckets=RETRY_BUCKETS, registry=r,
        )  # fmt: skip
        self.fallbacks = counter("llm_json_fallback_used", "Fallback briefs served.")
        self.schema_fixes = counter("llm_schema_fix_count", "Answers repaired by the guard.")
        self.refusals = counter(
            "llm_guard_refusals",
            "Answers the JSON guard refused, by reason (too_long, parse, schema, type, blank, "
            "control, unknown_term).",
            "reason",
        )
        self.briefs = counter(
            "llm_brief", "Briefs by result (ok, fallback, invalid, unanswered).", "result"
        )
        self.breaker = gauge("circuit_breaker_state", "0 closed, 1 half-open, 2 open.", "model")
        self.downshifts = counter(
            "llm_mode_downshift", "Requests answered by a cheaper mode, and why.",
            "from_mode", "to_mode", "reason",
        )  # fmt: skip
        self.upstream_errors = counter(
            "llm_upstream_errors", "Model calls with no usable answer, by kind.", "model", "kind"
        )
        self.upstream_retries = counter(
            "llm_upstream_retries", "Model calls made again after an upstream error.", "model"
        )
        self.cache_hits = counter("cache_hits", "Cache hits.", "mode")
        self.cache_misses = counter("cache_misses", "Cache misses.", "mode")
        self.cache_hit_rate = gauge("cache_hit_rate", "Hit rate since start.", "mode")
        self.health = gauge("llm_health_status", "1 healthy, 0 not.", "model")
        self.health_latency = gauge("llm_health_latency_seconds", "Health probe time.", "model")
        self.distribution = gauge("llm_mode_distribution_percent", "Measured share.", "mode")
        self.deviation = gauge("llm_mode_distribution_deviation", "Largest gap, points.")
        r.register(_GPUMemory(self.base))

    def render(self) -> bytes:
        return generate_latest(self.registry)
