"""A model call that got no usable answer: what kind of failure, and whether to try again.

Every production LLM gateway retries transient upstream failures (5xx, timeouts, dropped
connections, 429) before failing a user; a 4xx other than 429 is our own request's fault
and asking again would only repeat it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Literal, get_args

Kind = Literal[
    "server_error", "timeout", "connection", "rate_limited", "bad_response", "client_error",
    "crash",
]  # fmt: skip
KINDS: tuple[Kind, ...] = get_args(Kind)
#: A 4xx (but 429) says our request is wrong; a crash is a bug in the replica: neither passes
#: with time, so neither is asked again (both still count against the model's breaker).
RETRYABLE: frozenset[Kind] = frozenset(KINDS) - {"client_error", "crash"}
#: No Retry-After beyond this is honoured: the request's deadline decides past it anyway.
MAX_RETRY_AFTER = 60.0


class UpstreamError(Exception):
    """The model did not answer. Pickles as it is (its args are its fields), so it crosses
    Ray's process boundary intact."""

    def __init__(self, kind: Kind, detail: str = "", retry_after: float | None = None) -> None:
        super().__init__(kind, detail, retry_after)
        self.kind, self.detail, self.retry_after = kind, detail, retry_after

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE

    def __str__(self) -> str:
        return f"{self.kind}: {self.detail}" if self.detail else self.kind


def status_kind(status: int) -> Kind:
    """The kind of an HTTP error status from a model server."""
    if status == 429:
        return "rate_limited"
    return "server_error" if status >= 500 else "client_error"


def retry_after(header: str | None, now: datetime | None = None) -> float | None:
    """Seconds a ``Retry-After`` header asks for (delta-seconds or an HTTP date), capped;
    None when absent or unreadable."""
    if not header or not header.strip():
        return None
    value = header.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)
