"""The spec's comparisons with the stable track (``analysis.compareWithStable``) as queries."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from fragrance_api.release import FragranceReleaseSpec

from .compare import Comparison
from .gate import Check
from .series import count, latency_p95, rates, selector

SUFFIX = ".vsStable"


def comparisons(
    release: str, spec: FragranceReleaseSpec, checks: Sequence[Check], window: str
) -> tuple[Comparison, ...]:
    analysis = spec.canary.analysis
    severity = {check.name: check.severity for check in checks}
    metrics = {metric.name: metric for metric in analysis.metrics}
    modes = tuple(sorted({model.mode for model in spec.models}))
    canary, stable = rates(release, "canary"), rates(release, "stable")
    built = []
    for wanted in analysis.compare_with_stable:
        name = wanted.check
        make = partial(
            Comparison,
            name=name + SUFFIX,
            check=name,
            severity=wanted.severity or severity[name],
            relative=wanted.relative or 0.0,
            absolute=wanted.absolute or 0.0,
            confidence=wanted.confidence,
        )
        if name in canary:
            by = canary[name].by
            built.append(
                make(
                    kind="rate",
                    canary_query=count(canary[name].events, window, by),
                    stable_query=count(stable[name].events, window, by),
                    canary_sample_query=count(canary[name].trials, window, by),
                    stable_sample_query=count(stable[name].trials, window, by),
                    higher_is_worse=name != "cacheHitRate",
                    min_sample=analysis.min_requests_per_mode if by else analysis.min_requests,
                    by_label=by,
                    required=tuple(m for m in modes if m in _required(checks, name)),
                )
            )
        elif name == "latencyP95":
            sels = selector(release, "canary"), selector(release, "stable")
            durations = [f"http_request_duration_seconds_count{sel}" for sel in sels]
            built.append(
                make(
                    kind="value",
                    canary_query=latency_p95(sels[0], window),
                    stable_query=latency_p95(sels[1], window),
                    canary_sample_query=count(durations[0], window, "mode"),
                    stable_sample_query=count(durations[1], window, "mode"),
                    min_sample=analysis.min_requests_per_mode,
                    by_label="mode",
                    required=modes,
                )
            )
        else:  # one of the spec's metrics (the API refuses any other name)
            metric = metrics[name]
            query = metric.query.replace("${release}", release)
            built.append(
                make(
                    kind="value",
                    canary_query=query.replace("${track}", "canary"),
                    stable_query=query.replace("${track}", "stable"),
                    higher_is_worse=metric.max is not None,
                )
            )
    return tuple(built)


def _required(checks: Sequence[Check], name: str) -> tuple[str, ...]:
    return next((check.required for check in checks if check.name == name), ())
