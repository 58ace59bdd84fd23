"""The go/no-go gate's judgement: from query results to per-check results and a decision.

Decision: NO-GO if a NO-GO check fails; else WARNING if a WARNING check fails;
else INCONCLUSIVE if a NO-GO check had no data or the canary saw too few requests; else GO.
A gate never passes on missing data: a query that failed counts as no data.

A check over requests has a minimum sample: below it the check is INCONCLUSIVE, never GO
and never NO-GO (a p95 of three requests is one slow request), unless its value is past
the check's ``severe`` bar, which acts from SEVERE_MIN_SAMPLE requests.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal, Protocol

Decision = Literal["GO", "WARNING", "NO-GO", "INCONCLUSIVE"]
Severity = Literal["NO-GO", "WARNING"]

#: One series of an instant query: its labels and value (NaN and ±Inf kept as floats).
Sample = tuple[Mapping[str, str], float]

#: Requests from which a value past a check's ``severe`` bar acts below its minimum sample.
SEVERE_MIN_SAMPLE = 5


@dataclass(frozen=True)
class Check:
    """One check: a PromQL query and the bound its value(s) must keep."""

    name: str
    query: str
    severity: Severity
    min: float | None = None
    max: float | None = None
    # When set, every series is judged on its own, named ``name/<label value>``; the
    # thresholds may differ per label value and the listed values must all be present.
    by_label: str | None = None
    per_label_max: Mapping[str, float] = field(default_factory=dict)
    required: tuple[str, ...] = ()
    missing: str = "no data"  # why a required label value may be absent from the answer
    nan_is_failure: bool = False  # a runaway loss is NaN/Inf: that fails, it is not "no data"
    skipped: str | None = None  # why the check does not apply to this release
    # How many requests the value is over (by ``by_label`` when set), and the least that
    # lets it decide; None: the value is a state (a gauge), which any reading may act on.
    sample_query: str | None = None
    min_sample: int = 0
    severe: float | None = None

    @property
    def threshold(self) -> float | None:
        return self.min if self.min is not None else self.max


@dataclass(frozen=True)
class CheckResult:
    name: str
    result: Decision
    value: float | None = None
    threshold: float | None = None
    message: str = ""
    sample: float | None = None  # requests the value is over, where the check counts them
    stable_value: float | None = None  # stable's value in the same window, where compared


@dataclass(frozen=True)
class Verdict:
    decision: Decision
    checks: tuple[CheckResult, ...]
    requests: float | None
    summary: str


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def _bound_result(
    check: Check, name: str, value: float, low: float | None, high: float | None
) -> CheckResult:
    threshold = low if low is not None else high
    if math.isnan(value) or math.isinf(value):
        if check.nan_is_failure:
            return CheckResult(name, check.severity, None, threshold, f"{name} is not finite")
        return CheckResult(name, "INCONCLUSIVE", None, threshold, f"{name}: no data (NaN)")
    if low is not None and value < low:
        message = f"{name} {_fmt(value)} < {_fmt(low)}"
        return CheckResult(name, check.severity, value, low, message)
    if high is not None and value > high:
        message = f"{name} {_fmt(value)} > {_fmt(high)}"
        return CheckResult(name, check.severity, value, high, message)
    return CheckResult(name, "GO", value, threshold, "")


def judge(
    check: Check,
    samples: Sequence[Sample] | None,
    error: str = "",
    counts: Sequence[Sample] | None = None,
) -> list[CheckResult]:
    """Results of one check from its query's samples (None: the query failed) and, for a
    check with a ``sample_query``, that query's counts (None: it failed)."""
    if check.skipped:
        return [CheckResult(check.name, "GO", None, check.threshold, f"skipped: {check.skipped}")]
    if samples is None:
        why = f"{check.name}: query failed: {error or 'unknown error'}"
        return [CheckResult(check.name, "INCONCLUSIVE", None, check.threshold, why)]
    if check.sample_query is not None and counts is None:
        why = f"{check.name}: sample query failed: {error or 'unknown error'}"
        return [CheckResult(check.name, "INCONCLUSIVE", None, check.threshold, why)]
    sizes = {labels.get(check.by_label or "", ""): n for labels, n in counts or ()}
    if check.by_label is None:
        if not samples:
            message = f"{check.name}: no data"
            result = CheckResult(check.name, "INCONCLUSIVE", None, check.threshold, message)
        else:
            # Several series: the worst one decides.
            value = _worst([value for _, value in samples], check)
            result = _bound_result(check, check.name, value, check.min, check.max)
        return [_sized(check, result, sum(sizes.values()))]
    seen = {labels.get(check.by_label, ""): value for labels, value in samples}
    results = []
    for key in sorted(set(seen) | set(check.required)):
        name = f"{check.name}/{key}"
        high = check.per_label_max.get(key, check.max)
        if key not in seen:
            result = CheckResult(name, "INCONCLUSIVE", None, high, f"{name}: {check.missing}")
        else:
            result = _bound_result(check, name, seen[key], check.min, high)
        results.append(_sized(check, result, sizes.get(key, 0.0)))
    return results


