"""What the ensemble calls (a model client), and how a request or a health probe can end."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class ModelClient(Protocol):
    async def generate(self, prompt: str, attempt: int) -> str: ...

    async def health(self) -> float:
        """A real test generation; returns its latency in seconds or raises."""
        ...


class Unavailable(Exception):
    """No mode answered and fallback is disabled: the API says 503."""


class GuardFailed(Exception):
    """Every attempt failed and fallback is disabled: the API says 502."""


class BreakerOpen(Exception):
    """The model's breaker admits no call now."""


@dataclass(frozen=True)
class Health:
    model: str
    healthy: bool
    latency: float | None
    detail: str = ""
