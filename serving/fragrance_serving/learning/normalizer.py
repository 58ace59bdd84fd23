"""Reward normalisation over a rolling window of the last ``windowSize`` rewards, clipped."""

from __future__ import annotations

import math
from collections import deque

EPSILON = 1e-8


class RewardNormalizer:
    def __init__(self, window_size: int = 1000, clip: float = 1.0, enabled: bool = True) -> None:
        self.window: deque[float] = deque(maxlen=window_size)
        self.clip, self.enabled = clip, enabled
        # Running sums over the window: O(1) per reward instead of a pass over it.
        self._sum = 0.0
        self._squares = 0.0

    def observe(self, reward: float) -> None:
        if len(self.window) == self.window.maxlen:
            old = self.window[0]
            self._sum -= old
            self._squares -= old * old
        self.window.append(reward)
        self._sum += reward
        self._squares += reward * reward

    @property
    def mean(self) -> float:
        return self._sum / len(self.window) if self.window else 0.0

    @property
    def std(self) -> float:
        n = len(self.window)
        if n < 2:
            return 1.0
        variance = max(self._squares / n - self.mean**2, 0.0)
        return math.sqrt(variance)

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
        self._sum = self._squares = 0.0
        for value in values:
            self.observe(float(value))
