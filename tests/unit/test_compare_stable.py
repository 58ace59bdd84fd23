"""Canary against stable: the two-proportion test, value comparisons, minimum samples."""

from __future__ import annotations

import pytest

from fragrance_operator.canary.compare import Comparison, difference_bounds, judge_comparison
from fragrance_operator.canary.gate import Check, judge

ERRORS = Comparison(
    "errorRate5xx.vsStable", "errorRate5xx", "rate", "NO-GO", "c", "s", "cn", "sn",
    absolute=0.01, min_sample=20,
)  # fmt: skip
P95 = Comparison(
    "latencyP95.vsStable", "latencyP95", "value", "WARNING", "c", "s", "cn", "sn",
    relative=0.2, min_sample=10, by_label="mode", required=("creative", "fast"),
)  # fmt: skip


def _rate(x1: float, n1: float, x2: float, n2: float) -> tuple[str, str]:
    result = judge_comparison(ERRORS, [[({}, x1)], [({}, x2)], [({}, n1)], [({}, n2)]])[0]
    return result.result, result.message


def test_newcombe_bounds_are_honest_at_zero_errors() -> None:
    # The Wald interval of 0/20 vs 0/2000 is [0, 0]: certainty from nothing. Wilson's is not.
    low, high = difference_bounds(0, 20, 0, 2000, 0.95)
    assert low < 0 < 0.1 < high
    low, high = difference_bounds(0, 1000, 0, 10000, 0.95)
    assert high < 0.005


def test_the_same_error_rate_as_stable_passes() -> None:
    assert _rate(5, 1000, 50, 10000)[0] == "GO"


def test_a_significantly_higher_error_rate_fails() -> None:
    result, message = _rate(80, 1000, 50, 10000)
    assert result == "NO-GO"
    assert "worse than stable at 95%" in message


@pytest.mark.parametrize(("x1", "n1"), [(1, 30), (0, 40)])
def test_too_few_requests_to_tell_is_inconclusive_never_a_coin_toss(x1: int, n1: int) -> None:
    result, message = _rate(x1, n1, 50, 10000)
    assert result == "INCONCLUSIVE"
    assert "too few requests to tell" in message


def test_below_the_minimum_sample_is_inconclusive_even_when_it_looks_bad() -> None:
    result, message = _rate(10, 10, 0, 10000)
    assert result == "INCONCLUSIVE"
    assert "canary has 10 requests, fewer than 20" in message


def test_a_lower_hit_rate_is_worse() -> None:
    hits = Comparison("h", "cacheHitRate", "rate", "WARNING", "c", "s", "cn", "sn",
                      higher_is_worse=False, absolute=0.05, min_sample=20)  # fmt: skip
    low = judge_comparison(hits, [[({}, 300)], [({}, 8000)], [({}, 1000)], [({}, 10000)]])[0]
    same = judge_comparison(hits, [[({}, 790)], [({}, 8000)], [({}, 1000)], [({}, 10000)]])[0]
    assert (low.result, same.result) == ("WARNING", "GO")
    assert low.stable_value == pytest.approx(0.8)


def test_a_p95_forty_percent_above_stable_is_caught_per_mode() -> None:
    values = [({"mode": "fast"}, 0.8), ({"mode": "creative"}, 3.5)]
    stable = [({"mode": "fast"}, 0.8), ({"mode": "creative"}, 2.5)]
    sizes = [({"mode": "fast"}, 200.0), ({"mode": "creative"}, 40.0)]
    results = {r.name: r for r in judge_comparison(P95, [values, stable, sizes, sizes])}
    creative = results["latencyP95.vsStable/creative"]
    assert (creative.result, creative.threshold, creative.stable_value) == ("WARNING", 3.0, 2.5)
    assert results["latencyP95.vsStable/fast"].result == "GO"


def test_a_mode_without_enough_requests_on_either_side_is_inconclusive() -> None:
    values = [({"mode": "fast"}, 0.8), ({"mode": "creative"}, 9.0)]
    canary_sizes = [({"mode": "fast"}, 200.0), ({"mode": "creative"}, 3.0)]
    stable_sizes = [({"mode": "fast"}, 5.0), ({"mode": "creative"}, 300.0)]
    results = judge_comparison(P95, [values, values, canary_sizes, stable_sizes])
    assert {r.name: r.result for r in results} == {
        "latencyP95.vsStable/creative": "INCONCLUSIVE",
        "latencyP95.vsStable/fast": "INCONCLUSIVE",
    }


def test_a_failed_query_is_inconclusive() -> None:
    assert judge_comparison(ERRORS, [None, [], [], []], "timeout")[0].result == "INCONCLUSIVE"


RATE = Check("errorRate5xx", "q", "NO-GO", max=0.01, sample_query="n", min_sample=20, severe=0.5)
P95_CHECK = Check(
    "latencyP95", "q", "NO-GO", max=4.5, by_label="mode", required=("creative",),
    sample_query="n", min_sample=10,
)  # fmt: skip


@pytest.mark.parametrize(
    ("value", "sample", "expected"),
    [
        (0.005, 100, "GO"),
        (0.2, 100, "NO-GO"),
        (0.0, 3, "INCONCLUSIVE"),  # never GO on too few
        (0.2, 10, "INCONCLUSIVE"),  # never NO-GO on too few
        (0.6, 10, "NO-GO"),  # unless severe, from SEVERE_MIN_SAMPLE requests
        (1.0, 2, "INCONCLUSIVE"),
    ],
)
def test_a_check_decides_only_on_its_minimum_sample(
    value: float, sample: float, expected: str
) -> None:
    result = judge(RATE, [({}, value)], counts=[({}, sample)])[0]
    assert (result.result, result.sample) == (expected, sample)


def test_a_p95_of_a_handful_of_requests_proves_nothing() -> None:
    result = judge(P95_CHECK, [({"mode": "creative"}, 4.92)], counts=[({"mode": "creative"}, 4)])
    assert result[0].result == "INCONCLUSIVE"
    assert "on 4 requests < 10, too few to judge" in result[0].message


def test_a_failed_sample_query_is_inconclusive() -> None:
    assert judge(RATE, [({}, 0.0)], counts=None)[0].result == "INCONCLUSIVE"
