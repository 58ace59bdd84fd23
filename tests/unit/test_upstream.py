"""Upstream failures of a model call: their kinds, Retry-After, and how the guard retries them."""

from __future__ import annotations

import asyncio
import json
import pickle
from datetime import UTC, datetime

import pytest

from fragrance_serving.backends import ModelFailure
from fragrance_serving.guards.json_guard import GuardSettings, Outcome, guarded
from fragrance_serving.guards.upstream import UpstreamError, retry_after, status_kind

GOOD = json.dumps(
    {
        "description": "A bright citrus opening over soft woods.",
        "notes": ["bergamot", "cedar"],
        "families": ["citrus"],
        "intensity": 60,
        "longevity": "long",
    }
)
NOW = datetime(2026, 12, 2, 12, 0, 0, tzinfo=UTC)


def test_status_kinds() -> None:
    assert [status_kind(s) for s in (500, 503, 429, 400, 404)] == [
        "server_error", "server_error", "rate_limited", "client_error", "client_error",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("3", 3.0),
        ("0.5", 0.5),
        ("Wed, 02 Dec 2026 12:00:07 GMT", 7.0),
        ("Wed, 02 Dec 2026 11:59:00 GMT", 0.0),  # already past: no wait
        ("86400", 60.0),  # capped: the request's deadline decides past a minute anyway
        ("-4", 0.0),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after(header: str | None, seconds: float | None) -> None:
    assert retry_after(header, NOW) == seconds


def test_a_model_failure_crosses_a_process_boundary_intact() -> None:
    failure = pickle.loads(pickle.dumps(ModelFailure("rate_limited", "HTTP 429", 2.5)))
    assert isinstance(failure, UpstreamError)
    assert (failure.kind, failure.detail, failure.retry_after) == ("rate_limited", "HTTP 429", 2.5)
    assert str(failure) == "rate_limited: HTTP 429"


def _run(
    script: list[str | UpstreamError], remaining: float | None = None, **overrides: object
) -> tuple[Outcome | UpstreamError, list[float], int]:
    """``guarded`` over a model answering ``script`` in turn; (outcome or raised, waits, calls)."""
    waits: list[float] = []
    calls = 0

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    async def generate(attempt: int) -> str:
        nonlocal calls
        calls += 1
        step = script[min(attempt, len(script) - 1)]
        if isinstance(step, UpstreamError):
            raise step
        return step

    settings = GuardSettings(**{"backoff_base": 0.1, "jitter": 0.0, **overrides})  # type: ignore[arg-type]
    left = None if remaining is None else (lambda: remaining)
    try:
        result: Outcome | UpstreamError = asyncio.run(guarded(generate, settings, sleep, left))
    except UpstreamError as error:
        result = error
    return result, waits, calls


def test_an_upstream_error_is_asked_again_within_the_same_budget() -> None:
    outcome, waits, calls = _run([UpstreamError("server_error"), "garbage", GOOD])
    assert isinstance(outcome, Outcome)
    assert outcome.brief is not None
    assert not outcome.fallback
    assert (outcome.retries, calls, len(waits)) == (2, 3, 2)


def test_upstream_errors_to_the_last_attempt_are_raised_for_a_downshift() -> None:
    raised, _, calls = _run([UpstreamError("timeout")], max_retries=2)
    assert isinstance(raised, UpstreamError)
    assert (raised.kind, calls) == ("timeout", 3)


def test_a_bad_answer_last_still_gives_the_fallback() -> None:
    outcome, _, calls = _run([UpstreamError("connection"), "garbage"], max_retries=2)
    assert isinstance(outcome, Outcome)
    assert (outcome.fallback, calls) == (True, 3)


def test_retry_after_lengthens_the_wait() -> None:
    _, waits, _ = _run([UpstreamError("rate_limited", "429", 2.0), GOOD])
    assert waits == [2.0]


def test_no_wait_outlasts_the_time_left() -> None:
    raised, waits, calls = _run([UpstreamError("rate_limited", "429", 5.0), GOOD], remaining=3.0)
    assert isinstance(raised, UpstreamError)
    assert (waits, calls) == ([], 1)


@pytest.mark.parametrize("kind", ["client_error", "crash"])
def test_what_time_cannot_mend_is_not_asked_again(kind: str) -> None:
    raised, waits, calls = _run([UpstreamError(kind), GOOD])  # type: ignore[arg-type]
    assert isinstance(raised, UpstreamError)
    assert (waits, calls) == ([], 1)
