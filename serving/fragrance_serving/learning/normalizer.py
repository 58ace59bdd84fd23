"""Reward normalisation over a rolling window of the last ``windowSize`` rewards, clipped."""

from __future__ import annotations

import math
from collections import deque

EPSILON = 1e-8
# A variance below this share of the largest mean square the sums have held since they were
# last computed is mostly rounding (a large reward left the window): the sums are recomputed
# from the window, about its mean.
CANCELLATION = 1e-6


class RewardNormalizer:
    def __init__(self, window_size: int = 1000, clip: float = 1.0, enabled: bool = True) -> None:
        self.window: deque[float] = deque(maxlen=window_size)
        self.clip, self.enabled = clip, enabled
        # Running sums over the window of (reward - shift): O(1) per reward instead of a pass
        # over it; shifted by the window's mean when last recomputed, so rewards that barely
        # differ keep their variance instead of losing it to rounding.
        self._shift = 0.0
        self._sum = 0.0
        self._squares = 0.0
        self._peak = 0.0  # the largest _squares since the last recompute

    def observe(self, reward: float) -> None:
        if len(self.window) == self.window.maxlen:
            old = self.window[0] - self._shift
            self._sum -= old
            self._squares -= old * old
        self.window.append(reward)
        shifted = reward - self._shift
        self._sum += shifted
        self._squares += shifted * shifted
        self._peak = max(self._peak, self._squares)

    @property
    def mean(self) -> float:
        return self._shift + self._sum / len(self.window) if self.window else 0.0

    @property
    def std(self) -> float:
        n = len(self.window)
        if n < 2:
            return 1.0
        variance = self._squares / n - (self._sum / n) ** 2
        if variance < CANCELLATION * (self._peak / n):
            self._shift = math.fsum(self.window) / n
            self._sum = math.fsum(x - self._shift for x in self.window)
            self._squares = math.fsum((x - self._shift) ** 2 for x in self.window)
            self._peak = self._squares
            variance = self._squares / n - (self._sum / n) ** 2
        return math.sqrt(max(variance, 0.0))

    def normalize(self, reward: float) -> float:
        """Observe ``reward``, then return it normalised and clipped to [-clip, clip]."""
        self.observe(reward)
        if not self.enabled:
            return reward
        value = (reward - self.mean) / (self.std + EPSILON)
        return max(-self.clip, min(self.clip, value))

    def state(self) -> dict[str, object]:
        return {"window": list(self.window), "clip": self.clip, "enabled": self.enabled}

    def restore(self, state: dict[str, object]) -> None:
        values = state.get("window") or []
        assert isinstance(values, list)
        self.window.clear()
        self._shift = self._sum = self._squares = self._peak = 0.0
        for value in values:
            self.observe(float(value))