def _sized(check: Check, result: CheckResult, sample: float) -> CheckResult:
    """``result`` as its sample allows: too few requests make it INCONCLUSIVE, unless it
    failed past the severe bar on at least SEVERE_MIN_SAMPLE requests."""
    if check.sample_query is None:
        return result
    result = replace(result, sample=sample)
    if sample >= check.min_sample or result.result == "INCONCLUSIVE":
        return result
    if result.result != "GO" and _severe(check, result.value, sample):
        return replace(result, message=f"{result.message} (severe: acts on {sample:.0f} requests)")
    seen = "" if result.value is None else f"{_fmt(result.value)} "
    message = (
        f"{result.name}: {seen}on {sample:.0f} requests < {check.min_sample}, too few to judge"
    )
    return replace(result, result="INCONCLUSIVE", message=message)


def _severe(check: Check, value: float | None, sample: float) -> bool:
    if check.severe is None or value is None or sample < SEVERE_MIN_SAMPLE:
        return False
    return value <= check.severe if check.min is not None else value >= check.severe


def _worst(values: list[float], check: Check) -> float:
    if any(math.isnan(v) or math.isinf(v) for v in values):
        return math.nan
    return min(values) if check.min is not None else max(values)


class Judged(Protocol):
    """A check or a comparison: what the decision needs of either."""

    @property
    def name(self) -> str: ...

    @property
    def severity(self) -> Severity: ...


def decide(
    checks: Sequence[Judged],
    results: Sequence[CheckResult],
    requests: float | None,
    min_requests: int,
) -> Verdict:
    severity = {check.name: check.severity for check in checks}

    def base(result: CheckResult) -> str:
        return result.name.split("/", 1)[0]

    failed_nogo = [r for r in results if r.result == "NO-GO"]
    warnings = [r for r in results if r.result == "WARNING"]
    no_data = [r for r in results if r.result == "INCONCLUSIVE" and severity[base(r)] == "NO-GO"]
    too_few = requests is None or requests < min_requests
    if failed_nogo:
        decision: Decision = "NO-GO"
        summary = "; ".join(r.message for r in failed_nogo)
    elif warnings:
        decision = "WARNING"
        summary = "; ".join(r.message for r in warnings)
    elif no_data or too_few:
        decision = "INCONCLUSIVE"
        parts = [r.message for r in no_data]
        if too_few:
            seen = "no data" if requests is None else _fmt(requests)
            parts.insert(0, f"canary requests {seen} < minRequests {min_requests}")
        summary = "; ".join(parts)
    else:
        decision = "GO"
        summary = "all checks passed"
    return Verdict(decision, tuple(results), requests, summary)
