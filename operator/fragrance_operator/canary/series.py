"""The PromQL the gate's checks are built from: one track's series, counted over a window."""

from __future__ import annotations

from dataclasses import dataclass

from fragrance_api.modes import CACHED_MODES


@dataclass(frozen=True)
class Rate:
    """A rate check's series: events over trials, summed (or by ``by`` when set)."""

    events: str
    trials: str | tuple[str, ...]  # several series are added: hits and misses are lookups
    by: str | None = None


def selector(release: str, track: str, extra: str = "") -> str:
    labels = f'release="{release}",track="{track}"'
    return "{" + labels + (f",{extra}" if extra else "") + "}"


def rates(release: str, track: str) -> dict[str, Rate]:
    """The built-in rate checks' series for one track."""
    sel = selector(release, track)
    inner = sel[1:-1]
    requests, briefs = f"http_requests_total{sel}", f"llm_brief_total{sel}"
    cached = f'{inner},mode=~"{"|".join(CACHED_MODES)}"'
    return {
        "errorRate5xx": Rate(f'http_requests_total{{{inner},status=~"5.."}}', requests),
        "errorRate4xx": Rate(f'http_requests_total{{{inner},status=~"4.."}}', requests),
        "schemaFailureRate": Rate(f'llm_brief_total{{{inner},result="invalid"}}', briefs),
        "jsonFallbackRate": Rate(f"llm_json_fallback_used_total{sel}", briefs),
        "upstreamErrorRate": Rate(f"llm_upstream_errors_total{sel}", f"llm_requests_total{sel}"),
        "cacheHitRate": Rate(
            f"cache_hits_total{{{cached}}}",
            (f"cache_hits_total{{{cached}}}", f"cache_misses_total{{{cached}}}"),
            by="mode",
        ),
    }


def count(series: str | tuple[str, ...], window: str, by: str | None = None) -> str:
    """How many of ``series`` were counted in the window (summed, or per ``by``)."""
    return _summed("increase", series, window, by)


def per_second(series: str | tuple[str, ...], window: str, by: str | None = None) -> str:
    return _summed("rate", series, window, by)


def _summed(function: str, series: str | tuple[str, ...], window: str, by: str | None) -> str:
    group = f" by ({by})" if by else ""
    parts = [series] if isinstance(series, str) else list(series)
    added = " + ".join(f"sum{group} ({function}({one}[{window}]))" for one in parts)
    return added if len(parts) == 1 else f"({added})"


def latency_p95(sel: str, window: str) -> str:
    return (
        "histogram_quantile(0.95, sum by (le, mode) "
        f"(rate(http_request_duration_seconds_bucket{sel}[{window}])))"
    )


def prom_duration(seconds: float) -> str:
    return f"{max(1, round(seconds))}s"
