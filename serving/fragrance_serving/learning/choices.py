"""The learner's choices for real briefs, waiting for their rating.

A brief's answer carries the formula the learner chose for it; the choice (the brief's family
and intensity, the actions and their log-probabilities under the policy that served them)
waits here under the brief's id until ``POST /v1/feedback`` rates it. A choice is rated once:
a second rating is refused, as is a rating for an id this book never issued, one that expired
or one evicted to make room. Bounded: the oldest pending choices make room for new ones, so a
flood of briefs nobody rates holds ``capacity`` choices at most. Kept in a file beside the
checkpoints, written atomically by the trainer between iterations: a replica restart loses at
most the choices and ratings of its last pause.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import Any, Literal

FORMAT = 1


@dataclass(frozen=True)
class Choice:
    family: int
    intensity: float
    actions: tuple[int, ...]
    logprobs: tuple[float, ...]
    made: float  # seconds since the epoch

    @classmethod
    def parse(cls, row: list[Any]) -> Choice:
        family, intensity, actions, logprobs, made = row
        return cls(int(family), float(intensity), tuple(actions), tuple(logprobs), float(made))


@dataclass(frozen=True)
class Rated:
    choice: Choice
    rating: float


class Refused(Exception):
    """A rating the book will not take: ``unknown`` (404) or ``rated`` already (409)."""

    def __init__(self, reason: Literal["unknown", "rated"], message: str) -> None:
        super().__init__(message)
        self.reason, self.message = reason, message


class ChoiceBook:
    def __init__(
        self,
        path: Path | None,
        capacity: int = 4096,
        ttl_seconds: float = 24 * 3600,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path, self.capacity, self.ttl, self.clock = path, capacity, ttl_seconds, clock
        self._pending: OrderedDict[str, Choice] = OrderedDict()
        # Ids already rated, so a second rating is told so rather than "unknown".
        self._rated: OrderedDict[str, None] = OrderedDict()
        self._ready: deque[Rated] = deque(maxlen=capacity)
        self._lock = threading.Lock()
        self._dirty = False
        self.note = self._load()

    def add(self, brief_id: str, choice: Choice) -> None:
        with self._lock:
            self._expire()
            self._pending[brief_id] = choice
            while len(self._pending) > self.capacity:
                self._pending.popitem(last=False)
            self._dirty = True

    def rate(self, brief_id: str, rating: float) -> Rated:
        with self._lock:
            self._expire()
            if brief_id in self._rated:
                raise Refused("rated", f"briefId: brief {brief_id} was already rated")
            choice = self._pending.pop(brief_id, None)
            if choice is None:
                raise Refused(
                    "unknown",
                    f"briefId: no brief {brief_id} is waiting for a rating here (never "
                    f"answered by this track, older than {self.ttl:.0f} s, or evicted by "
                    f"{self.capacity} newer ones)",
                )
            self._rated[brief_id] = None
            while len(self._rated) > self.capacity:
                self._rated.popitem(last=False)
            rated = Rated(choice, rating)
            self._ready.append(rated)
            self._dirty = True
            return rated

    def take(self, count: int) -> list[Rated]:
        """``count`` rated choices, oldest first, or none while fewer are ready."""
        with self._lock:
            if len(self._ready) < count:
                return []
            self._dirty = True
            return [self._ready.popleft() for _ in range(count)]

    def counts(self) -> tuple[int, int]:
        """(pending, rated and not yet learnt from)."""
        with self._lock:
            return len(self._pending), len(self._ready)

    def _expire(self) -> None:
        horizon = self.clock() - self.ttl
        while self._pending and next(iter(self._pending.values())).made < horizon:
            self._pending.popitem(last=False)

    def save(self) -> None:
        """Write the book if it changed: a temporary file, fsynced, renamed into place."""
        if self.path is None:
            return
        with self._lock:
            if not self._dirty:
                return
            body = {
                "format": FORMAT,
                "pending": [[i, *astuple(c)] for i, c in self._pending.items()],
                "rated": list(self._rated),
                "ready": [[*astuple(r.choice), r.rating] for r in self._ready],
            }
            self._dirty = False
        tmp = self.path.with_name(f".{self.path.name}.tmp-{os.getpid()}")
        with open(tmp, "w") as out:
            json.dump(body, out, separators=(",", ":"))
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.path)

    def _load(self) -> str:
        """Restore a saved book; say what happened (a bad file is skipped, not fatal)."""
        if self.path is None or not self.path.exists():
            return "no saved choices"
        try:
            body = json.loads(self.path.read_text())
            if body.get("format") != FORMAT:
                raise ValueError(f"format {body.get('format')!r}, expected {FORMAT}")
            for brief_id, *row in body["pending"]:
                self._pending[str(brief_id)] = Choice.parse(row)
            self._rated.update((str(i), None) for i in body["rated"])
            for *row, rating in body["ready"]:
                self._ready.append(Rated(Choice.parse(row), float(rating)))
        except (OSError, ValueError, KeyError, TypeError) as error:
            self._pending.clear()
            self._rated.clear()
            self._ready.clear()
            return f"skipped {self.path}: {error}"
        pending, ready = len(self._pending), len(self._ready)
        return f"restored {pending} pending and {ready} rated choices from {self.path.name}"
