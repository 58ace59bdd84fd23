"""Mode routing: the caller's mode, else the traffic distribution; measured over a window.

Assignment is smooth weighted round-robin (nginx's algorithm): deterministic, and over any
100 consecutive assignments with weights 60/30/10 it hands out exactly 60, 30 and 10, so
the measured distribution converges without the variance of random draws. A forced mode
(``/admin/mode``) overrides the distribution until cleared.
"""

from __future__ import annotations

import threading
from collections import Counter, deque

from fragrance_api.modes import MODES, Mode
from fragrance_serving.brief import DOWNSHIFT


class ModeRouter:
    def __init__(self, weights: dict[Mode, int], window: int = 1000) -> None:
        self._lock = threading.Lock()
        self._weights = dict(weights)
        self._current: dict[Mode, int] = dict.fromkeys(MODES, 0)
        self._served: deque[Mode] = deque(maxlen=window)
        self.forced: Mode | None = None
        self.downshifts: Counter[tuple[Mode, Mode]] = Counter()

    @property
    def weights(self) -> dict[Mode, int]:
        return dict(self._weights)

    def set_weights(self, weights: dict[Mode, int]) -> None:
        with self._lock:
            if weights != self._weights:
                self._weights = dict(weights)
                self._current = dict.fromkeys(MODES, 0)

    def choose(self, requested: Mode | None = None) -> Mode:
        if requested is not None:
            return requested
        if self.forced is not None:
            return self.forced
        with self._lock:
            total = sum(self._weights.values())
            if total <= 0:
                return "fast"
            for mode in MODES:
                self._current[mode] += self._weights.get(mode, 0)
            best = max(MODES, key=lambda m: self._current[m])
            self._current[best] -= total
            return best

    def served(self, mode: Mode) -> None:
        """Record the mode that answered (after any downshift)."""
        with self._lock:
            self._served.append(mode)

    def downshifted(self, source: Mode, target: Mode) -> None:
        with self._lock:
            self.downshifts[(source, target)] += 1

    def measured(self) -> dict[Mode, float]:
        """Percent of the last ``window`` answers per mode (zeros before any)."""
        with self._lock:
            counts = Counter(self._served)
            total = len(self._served)
        return {m: (100.0 * counts[m] / total if total else 0.0) for m in MODES}

    def deviation(self) -> float:
        """Largest gap, in percentage points, between measured and target."""
        measured = self.measured()
        total = sum(self._weights.values()) or 1
        return max(abs(measured[m] - 100.0 * self._weights.get(m, 0) / total) for m in MODES)


def downshift_path(mode: Mode) -> list[Mode]:
    """``mode`` then the cheaper modes it may fall back to: creative -> balanced -> fast."""
    path: list[Mode] = [mode]
    while (following := DOWNSHIFT[path[-1]]) is not None:
        path.append(following)
    return path
