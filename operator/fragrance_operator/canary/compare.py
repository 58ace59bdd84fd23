"""Canary against stable in the same window: a check's value judged relative to stable's.

A rate (errors over requests, hits over lookups) is judged with a two-proportion test: the
canary fails when its rate is above stable's plus the margin at the asked confidence, passes
when it is below it at that confidence, and between the two (too few requests to tell) it is
INCONCLUSIVE. The interval of the difference is Newcombe's hybrid score interval (Wilson
scores for each side), which stays honest at zero errors and small samples, where the
textbook Wald interval claims certainty from nothing. A value (a p95, a custom metric) is
compared with stable's times (1 + relative) plus absolute, once both sides have their
minimum sample.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Literal

from .gate import CheckResult, Decision, Sample, Severity


@dataclass(frozen=True)
class Comparison:
    """One check compared with stable: what to query for each track and how to judge it.

    ``kind == "rate"``: the value queries count events (errors) and the sample queries count
    trials (requests); ``kind == "value"``: the value queries give the value itself and the
    sample queries, when set, the requests it is over."""

    name: str
    check: str
    kind: Literal["rate", "value"]
    severity: Severity
    canary_query: str
    stable_query: str
    canary_sample_query: str | None = None
    stable_sample_query: str | None = None
    higher_is_worse: bool = True
    relative: float = 0.0
    absolute: float = 0.0
    confidence: float = 0.95
    min_sample: int = 0
    by_label: str | None = None
    required: tuple[str, ...] = ()

    @property
    def queries(self) -> tuple[str, ...]:
        extra = (self.canary_sample_query, self.stable_sample_query)
        return (self.canary_query, self.stable_query, *(q for q in extra if q is not None))


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def wilson(events: float, trials: float, z: float) -> tuple[float, float]:
    """Wilson score interval of a proportion; trials must be positive."""
    p = events / trials
    scale = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / scale
    half = z / scale * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))
    return max(0.0, centre - half), min(1.0, centre + half)


def difference_bounds(
    x1: float, n1: float, x2: float, n2: float, confidence: float
) -> tuple[float, float]:
    """One-sided bounds, each at ``confidence``, of p1 - p2 (Newcombe's method 10)."""
    z = NormalDist().inv_cdf(confidence)
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson(x1, n1, z)
    l2, u2 = wilson(x2, n2, z)
    d = p1 - p2
    return d - math.hypot(p1 - l1, u2 - p2), d + math.hypot(u1 - p1, p2 - l2)


def judge_comparison(
    c: Comparison, answers: Sequence[Sequence[Sample] | None], error: str = ""
) -> list[CheckResult]:
    """Results of one comparison from its queries' answers, in ``c.queries`` order."""
    if any(answer is None for answer in answers):
        why = f"{c.name}: query failed: {error or 'unknown error'}"
        return [CheckResult(c.name, "INCONCLUSIVE", message=why)]
    tables = [_table(c.by_label, answer or ()) for answer in answers]
    canary, stable = tables[0], tables[1]
    sizes = tables[2:] if len(tables) == 4 else None
    keys = sorted({key for table in tables for key in table} | set(c.required))
    if not c.by_label:
        keys = [""]
    results = []
    for key in keys:
        name = f"{c.name}/{key}" if c.by_label else c.name
        n1, n2 = (sizes[0].get(key), sizes[1].get(key)) if sizes else (None, None)
        if c.kind == "rate":
            results.append(_rate(c, name, canary.get(key, 0.0), n1, stable.get(key, 0.0), n2))
        else:
            results.append(_value(c, name, canary.get(key), n1, stable.get(key), n2))
    return results


def _table(by_label: str | None, samples: Sequence[Sample]) -> Mapping[str, float]:
    return {labels.get(by_label, "") if by_label else "": value for labels, value in samples}


def _too_few(c: Comparison, name: str, n1: float | None, n2: float | None) -> str | None:
    for track, n in (("canary", n1), ("stable", n2)):
        if n is None or not math.isfinite(n) or n < max(c.min_sample, 1):
            seen = "no" if n is None or not math.isfinite(n) else f"{n:.0f}"
            return f"{name}: {track} has {seen} requests, fewer than {c.min_sample}"
    return None


def _rate(
    c: Comparison, name: str, x1: float, n1: float | None, x2: float, n2: float | None
) -> CheckResult:
    too_few = _too_few(c, name, n1, n2)
    if too_few or n1 is None or n2 is None:
        return CheckResult(name, "INCONCLUSIVE", sample=n1, message=too_few or "")
    # Counters reset or scraped mid-increment may give a count past its trials: clamp.
    x1, x2 = min(max(x1, 0.0), n1), min(max(x2, 0.0), n2)
    p1, p2 = x1 / n1, x2 / n2
    margin = c.absolute + c.relative * p2
    if c.higher_is_worse:
        low, high = difference_bounds(x1, n1, x2, n2, c.confidence)
        threshold = p2 + margin
    else:  # a hit rate: the canary is worse when it is lower
        low, high = difference_bounds(x2, n2, x1, n1, c.confidence)
        threshold = p2 - margin
    words = f"{_fmt(p1)} vs stable {_fmt(p2)} (margin {_fmt(margin)}, n {n1:.0f}/{n2:.0f})"
    confidence = f"at {c.confidence:.0%}"
    if low > margin:
        result: Decision = c.severity
        message = f"{name} {words}: worse than stable {confidence}"
    elif high <= margin:
        result, message = "GO", ""
    else:
        result, message = "INCONCLUSIVE", f"{name} {words}: too few requests to tell {confidence}"
    return CheckResult(name, result, p1, threshold, message, n1, p2)


def _value(
    c: Comparison,
    name: str,
    v1: float | None,
    n1: float | None,
    v2: float | None,
    n2: float | None,
) -> CheckResult:
    if c.canary_sample_query is not None:
        too_few = _too_few(c, name, n1, n2)
        if too_few:
            return CheckResult(
                name, "INCONCLUSIVE", v1, sample=n1, stable_value=v2, message=too_few
            )
    if v1 is None or v2 is None or not (math.isfinite(v1) and math.isfinite(v2)):
        message = f"{name}: no data for the {'canary' if v1 is None else 'stable'} track"
        return CheckResult(name, "INCONCLUSIVE", v1, None, message, n1, v2)
    if c.higher_is_worse:
        allowed = v2 * (1 + c.relative) + c.absolute
        worse = v1 > allowed
    else:
        allowed = v2 * (1 - c.relative) - c.absolute
        worse = v1 < allowed
    if not worse:
        return CheckResult(name, "GO", v1, allowed, "", n1, v2)
    sign = ">" if c.higher_is_worse else "<"
    message = f"{name} {_fmt(v1)} {sign} {_fmt(allowed)} (stable {_fmt(v2)})"
    return CheckResult(name, c.severity, v1, allowed, message, n1, v2)
