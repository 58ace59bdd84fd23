"""The circuit breaker state machine with an injected clock."""

from __future__ import annotations

import random

from fragrance_serving.guards.breaker import Breaker, BreakerSettings, State


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


SETTINGS = BreakerSettings(
    failure_threshold=0.5,
    success_threshold=2,
    timeout_seconds=60,
    half_open_requests=1,
    window_size=10,
    minimum_calls=4,
)


def _calls(breaker: Breaker, outcomes: str) -> None:
    for outcome in outcomes:
        assert breaker.allow()
        breaker.record(outcome == "s")


def test_opens_on_the_failure_rate_only_after_minimum_calls() -> None:
    breaker = Breaker(SETTINGS, Clock())
    _calls(breaker, "fff")
    assert breaker.state is State.CLOSED, "3 calls < minimumCalls 4"
    _calls(breaker, "f")
    assert breaker.state is State.OPEN
    assert not breaker.allow()


def test_a_rate_below_the_threshold_stays_closed() -> None:
    breaker = Breaker(SETTINGS, Clock())
    _calls(breaker, "sfssfssfss")  # 30%
    assert breaker.state is State.CLOSED


def test_the_window_slides() -> None:
    breaker = Breaker(SETTINGS, Clock())
    _calls(breaker, "ffff" if False else "ssssssssss")
    _calls(breaker, "ffff")  # 4 of the last 10
    assert breaker.state is State.CLOSED
    _calls(breaker, "f")  # 5 of the last 10
    assert breaker.state is State.OPEN


def test_half_open_after_timeout_admits_limited_trials_and_closes_on_successes() -> None:
    clock = Clock()
    breaker = Breaker(SETTINGS, clock)
    _calls(breaker, "ffff")
    clock.now = 59.9
    assert breaker.state is State.OPEN
    clock.now = 60
    assert breaker.state is State.HALF_OPEN
    assert breaker.allow()
    assert not breaker.allow(), "one trial at a time"
    breaker.record(True)
    assert breaker.state is State.HALF_OPEN
    assert breaker.allow()
    breaker.record(True)
    assert breaker.state is State.CLOSED
    assert breaker.failure_rate == 0


def test_a_failed_trial_opens_again_and_restarts_the_timeout() -> None:
    clock = Clock()
    breaker = Breaker(SETTINGS, clock)
    _calls(breaker, "ffff")
    clock.now = 60
    assert breaker.allow()
    breaker.record(False)
    assert breaker.state is State.OPEN
    clock.now = 119
    assert breaker.state is State.OPEN
    clock.now = 120
    assert breaker.state is State.HALF_OPEN
    assert breaker.opened_count == 2


def test_disabled_never_opens_and_reconfigure_takes_new_thresholds() -> None:
    off = Breaker(BreakerSettings(enabled=False), Clock())
    _calls(off, "f" * 50)
    assert off.state is State.CLOSED
    breaker = Breaker(SETTINGS, Clock())
    _calls(breaker, "sssf")
    breaker.reconfigure(BreakerSettings(failure_threshold=0.2, minimum_calls=4, window_size=10))
    _calls(breaker, "s")
    assert breaker.state is State.OPEN, "1 of 5 = 20% under the new threshold"


def test_the_default_window_does_not_open_on_a_steady_minority_of_failures() -> None:
    # 20% of calls failing at random; 20-call windows at 50% opened this in CI.
    rng = random.Random(11)
    for _ in range(20):
        breaker = Breaker(BreakerSettings(), Clock())
        for _ in range(750):
            assert breaker.allow()
            breaker.record(rng.random() >= 0.2)
        assert breaker.opened_count == 0


def test_the_default_window_opens_on_a_dead_model_within_minimum_calls() -> None:
    breaker = Breaker(BreakerSettings(), Clock())
    _calls(breaker, "f" * (BreakerSettings().minimum_calls - 1))
    assert breaker.state is State.CLOSED
    _calls(breaker, "f")
    assert breaker.state is State.OPEN
