"""Circuit breaker per model: failure RATE over a sliding window, with half-open trials.

The rate is over the last ``windowSize`` calls and needs ``minimumCalls`` first (a count
that never resets would open on one failure out of one). Open -> half-open after
``timeoutSeconds``; half-open admits ``halfOpenRequests`` trial calls at a time and closes
after ``successThreshold`` successes; one failed trial opens it again. State values match
``circuit_breaker_state``.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum


class State(IntEnum):
    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


@dataclass(frozen=True)
class BreakerSettings:
    failure_threshold: float = 0.5
    success_threshold: int = 5
    timeout_seconds: float = 60.0
    half_open_requests: int = 3
    window_size: int = 100
    minimum_calls: int = 20
    enabled: bool = True


class Breaker:
    def __init__(
        self, settings: BreakerSettings, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.settings, self.clock = settings, clock
        self._lock = threading.Lock()
        self._state = State.CLOSED
        self._window: deque[bool] = deque(maxlen=settings.window_size)
        self._opened_at = 0.0
        self._trials = 0  # trial calls in flight while half-open
        self._successes = 0
        self.opened_count = 0

    @property
    def state(self) -> State:
        with self._lock:
            self._maybe_half_open()
            return self._state

    @property
    def failure_rate(self) -> float:
        with self._lock:
            return self._rate()

    def _rate(self) -> float:
        return self._window.count(False) / len(self._window) if self._window else 0.0

    def _maybe_half_open(self) -> None:
        if (
            self._state is State.OPEN
            and self.clock() - self._opened_at >= self.settings.timeout_seconds
        ):
            self._state, self._trials, self._successes = State.HALF_OPEN, 0, 0

    def allow(self) -> bool:
        """May a call go through now? A True in half-open takes one trial slot."""
        if not self.settings.enabled:
            return True
        with self._lock:
            self._maybe_half_open()
            if self._state is State.CLOSED:
                return True
            if self._state is State.HALF_OPEN and self._trials < self.settings.half_open_requests:
                self._trials += 1
                return True
            return False

    def record(self, success: bool) -> None:
        """The outcome of a call that :meth:`allow` let through."""
        if not self.settings.enabled:
            return
        with self._lock:
            if self._state is State.HALF_OPEN:
                self._trials = max(self._trials - 1, 0)
                if not success:
                    self._open()
                    return
                self._successes += 1
                if self._successes >= self.settings.success_threshold:
                    self._state = State.CLOSED
                    self._window.clear()
                return
            if self._state is State.OPEN:
                return  # a call admitted before it opened: the breaker already decided
            self._window.append(success)
            if (
                len(self._window) >= self.settings.minimum_calls
                and self._rate() >= self.settings.failure_threshold
            ):
                self._open()

    def _open(self) -> None:
        self._state, self._opened_at = State.OPEN, self.clock()
        self._trials = self._successes = 0
        self.opened_count += 1

    def reconfigure(self, settings: BreakerSettings) -> None:
        """New thresholds apply from the next call; the window keeps what it saw."""
        with self._lock:
            self.settings = settings
            recent = list(self._window)[-settings.window_size :]
            self._window = deque(recent, maxlen=settings.window_size)
