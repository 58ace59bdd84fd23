"""What this operator last wrote where, to skip writing the same again.

A write is repeated once its resync is due, to repair what changed behind the operator's
back (an edit of a field it owns). At 1,000 releases a resync every 60 s for everyone was
a third of all requests the apiserver served in a rollout (40 a second: a Service applied
and an absent ConfigMap deleted, per release per minute), so it is spread over 5 to 10
minutes per object; an object the watches show missing is written again at once
(``missing``), and a deletion is not repeated: only this operator creates these names.
A new leader forgets everything (``clear``): another replica may have written since.
"""

from __future__ import annotations

import hashlib
import json
import time
import zlib
from typing import Any

RESYNC_SECONDS = 300.0
#: A watch may lag a write by this much before "not in the watch" means it went away.
WATCH_LAG_SECONDS = 30.0

Key = tuple[str, ...]


class WrittenCache:
    def __init__(self, resync: float = RESYNC_SECONDS) -> None:
        self.resync = resync
        self._written: dict[Key, tuple[str, float]] = {}  # key -> (fingerprint, when)

    @staticmethod
    def fingerprint(value: Any) -> str:
        return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()

    def _due(self, key: Key) -> float:
        """This key's resync, between one and two ``resync``: objects written together (a
        rollout to every release at once) are not all written again together."""
        spread = zlib.crc32(repr(key).encode()) / 0xFFFFFFFF
        return self.resync * (1.0 + spread)

    def fresh(self, key: Key, value: Any) -> bool:
        """Whether ``value`` was written at ``key`` and needs no writing yet (``None``: a
        deletion, which needs no repeating)."""
        found = self._written.get(key)
        if found is None or found[0] != self.fingerprint(value):
            return False
        return value is None or time.monotonic() - found[1] < self._due(key)

    def remember(self, key: Key, value: Any) -> None:
        self._written[key] = (self.fingerprint(value), time.monotonic())

    def seen(self, key: Key, value: Any) -> bool:
        """Whether ``value`` was written at ``key`` since this process started (any age)."""
        found = self._written.get(key)
        return found is not None and found[0] == self.fingerprint(value)

    def missing(self, key: Key, watched: bool) -> bool:
        """Whether an object written at ``key`` is gone: the watch (``watched``: whether it
        shows the object) has had time to show it, and does not."""
        found = self._written.get(key)
        return (
            not watched and found is not None and time.monotonic() - found[1] >= WATCH_LAG_SECONDS
        )

    def forget(self, key: Key) -> None:
        self._written.pop(key, None)

    def clear(self) -> None:
        self._written.clear()
