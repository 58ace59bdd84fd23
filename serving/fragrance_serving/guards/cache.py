"""LRU+TTL brief cache keyed by the normalised request and its mode.

cachetools' ``TTLCache`` gives least-recently-used eviction and per-entry expiry with an
injectable timer: an expired entry is never returned. A periodic :meth:`cleanup` sweeps
expired entries (the ensemble runs it every ``cleanupIntervalSeconds``). Stats per mode.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from cachetools import TTLCache

_SPACE = re.compile(r"\s+")


def normalise(prompt: str) -> str:
    return _SPACE.sub(" ", prompt).strip().lower()


class BriefCache:
    def __init__(
        self,
        max_size: int = 1000,
        ttl_seconds: float = 600,
        clock: Callable[[], float] = time.monotonic,
        enabled: bool = True,
    ) -> None:
        self.clock, self.enabled = clock, enabled
        self._lock = threading.Lock()
        self._entries: TTLCache[tuple[str, str], Any] = TTLCache(max_size, ttl_seconds, clock)
        self.hits: Counter[str] = Counter()
        self.misses: Counter[str] = Counter()
        self.expired_swept = 0

    @property
    def ttl(self) -> float:
        return float(self._entries.ttl)

    @property
    def max_size(self) -> int:
        return int(self._entries.maxsize)

    def get(self, prompt: str, mode: str) -> Any | None:
        if not self.enabled:
            return None
        with self._lock:
            found = self._entries.get((mode, normalise(prompt)))
            (self.hits if found is not None else self.misses)[mode] += 1
            return found

    def put(self, prompt: str, mode: str, value: Any) -> None:
        if self.enabled:
            with self._lock:
                self._entries[(mode, normalise(prompt))] = value

    def cleanup(self) -> int:
        """Drop expired entries now; returns how many went."""
        with self._lock:
            swept = len(self._entries.expire())
            self.expired_swept += swept
            return swept

    def resize(self, max_size: int, ttl_seconds: float, enabled: bool = True) -> None:
        """Live reconfiguration. A new TTL empties the cache: no entry outlives its TTL."""
        with self._lock:
            self.enabled = enabled
            if (max_size, ttl_seconds) == (self.max_size, self.ttl):
                return
            keep = ttl_seconds == self.ttl
            old = list(self._entries.items()) if keep else []
            self._entries = TTLCache(max_size, ttl_seconds, self.clock)
            for key, value in old[-max_size:]:
                self._entries[key] = value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def hit_rate(self, mode: str) -> float | None:
        total = self.hits[mode] + self.misses[mode]
        return self.hits[mode] / total if total else None

    def stats(self) -> dict[str, Any]:
        modes = sorted(set(self.hits) | set(self.misses))
        return {
            "enabled": self.enabled,
            "size": len(self._entries),
            "maxSize": self.max_size,
            "ttlSeconds": self.ttl,
            "expiredSwept": self.expired_swept,
            "modes": {
                m: {"hits": self.hits[m], "misses": self.misses[m], "hitRate": self.hit_rate(m)}
                for m in modes
            },
        }
