"""The gate's judgement without Prometheus: bounds, no data, NaN, and decision precedence."""

from __future__ import annotations

import math

import pytest

from fragrance_operator.canary.gate import Check, CheckResult, decide, judge

NOGO = Check("errorRate5xx", "q", "NO-GO", max=0.01)
WARN = Check("cacheHitRate", "q", "WARNING", min=0.6, by_label="mode", required=("fast",))
LOSS = Check("rlLossRunaway", "q", "NO-GO", max=2.0, nan_is_failure=True)


def test_bounds() -> None:
    assert judge(NOGO, [({}, 0.005)])[0].result == "GO"
    failed = judge(NOGO, [({}, 0.02)])[0]
    assert (failed.result, failed.value, failed.threshold) == ("NO-GO", 0.02, 0.01)
    assert "0.02 > 0.01" in failed.message


def test_worst_series_decides() -> None:
    assert judge(NOGO, [({"a": "1"}, 0.001), ({"a": "2"}, 0.5)])[0].result == "NO-GO"


@pytest.mark.parametrize("samples", [[], None])
def test_missing_data_is_inconclusive(samples: list[tuple[dict[str, str], float]] | None) -> None:
    result = judge(NOGO, samples, "connection refused")[0]
    assert result.result == "INCONCLUSIVE"
    assert result.value is None


def test_nan_is_no_data_except_where_it_means_runaway() -> None:
    assert judge(NOGO, [({}, math.nan)])[0].result == "INCONCLUSIVE"
    assert judge(LOSS, [({}, math.inf)])[0].result == "NO-GO"


def test_per_label_checks_require_every_listed_value() -> None:
    results = judge(WARN, [({"mode": "balanced"}, 0.9)])
    by_name = {r.name: r.result for r in results}
    assert by_name == {"cacheHitRate/balanced": "GO", "cacheHitRate/fast": "INCONCLUSIVE"}


def test_skipped_check_passes_with_its_reason() -> None:
    skipped = Check("vramHeadroom", "q", "NO-GO", min=0.2, skipped="no GPUs")
    assert judge(skipped, None)[0].result == "GO"
    assert "skipped" in judge(skipped, None)[0].message


def _r(name: str, result: str) -> CheckResult:
    return CheckResult(name, result)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("results", "requests", "expected"),
    [
        ([_r("errorRate5xx", "GO"), _r("cacheHitRate/fast", "GO")], 100, "GO"),
        ([_r("errorRate5xx", "NO-GO"), _r("cacheHitRate/fast", "WARNING")], 100, "NO-GO"),
        ([_r("errorRate5xx", "GO"), _r("cacheHitRate/fast", "WARNING")], 100, "WARNING"),
        ([_r("errorRate5xx", "INCONCLUSIVE"), _r("cacheHitRate/fast", "GO")], 100, "INCONCLUSIVE"),
        ([_r("errorRate5xx", "GO"), _r("cacheHitRate/fast", "INCONCLUSIVE")], 100, "GO"),
        ([_r("errorRate5xx", "GO"), _r("cacheHitRate/fast", "GO")], 5, "INCONCLUSIVE"),
        ([_r("errorRate5xx", "GO"), _r("cacheHitRate/fast", "GO")], None, "INCONCLUSIVE"),
        ([_r("errorRate5xx", "NO-GO"), _r("cacheHitRate/fast", "GO")], None, "NO-GO"),
        ([_r("errorRate5xx", "INCONCLUSIVE"), _r("cacheHitRate/fast", "WARNING")], 100, "WARNING"),
    ],
)
def test_decision_precedence(
    results: list[CheckResult], requests: float | None, expected: str
) -> None:
    assert decide([NOGO, WARN], results, requests, min_requests=20).decision == expected
