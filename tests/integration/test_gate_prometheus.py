"""The gate against a real Prometheus scraping scripted serving metrics."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from fragrance_api.release import FragranceReleaseSpec
from fragrance_operator.adapters.prometheus import Prometheus
from fragrance_operator.reconcile.evaluate import Evaluation, evaluate
from tests.helpers import wait_for
from tests.prometheus_server import PrometheusServer
from tests.serving_exporter import ServingExporter


def _spec(**analysis: Any) -> FragranceReleaseSpec:
    return FragranceReleaseSpec.model_validate(
        {
            "version": "v2",
            "image": "serving:v2",
            "models": [
                {"name": "llama", "mode": "fast"},
                {"name": "mistral", "mode": "balanced"},
                {"name": "qwen", "mode": "creative"},
            ],
            "traffic": {"provider": "rayServe"},
            "workload": {"replicas": 1, "gpusPerReplica": 1},
            "canary": {
                "stepInterval": "5s",
                "progressDeadline": "5m",
                "analysis": {"interval": "5s", "minRequests": 20, **analysis},
            },
        }
    )


@pytest.fixture
def prom(prometheus: PrometheusServer) -> Iterator[Prometheus]:
    client = Prometheus(prometheus.url)
    yield client
    client.close()


def _until(
    prom: Prometheus,
    release: str,
    spec: FragranceReleaseSpec,
    decision: str,
    every_check: bool = False,
    judged: tuple[str, ...] = (),
) -> Evaluation:
    """Evaluate until the decision is reached, every check agrees (if asked) and the
    ``judged`` checks have data.

    A check without data yet (the first scrape of a histogram) is INCONCLUSIVE without
    blocking a decision another check already reached, so it can lag the overall verdict.
    """
    last: list[Evaluation] = []

    def reached() -> bool:
        last[:] = [evaluate(prom, release, "default", spec)]
        verdict = last[0].verdict
        agree = not every_check or all(c.result == decision for c in verdict.checks)
        have_data = all(_check(last[0], name).result != "INCONCLUSIVE" for name in judged)
        return verdict.decision == decision and agree and have_data

    try:
        wait_for(reached, f"gate {decision}", timeout=30)
    except pytest.fail.Exception:
        pytest.fail(f"gate never {decision}; last: {last[0].verdict.summary}")
    return last[0]


def _first(
    prom: Prometheus, release: str, spec: FragranceReleaseSpec, ready: Any, what: str
) -> Evaluation:
    """Evaluate until ``ready(evaluation)`` holds (the data has reached Prometheus)."""
    seen: list[Evaluation] = []

    def reached() -> bool:
        seen[:] = [evaluate(prom, release, "default", spec)]
        return bool(ready(seen[0]))

    wait_for(reached, what, timeout=30)
    return seen[0]


def _check(evaluation: Evaluation, name: str) -> Any:
    return next(c for c in evaluation.verdict.checks if c.name == name)


def test_healthy_canary_is_go(
    prom: Prometheus, serving_exporter: ServingExporter, release_name: str
) -> None:
    serving_exporter.set(release_name)
    result = _until(prom, release_name, _spec(), "GO", every_check=True)
    assert {c.result for c in result.verdict.checks} == {"GO"}
    assert result.verdict.requests is not None
    assert result.verdict.requests >= 20
    assert _check(result, "latencyP95/creative").value < 4.5


def test_5xx_spike_is_nogo(
    prom: Prometheus, serving_exporter: ServingExporter, release_name: str
) -> None:
    serving_exporter.set(release_name, error_5xx=0.2)
    result = _until(prom, release_name, _spec(), "NO-GO")
    check = _check(result, "errorRate5xx")
    assert check.result == "NO-GO"
    assert check.value > 0.05
    assert "errorRate5xx" in result.verdict.summary


def test_backend_errors_hidden_by_retries_are_nogo(
    prom: Prometheus, serving_exporter: ServingExporter, release_name: str
) -> None:
    # Half the model calls fail, every one retried: users see no error at all.
    serving_exporter.set(release_name, upstream_error=0.5)
    result = _until(prom, release_name, _spec(), "NO-GO", judged=("errorRate5xx",))
    check = _check(result, "upstreamErrorRate")
    assert check.result == "NO-GO"
    assert check.value > 0.3
    assert _check(result, "errorRate5xx").result == "GO"


def test_creative_p95_over_budget_is_nogo(
    prom: Prometheus, serving_exporter: ServingExporter, release_name: str
) -> None:
    serving_exporter.set(release_name, latency={"fast": 0.8, "balanced": 1.5, "creative": 5.5})
    result = _until(prom, release_name, _spec(), "NO-GO", judged=("latencyP95/fast",))
    creative = _check(result, "latencyP95/creative")
    assert (creative.result, creative.threshold) == ("NO-GO", 4.5)
    assert _check(result, "latencyP95/fast").result == "GO"


def test_a_p95_of_a_handful_of_requests_never_rolls_back(
    prom: Prometheus, serving_exporter: ServingExporter, release_name: str
) -> None:
    # 6 requests/s, 10% creative: about 3 creative requests a 5 s window, all very slow.
    slow = {"fast": 0.8, "balanced": 1.5, "creative": 9.0}
    serving_exporter.set(release_name, rps=6.0, latency=slow)
    result = _first(
        prom, release_name, _spec(),
        lambda e: _check(e, "latencyP95/fast").value is not None,
        "the fast mode's p95 in Prometheus",
    )  # fmt: skip
    creative = _check(result, "latencyP95/creative")
    assert creative.result == "INCONCLUSIVE"
    assert "too few to judge" in creative.message
    assert creative.sample is not None
    assert creative.sample < 10
    assert result.verdict.decision != "NO-GO"


def test_no_data_is_inconclusive_never_go(prom: Prometheus, release_name: str) -> None:
    result = evaluate(prom, release_name, "default", _spec())
    assert result.verdict.decision == "INCONCLUSIVE"
    assert result.verdict.requests is None
    assert "minRequests" in result.verdict.summary


def test_too_few_requests_is_inconclusive(
    prom: Prometheus, serving_exporter: ServingExporter, release_name: str
) -> None:
    serving_exporter.set(release_name, rps=2.0)
    verdict = _first(
        prom, release_name, _spec(minRequests=100),
        lambda e: (e.verdict.requests or 0) > 0,
        "the canary's first requests in Prometheus",
    ).verdict  # fmt: skip
    assert verdict.decision == "INCONCLUSIVE"
    assert verdict.requests is not None
    assert verdict.requests < 100
    assert "minRequests 100" in verdict.summary


def test_low_cache_hit_rate_is_a_warning(
    prom: Prometheus, serving_exporter: ServingExporter, release_name: str
) -> None:
    serving_exporter.set(release_name, cache_hit=0.3)
    result = _until(prom, release_name, _spec(), "WARNING")
    assert _check(result, "cacheHitRate/fast").result == "WARNING"


def test_open_breaker_and_unhealthy_model_are_nogo(
    prom: Prometheus, serving_exporter: ServingExporter, release_name: str
) -> None:
    serving_exporter.set(release_name, breaker_open=True, healthy=False)
    judged = ("circuitBreakers", "llmHealth")
    result = _until(prom, release_name, _spec(), "NO-GO", judged=judged)
    assert _check(result, "circuitBreakers").result == "NO-GO"
    assert _check(result, "llmHealth").result == "NO-GO"


def test_a_steady_loss_passes_and_a_sustained_runaway_is_nogo(
    prom: Prometheus, serving_exporter: ServingExporter, release_name: str
) -> None:
    serving_exporter.set(release_name, loss=-0.2)  # PPO's loss may be negative: a magnitude
    steady = _until(prom, release_name, _spec(), "GO", judged=("rlLossRunaway",))
    assert _check(steady, "rlLossRunaway").value == pytest.approx(1.0, abs=0.05)
    # A runaway is judged against the loss's own history: let the long window (10 analysis
    # intervals, 50 s) hold 20 s of it first.
    history = f'count_over_time(ppo_loss{{release="{release_name}"}}[20s])'

    def counted() -> float:
        samples = prom.query(history).samples
        return samples[0][1] if samples else 0.0

    wait_for(lambda: counted() >= 15, "20 s of the loss's history", 60)
    serving_exporter.set(release_name, loss=-1.5)
    result = _until(prom, release_name, _spec(), "NO-GO")
    check = _check(result, "rlLossRunaway")
    assert check.result == "NO-GO"
    assert check.value is not None
    assert check.value > 2.0


def test_low_vram_headroom_is_nogo(
    prom: Prometheus, serving_exporter: ServingExporter, release_name: str
) -> None:
    serving_exporter.set(release_name, vram_used_fraction=0.9)
    result = _until(prom, release_name, _spec(), "NO-GO")
    check = _check(result, "vramHeadroom")
    assert check.result == "NO-GO"
    assert check.value == pytest.approx(0.1, abs=0.01)


def test_custom_metric_check(
    prom: Prometheus, serving_exporter: ServingExporter, release_name: str
) -> None:
    serving_exporter.set(release_name, loss=0.9)
    metric = {"name": "lossCeiling", "query": 'max(ppo_loss{release="${release}"})', "max": 0.5}
    result = _until(prom, release_name, _spec(metrics=[metric]), "NO-GO")
    check = _check(result, "lossCeiling")
    assert (check.result, check.value) == ("NO-GO", pytest.approx(0.9))


def test_prometheus_unreachable_is_inconclusive(release_name: str) -> None:
    down = Prometheus("http://127.0.0.1:9", timeout=1)
    try:
        result = evaluate(down, release_name, "default", _spec())
    finally:
        down.close()
    assert result.verdict.decision == "INCONCLUSIVE"
    applicable = [c for c in result.verdict.checks if not c.message.startswith("skipped")]
    assert all(c.result == "INCONCLUSIVE" for c in applicable)
    assert all("query failed" in c.message for c in applicable)


SLOWER = {"fast": 0.8, "balanced": 1.5, "creative": 3.5}  # creative 40% above stable's 2.5


def test_a_canary_40_percent_slower_than_stable_within_budget_is_caught(
    prom: Prometheus, serving_exporter: ServingExporter, release_name: str
) -> None:
    serving_exporter.set(release_name, "stable")
    serving_exporter.set(release_name, latency=SLOWER)
    compare = [{"check": "latencyP95", "relative": 0.2, "severity": "WARNING"}]
    judged = ("latencyP95/creative", "latencyP95.vsStable/fast")
    spec = _spec(compareWithStable=compare)
    result = _until(prom, release_name, spec, "WARNING", judged=judged)
    fixed = _check(result, "latencyP95/creative")
    assert (fixed.result, fixed.threshold) == ("GO", 4.5)  # the fixed budget alone passes it
    creative = _check(result, "latencyP95.vsStable/creative")
    assert creative.result == "WARNING"
    assert creative.stable_value is not None
    assert 2.5 <= creative.stable_value <= 3.0  # interpolated in the (2.5, 3.0] bucket
    assert creative.threshold == pytest.approx(1.2 * creative.stable_value)
    assert creative.sample is not None
    assert creative.sample >= 10
    assert _check(result, "latencyP95.vsStable/fast").result == "GO"


def test_a_canary_with_stables_error_rate_passes_the_two_proportion_test(
    prom: Prometheus, serving_exporter: ServingExporter, release_name: str
) -> None:
    # 1% 5xx on both tracks, over the fixed 0.5% budget lifted to 2%: only the comparison.
    serving_exporter.set(release_name, "stable", rps=400.0, error_5xx=0.01)
    serving_exporter.set(release_name, rps=400.0, error_5xx=0.01)
    compare = [{"check": "errorRate5xx", "absolute": 0.02}]
    spec = _spec(compareWithStable=compare, thresholds={"errorRate5xx": 0.02})
    result = _until(prom, release_name, spec, "GO", judged=("errorRate5xx.vsStable",))
    check = _check(result, "errorRate5xx.vsStable")
    assert check.result == "GO"
    assert check.value == pytest.approx(0.01, rel=0.3)
    assert check.stable_value == pytest.approx(0.01, rel=0.3)


def test_a_canary_with_too_few_requests_to_compare_is_inconclusive(
    prom: Prometheus, serving_exporter: ServingExporter, release_name: str
) -> None:
    serving_exporter.set(release_name, "stable", rps=400.0)
    serving_exporter.set(release_name, rps=8.0)  # about 40 requests a 5 s window, 0 errors
    compare = [{"check": "errorRate5xx", "absolute": 0.01}]
    spec = _spec(compareWithStable=compare)
    result = _first(
        prom, release_name, spec,
        lambda e: (_check(e, "errorRate5xx.vsStable").sample or 0) >= 20,
        "the canary's minimum sample in Prometheus",
    )  # fmt: skip
    check = _check(result, "errorRate5xx.vsStable")
    assert check.result == "INCONCLUSIVE"
    assert "too few requests to tell at 95%" in check.message
    assert result.verdict.decision == "INCONCLUSIVE"
