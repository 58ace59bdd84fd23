"""An OpenAI-compatible chat-completions server on 127.0.0.1 that fails a share of calls.

What an LLM backend does on a bad day: HTTP 500, a call that hangs past the client's
timeout, 429 with ``Retry-After``, and, when it answers, sometimes text that is not the
JSON asked for. Each call draws its fate from the server's ``plan`` (one share per fate, per
served model name), so a test sets exactly how unreliable each model is.
"""

from __future__ import annotations

import json
import random
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from fragrance_serving.brief import FAMILIES, NOTES

FATES = ("error500", "timeout", "rate_limited", "malformed")


@dataclass
class Plan:
    """Shares of calls (0..1) that meet each fate; the rest answer a valid brief."""

    error500: float = 0.0
    timeout: float = 0.0
    rate_limited: float = 0.0
    malformed: float = 0.0
    hang_seconds: float = 30.0  # how long a "timeout" call holds the connection
    retry_after: str = "1"

    def draw(self, roll: float) -> str:
        edge = 0.0
        for fate in FATES:
            edge += getattr(self, fate)
            if roll < edge:
                return fate
        return "ok"


@dataclass
class FakeOpenAI:
    plans: dict[str, Plan] = field(default_factory=dict)
    default: Plan = field(default_factory=Plan)
    calls: Counter[tuple[str, str]] = field(default_factory=Counter)  # (model, fate)
    seed: int = 7

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def fate(self, model: str) -> tuple[str, Plan]:
        plan = self.plans.get(model, self.default)
        with self._lock:
            fate = plan.draw(self._random.random())
            self.calls[(model, fate)] += 1
        return fate, plan

    def answer(self, model: str) -> str:
        with self._lock:
            notes = self._random.sample(NOTES, 3)
            families = self._random.sample(FAMILIES, 1)
            intensity = self._random.randint(10, 90)
        return json.dumps(
            {
                "description": f"A {families[0]} scent from {model}.",
                "notes": notes,
                "families": families,
                "intensity": intensity,
                "longevity": "long",
            }
        )

    def failed(self, model: str) -> int:
        return sum(n for (m, fate), n in self.calls.items() if m == model and fate != "ok")

    def total(self, model: str | None = None) -> int:
        return sum(n for (m, _), n in self.calls.items() if model in (None, m))


def _handler(fake: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            model = str(body.get("model", "?"))
            fate, plan = fake.fate(model)
            if fate == "timeout":
                fake._stop.wait(plan.hang_seconds)
                self._send(504, {"error": "hung"})
            elif fate == "error500":
                self._send(500, {"error": {"message": "internal error"}})
            elif fate == "rate_limited":
                self._send(429, {"error": {"message": "slow down"}}, plan.retry_after)
            else:
                content = fake.answer(model)
                if fate == "malformed":
                    content = "Sure! Here is your brief: {notes: [musk" + content[:20]
                choice = {"index": 0, "message": {"role": "assistant", "content": content}}
                self._send(200, {"id": "x", "object": "chat.completion", "choices": [choice]})

        def _send(self, status: int, payload: object, retry_after: str | None = None) -> None:
            data = json.dumps(payload).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if retry_after is not None:
                    self.send_header("Retry-After", retry_after)
                self.end_headers()
                self.wfile.write(data)
            except OSError:
                pass  # the client gave up on a hung call first

        def log_message(self, *args: object) -> None:
            pass

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # the default 5 drops concurrent connects: a second's SYN retry


@contextmanager
def serve_fake(fake: FakeOpenAI) -> Iterator[str]:
    """Serve ``fake``; yields its base URL (``.../v1``)."""
    server = _Server(("127.0.0.1", 0), _handler(fake))
    thread = threading.Thread(target=server.serve_forever, daemon=True, name="fake-openai")
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        fake._stop.set()  # hung calls return now
        server.shutdown()
        server.server_close()
