"""A steady synthetic client: it counts every request, by track, and what was lost.

Lost means no answer at all (a connection error or timeout) or the router naming a route
that does not exist (404): the failures a weight change must never cause. A 5xx from a
faulty canary is an answer, counted as an error of that track.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx

from fragrance_api.headers import TRACK_HEADER, VERSION_HEADER
from fragrance_api.modes import MODES

PROMPTS = [
    f"a {mood} {accord} scent for {occasion}"
    for mood in ("bright", "calm", "bold", "soft")
    for accord in ("citrus", "woody", "floral", "spicy")
    for occasion in ("the office", "evening parties")
]
#: Real traffic repeats itself: three requests in four ask one of these, so a fresh canary's
#: cache warms within a few requests per mode instead of one per distinct prompt.
HOT = PROMPTS[:4]


def request_body(worker: int, n: int) -> dict[str, str]:
    """The n-th request of a worker: modes in turn, mostly hot prompts, a long tail."""
    mode = MODES[(worker + n) % len(MODES)]
    prompt = PROMPTS[(worker * 7 + n) % len(PROMPTS)] if n % 4 == 0 else HOT[n // 4 % len(HOT)]
    return {"prompt": prompt, "mode": mode}


@dataclass
class Sample:
    at: float
    status: int  # 0: no answer
    track: str
    mode: str
    seconds: float
    version: str = "?"  # the release version that answered (its pods' header)


@dataclass
class Counts:
    sent: int = 0
    lost: int = 0
    by_track: Counter[tuple[str, int]] = field(default_factory=Counter)

    @property
    def failed(self) -> int:
        """Requests answered with anything but a 200, or not at all."""
        return sum(n for (_, status), n in self.by_track.items() if status != 200)


class Client:
    def __init__(
        self,
        url: str,
        rate: float = 25.0,
        workers: int = 6,
        host: str | None = None,
        pin: str | None = None,
    ) -> None:
        """``pin``: a track every request asks for (``X-Fragrance-Track``)."""
        self.url, self.rate, self.workers = url, rate, workers
        # A Gateway routes on the Host header: the route's hostname, not the listener's address.
        self.headers = {"Host": host} if host else {}
        if pin:
            self.headers[TRACK_HEADER] = pin
        self.samples: list[Sample] = []
        self.counts = Counts()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for index in range(self.workers):
            thread = threading.Thread(target=self._work, args=(index,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=70)

    def _work(self, index: int) -> None:
        period = self.workers / self.rate
        n = 0
        with httpx.Client(timeout=60, headers=self.headers) as http:
            while not self._stop.is_set():
                started = time.time()
                body = request_body(index, n)
                mode = body["mode"]
                n += 1
                try:
                    answer = http.post(self.url, json=body)
                    status, track = answer.status_code, answer.headers.get(TRACK_HEADER, "?")
                    version = answer.headers.get(VERSION_HEADER, "?")
                except httpx.HTTPError:
                    status, track, version = 0, "?", "?"
                elapsed = time.time() - started
                with self._lock:
                    self.counts.sent += 1
                    if status in (0, 404):
                        self.counts.lost += 1
                    # Behind a Gateway no router names the track: the version says the side.
                    self.counts.by_track[(track if track != "?" else version, status)] += 1
                    self.samples.append(Sample(started, status, track, mode, elapsed, version))
                self._stop.wait(max(period - elapsed, 0))
