"""The gate's checks for one release: the built-in ones and the spec's own.

Every series the serving exports carries ``release`` and ``track`` labels; the gate reads
the canary track, over a window of one analysis interval (and stable's, for the checks the
spec compares with it: ``baseline.py``). Ratios are written so that a missing numerator
counts as zero (``or vector(0)``) but a missing denominator is no data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from fragrance_api.base import parse_duration
from fragrance_api.modes import CACHED_MODES
from fragrance_api.release import FragranceReleaseSpec
from fragrance_operator.canary.capacity import headroom_query, ray_service

from .baseline import comparisons
from .compare import Comparison
from .gate import Check, Sample, Severity
from .series import Rate, count, latency_p95, per_second, prom_duration, rates, selector

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
#: A rate at or past this acts on few requests (SEVERE_MIN_SAMPLE): half the answers failing.
SEVERE_RATE = 0.5
LATENCY_P95 = {"fast": 2.5, "balanced": 3.2, "creative": 4.5}
#: circuit_breaker_state values: 0 closed, 1 half-open, 2 open.
BREAKER_OPEN = 2


@dataclass(frozen=True)
class GatePlan:
    checks: tuple[Check, ...]
    requests_query: str
    min_requests: int
    comparisons: tuple[Comparison, ...] = ()


def _ratio(rate: Rate, window: str) -> str:
    """Rate of one series over another; no numerator series counts as 0, no denominator not."""
    return f"({per_second(rate.events, window)} or vector(0)) / {per_second(rate.trials, window)}"


def latency_budgets(spec: FragranceReleaseSpec) -> dict[str, float]:
    """The p95 budget per mode: the spec's thresholds over the seeds' defaults."""
    latency = spec.canary.analysis.thresholds.latency_p95
    return {mode: getattr(latency, mode, None) or default for mode, default in LATENCY_P95.items()}


def gate_plan(
    release: str, namespace: str, spec: FragranceReleaseSpec, track: str = "canary"
) -> GatePlan:
    analysis = spec.canary.analysis
    limits = analysis.thresholds
    window = prom_duration(parse_duration(analysis.interval))
    long_window = prom_duration(10 * parse_duration(analysis.interval))
    sel = selector(release, track)
    series = rates(release, track)
    modes = tuple(sorted({model.mode for model in spec.models}))

    def limit(name: str, value: float | None) -> float:
        return DEFAULTS[name] if value is None else value

    def rate_check(name: str, severity: Severity, value: float | None, **extra: Any) -> Check:
        rate = series[name]
        return Check(
            name,
            _ratio(rate, window),
            severity,
            max=limit(name, value),
            sample_query=count(rate.trials, window),
            min_sample=analysis.min_requests,
            **extra,
        )

    hits = series["cacheHitRate"]
    checks = [
        rate_check("errorRate5xx", "NO-GO", limits.error_rate5xx, severe=SEVERE_RATE),
        rate_check("errorRate4xx", "WARNING", limits.error_rate4xx),
        Check(
            "latencyP95",
            latency_p95(sel, window),
            "NO-GO",
            by_label="mode",
            per_label_max=latency_budgets(spec),
            required=modes,
            missing="no requests of this mode in the window",
            sample_query=count(f"http_request_duration_seconds_count{sel}", window, "mode"),
            min_sample=analysis.min_requests_per_mode,
        ),
        rate_check("schemaFailureRate", "NO-GO", limits.schema_failure_rate, severe=SEVERE_RATE),
        rate_check("jsonFallbackRate", "WARNING", limits.json_fallback_rate),
        rate_check("upstreamErrorRate", "NO-GO", limits.upstream_error_rate, severe=SEVERE_RATE),
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
            f"{per_second(hits.events, window, 'mode')} / "
            f"{per_second(hits.trials, window, 'mode')}",
            "WARNING",
            min=limit("cacheHitRate", limits.cache_hit_rate),
            by_label="mode",
            required=tuple(mode for mode in CACHED_MODES if mode in modes),
            sample_query=count(hits.trials, window, "mode"),
            min_sample=analysis.min_requests_per_mode,
        ),
    ]
    for metric in analysis.metrics:
        query = metric.query.replace("${release}", release).replace("${track}", track)
        checks.append(Check(metric.name, query, metric.severity, min=metric.min, max=metric.max))
    return GatePlan(
        checks=tuple(checks),
        requests_query=count(f"http_requests_total{sel}", window),
        min_requests=analysis.min_requests,
        comparisons=comparisons(release, spec, checks, window),
    )


def load_query(release: str, spec: FragranceReleaseSpec) -> str:
    """The autoscaler's signal over the stable track (spec.scaling.metric)."""
    window = prom_duration(parse_duration(spec.canary.analysis.interval))
    sel = selector(release, "stable")
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
