"""The gate's checks for one release: the built-in ones and the spec's own.

Every series the serving exports carries ``release`` and ``track`` labels; the gate reads
the canary track only, over a window of one analysis interval. Ratios are written so that a
missing numerator counts as zero (``or vector(0)``) but a missing denominator is no data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from fragrance_api.base import parse_duration
from fragrance_api.modes import CACHED_MODES
from fragrance_api.release import FragranceReleaseSpec
from fragrance_operator.canary.capacity import headroom_query, ray_service

from .gate import Check, Sample

#: Defaults of the built-in checks (the seed documents' thresholds).
DEFAULTS = {
    "errorRate5xx": 0.01,
    "errorRate4xx": 0.05,
    "schemaFailureRate": 0.0,
    "jsonFallbackRate": 0.01,
    "vramHeadroom": 0.20,
    "rlLossRunaway": 2.0,
    "cacheHitRate": 0.60,
    "upstreamErrorRate": 0.10,
}
MODE_MIN_REQUESTS = 5  # per mode and window, for a per-mode p95 to mean anything
LATENCY_P95 = {"fast": 2.5, "balanced": 3.2, "creative": 4.5}
#: circuit_breaker_state values: 0 closed, 1 half-open, 2 open.
BREAKER_OPEN = 2


@dataclass(frozen=True)
class GatePlan:
    checks: tuple[Check, ...]
    requests_query: str
    min_requests: int


def _selector(release: str, track: str, extra: str = "") -> str:
    labels = f'release="{release}",track="{track}"'
    return "{" + labels + (f",{extra}" if extra else "") + "}"


def _ratio(numerator: str, denominator: str, window: str) -> str:
    """Rate of one series over another; no numerator series counts as 0, no denominator not."""
    return f"(sum(rate({numerator}[{window}])) or vector(0)) / sum(rate({denominator}[{window}]))"


def _prom_duration(seconds: float) -> str:
    return f"{max(1, round(seconds))}s"


def gate_plan(
    release: str, namespace: str, spec: FragranceReleaseSpec, track: str = "canary"
) -> GatePlan:
    analysis = spec.canary.analysis
    limits = analysis.thresholds
    window = _prom_duration(parse_duration(analysis.interval))
    long_window = _prom_duration(10 * parse_duration(analysis.interval))
    sel = _selector(release, track)
    inner = sel[1:-1]
    requests, briefs = f"http_requests_total{sel}", f"llm_brief_total{sel}"
    modes = tuple(sorted({model.mode for model in spec.models}))
    latency = limits.latency_p95

    def limit(name: str, value: float | None) -> float:
        return DEFAULTS[name] if value is None else value

    checks = [
        Check(
            "errorRate5xx",
            _ratio(f'http_requests_total{{{inner},status=~"5.."}}', requests, window),
            "NO-GO",
            max=limit("errorRate5xx", limits.error_rate5xx),
        ),
        Check(
            "errorRate4xx",
            _ratio(f'http_requests_total{{{inner},status=~"4.."}}', requests, window),
            "WARNING",
            max=limit("errorRate4xx", limits.error_rate4xx),
        ),
        Check(
            "latencyP95",
            # A p95 of a handful of requests is one slow request: a mode with fewer than
            # MODE_MIN_REQUESTS in the window is left out (no data, never a NO-GO).
            "histogram_quantile(0.95, sum by (le, mode) "
            f"(rate(http_request_duration_seconds_bucket{sel}[{window}]))) and on (mode) "
            f"(sum by (mode) (increase(http_request_duration_seconds_count{sel}[{window}])) "
            f">= {MODE_MIN_REQUESTS})",
            "NO-GO",
            by_label="mode",
            per_label_max={
                mode: getattr(latency, mode, None) or default
                for mode, default in LATENCY_P95.items()
            },
            required=modes,
            missing=f"fewer than {MODE_MIN_REQUESTS} requests of this mode in the window",
        ),
        Check(
            "schemaFailureRate",
            _ratio(f'llm_brief_total{{{inner},result="invalid"}}', briefs, window),
            "NO-GO",
            max=limit("schemaFailureRate", limits.schema_failure_rate),
        ),
        Check(
            "jsonFallbackRate",
            _ratio(f"llm_json_fallback_used_total{sel}", briefs, window),
            "WARNING",
            max=limit("jsonFallbackRate", limits.json_fallback_rate),
        ),
        Check(
            "upstreamErrorRate",
            # A window of cache hits alone made no model call, so none failed: 0, not NaN.
            f"(sum(rate(llm_upstream_errors_total{sel}[{window}])) or vector(0)) / "
            f"clamp_min(sum(rate(llm_requests_total{sel}[{window}])), 1e-9)",
            "NO-GO",
            max=limit("upstreamErrorRate", limits.upstream_error_rate),
        ),
        Check("circuitBreakers", f"max(circuit_breaker_state{sel})", "NO-GO", max=BREAKER_OPEN - 1),
        Check("llmHealth", f"min(llm_health_status{sel})", "NO-GO", min=1),
        Check(
            "vramHeadroom",
            headroom_query(release, namespace, track, ray_service(spec)),
            "NO-GO",
            min=limit("vramHeadroom", limits.vram_headroom),
            skipped=None if spec.workload.gpus_per_replica else "the release requests no GPUs",
        ),
        Check(
            "rlLossRunaway",
            # The window's mean loss against the long window's, both as magnitudes: PPO's
            # loss (policy + value - entropy) is noisy and may sit near zero or below it. One
            # iteration's value over the mean rolled a healthy v2 back at 2.2 in a test run.
            f"max(abs(avg_over_time(ppo_loss{sel}[{window}]))) / "
            f"clamp_min(avg(abs(avg_over_time(ppo_loss{sel}[{long_window}]))), 1e-6)",
            "NO-GO",
            max=limit("rlLossRunaway", limits.rl_loss_runaway),
            nan_is_failure=True,
        ),
        Check(
            "cacheHitRate",
            f'sum by (mode) (rate(cache_hits_total{{{inner},mode=~"fast|balanced"}}[{window}]))'
            f' / (sum by (mode) (rate(cache_hits_total{{{inner},mode=~"fast|balanced"}}'
            f"[{window}])) + sum by (mode) (rate(cache_misses_total{{{inner},"
            f'mode=~"fast|balanced"}}[{window}])))',
            "WARNING",
            min=limit("cacheHitRate", limits.cache_hit_rate),
            by_label="mode",
            required=tuple(mode for mode in CACHED_MODES if mode in modes),
        ),
    ]
    for metric in analysis.metrics:
        query = metric.query.replace("${release}", release).replace("${track}", track)
        checks.append(Check(metric.name, query, metric.severity, min=metric.min, max=metric.max))
    return GatePlan(
        checks=tuple(checks),
        requests_query=f"sum(increase(http_requests_total{sel}[{window}]))",
        min_requests=analysis.min_requests,
    )


def load_query(release: str, spec: FragranceReleaseSpec) -> str:
    """The autoscaler's signal over the stable track (spec.scaling.metric)."""
    window = _prom_duration(parse_duration(spec.canary.analysis.interval))
    sel = _selector(release, "stable")
    if spec.scaling.metric == "latencyBudget":
        return (
            "histogram_quantile(0.95, sum by (le, mode) "
            f"(rate(http_request_duration_seconds_bucket{sel}[{window}])))"
        )
    return f"sum(rate(http_requests_total{sel}[{window}]))"


def load_signal(
    spec: FragranceReleaseSpec, samples: list[Sample], replicas: int | None
) -> float | None:
    """Requests per second per replica, or the worst per-mode p95/budget (None: no data)."""
    finite = [(labels, value) for labels, value in samples if math.isfinite(value)]
    if not finite:
        return None
    if spec.scaling.metric == "latencyBudget":
        budgets = spec.canary.analysis.thresholds.latency_p95
        ratios = [
            value / (getattr(budgets, labels.get("mode", ""), None) or LATENCY_P95[labels["mode"]])
            for labels, value in finite
            if labels.get("mode") in LATENCY_P95
        ]
        return max(ratios) if ratios else None
    return finite[0][1] / max(replicas or 1, 1)
