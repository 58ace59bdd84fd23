"""The ensemble over real HTTP to an OpenAI-compatible server that fails a share of calls.

The serving's own code path for ``backend: openai`` (httpx, JSON response format) against
``tests/openai_fake.py`` on 127.0.0.1: 500s, calls that hang past the client's timeout,
429 with Retry-After, malformed answers. Ray is not needed to decide a request; the same
ensemble runs inside the Serve replica (tests/serving covers that path).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from fragrance_api.modes import Mode
from fragrance_serving.backends import Model, OpenAIBackend
from fragrance_serving.brief import BriefRequest, BriefResponse
from fragrance_serving.ensemble import Ensemble
from fragrance_serving.metrics import ServingMetrics
from fragrance_serving.model_client import Unavailable
from fragrance_serving.settings import from_policy, parse_policy
from tests.openai_fake import FakeOpenAI, Plan, serve_fake

MODELS: dict[str, Mode] = {"llama": "fast", "mistral": "balanced", "qwen": "creative"}
CALL_TIMEOUT = 1.5  # per call (models[].timeout); 0.5 s was too short for a busy 2-core CI machine
DEADLINE = 5.0  # the whole request's (timeoutSeconds)


def _ensemble(url: str, deadline: float = DEADLINE, **policy: Any) -> Ensemble:
    spec = {"jsonGuard": {"backoffBase": 0.05, "jitter": 0.05}, **policy}
    models = {
        name: (mode, Model(OpenAIBackend(url, name, timeout=CALL_TIMEOUT)))
        for name, mode in MODELS.items()
    }
    return Ensemble(
        models, from_policy(parse_policy(spec)), ServingMetrics("r", "canary"), deadline
    )


def _metric(ensemble: Ensemble, name: str, **labels: str) -> float:
    text = ensemble.metrics.render().decode()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    )


async def _send(
    ensemble: Ensemble, count: int, concurrency: int, mode: Mode | None = None
) -> list[tuple[BriefResponse | Exception, float]]:
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> tuple[BriefResponse | Exception, float]:
        async with gate:
            started = time.perf_counter()
            try:
                answer: BriefResponse | Exception = await ensemble.brief(
                    BriefRequest(prompt=f"a scent for a winter evening {i}", mode=mode)
                )
            except Exception as error:
                answer = error
            return answer, time.perf_counter() - started

    return list(await asyncio.gather(*(one(i) for i in range(count))))


@pytest.fixture
def fake() -> Iterator[tuple[FakeOpenAI, str]]:
    backend = FakeOpenAI()
    with serve_fake(backend) as url:
        yield backend, url


def test_fifteen_percent_upstream_errors_still_answer_every_user(
    fake: tuple[FakeOpenAI, str],
) -> None:
    backend, url = fake
    # 15% of calls fail upstream (500, hung past the timeout, 429 + Retry-After); 2% more
    # answer text that is not JSON. A fast request has no cheaper mode: it fails only when
    # all 4 of its attempts do (0.17^4, under one request in a thousand), and its breaker
    # must not open on the noise.
    backend.default = Plan(error500=0.06, timeout=0.04, rate_limited=0.05, malformed=0.02)
    ensemble = _ensemble(url)
    results = asyncio.run(_send(ensemble, 1000, concurrency=25))

    answered = [r for r, _ in results if isinstance(r, BriefResponse) and not r.fallback]
    slowest = max(elapsed for _, elapsed in results)
    calls, failed = backend.total(), sum(backend.failed(m) for m in MODELS)
    print(
        f"\n1000 requests, {calls} model calls, {failed / calls:.1%} of calls failed or "
        f"malformed: {len(answered)} answered by a model ({len(answered) / 10:.1f}%), "
        f"slowest {slowest:.2f}s (deadline {DEADLINE:.0f}s); "
        f"downshifts {Counter(r.downshift_reason for r in answered)}"
    )
    assert len(answered) >= 995, [r for r, _ in results if r not in answered][:5]
    assert slowest <= DEADLINE + 1.0, "a request outlived its deadline"
    for kind in ("server_error", "timeout", "rate_limited"):
        assert _metric(ensemble, "llm_upstream_errors_total", kind=kind) > 0, kind
    assert _metric(ensemble, "llm_upstream_retries_total") > 0
    assert _metric(ensemble, "http_requests_total", status="503") == 0


def test_a_model_that_always_fails_hands_its_mode_to_the_next(
    fake: tuple[FakeOpenAI, str],
) -> None:
    backend, url = fake
    backend.plans["qwen"] = Plan(error500=1.0)
    ensemble = _ensemble(url)
    results = asyncio.run(_send(ensemble, 20, concurrency=1, mode="creative"))
    answers = [r for r, _ in results]
    assert all(isinstance(r, BriefResponse) for r in answers), answers
    got = [(r.mode, r.model, r.downshift_reason) for r in answers if isinstance(r, BriefResponse)]
    assert {(mode, model) for mode, model, _ in got} == {("balanced", "mistral")}
    # Its attempts end on upstream errors until its breaker opens; then it is not asked.
    assert got[0][2] == "upstreamErrors"
    assert got[-1][2] == "breakerOpen"
    assert _metric(ensemble, "circuit_breaker_state", model="qwen") == 2
    assert _metric(ensemble, "llm_upstream_errors_total", model="qwen", kind="server_error") >= 10
    assert (
        _metric(ensemble, "llm_mode_downshift_total", from_mode="creative", to_mode="balanced")
        == 20
    )


def test_every_model_failing_is_a_clean_503_or_the_marked_fallback(
    fake: tuple[FakeOpenAI, str],
) -> None:
    backend, url = fake
    backend.default = Plan(error500=1.0)
    strict = _ensemble(
        url, jsonGuard={"backoffBase": 0.01, "jitter": 0.01, "fallbackEnabled": False}
    )
    with pytest.raises(Unavailable, match=r"creative: upstream server_error; balanced: upstream"):
        asyncio.run(strict.brief(BriefRequest(prompt="anything", mode="creative")))
    assert _metric(strict, "http_requests_total", status="503") == 1

    lenient = _ensemble(url)
    answer = asyncio.run(lenient.brief(BriefRequest(prompt="anything", mode="creative")))
    assert answer.fallback
    assert answer.brief.error
    assert "fast: upstream server_error" in (answer.unanswered or "")
    assert _metric(lenient, "llm_brief_total", result="unanswered") == 1


def test_hung_models_cannot_hold_a_request_past_its_deadline(
    fake: tuple[FakeOpenAI, str],
) -> None:
    backend, url = fake
    backend.default = Plan(timeout=1.0)
    deadline = 1.5
    models = {
        # Each call's own timeout is longer than the whole request may take.
        name: (mode, Model(OpenAIBackend(url, name, timeout=30)))
        for name, mode in MODELS.items()
    }
    ensemble = Ensemble(
        models, from_policy(parse_policy(None)), ServingMetrics("r", "canary"), deadline
    )
    results = asyncio.run(_send(ensemble, 6, concurrency=6, mode="creative"))
    for answer, elapsed in results:
        assert isinstance(answer, BriefResponse), answer
        assert answer.fallback
        assert "deadline" in (answer.unanswered or "")
        assert elapsed <= deadline + 1.0, f"{elapsed:.2f}s for a {deadline}s deadline"


def test_a_429_retry_after_is_honoured(fake: tuple[FakeOpenAI, str]) -> None:
    backend, url = fake
    backend.plans["llama"] = Plan(rate_limited=1.0, retry_after="0.4")
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        await asyncio.sleep(seconds)

    models = {"llama": ("fast", Model(OpenAIBackend(url, "llama", timeout=CALL_TIMEOUT)))}
    policy = parse_policy({"jsonGuard": {"maxRetries": 2, "backoffBase": 0.01, "jitter": 0.0}})
    ensemble = Ensemble(
        models,  # type: ignore[arg-type]
        from_policy(policy),
        ServingMetrics("r", "canary"),
        DEADLINE,
        sleep=sleep,
    )
    answer = asyncio.run(ensemble.brief(BriefRequest(prompt="x", mode="fast")))
    assert answer.fallback
    assert waits == [0.4, 0.4]
    assert _metric(ensemble, "llm_upstream_errors_total", model="llama", kind="rate_limited") == 3
