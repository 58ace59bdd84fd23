"""JSON hard guard: a model's text becomes a schema-valid brief, or a marked fallback.

Whatever string a model returns, :func:`check` never raises. :func:`guarded` asks the model
again on a parse or schema failure or a transient upstream failure, with exponential
backoff and jitter (tenacity), up to ``maxRetries`` times; then it returns the fallback brief
marked ``error: true`` (or nothing, with ``fallbackEnabled: false``), or raises the upstream
failure for the ensemble to try the next mode.
"""

from __future__ import annotations

import asyncio
import json
import re
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import ValidationError
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, wait_exponential_jitter

from fragrance_serving.brief import FAMILIES, NOTES, Brief, fallback_brief
from fragrance_serving.guards.upstream import UpstreamError

_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.IGNORECASE)
_LONGEVITY = {"short": "short", "medium": "medium", "moderate": "medium", "long": "long"}


@dataclass(frozen=True)
class GuardSettings:
    enabled: bool = True
    max_retries: int = 3
    backoff_base: float = 1.0
    jitter: float = 0.5
    fallback_enabled: bool = True
    strict_schema: bool = True
    max_answer_chars: int = 8192


#: Why the guard refused an answer; each is counted (llm_guard_refusals_total{reason}).
Refusal = Literal["too_long", "parse", "schema", "type", "blank", "control", "unknown_term"]


@dataclass(frozen=True)
class Checked:
    brief: Brief | None
    fixes: int = 0  # repairs applied (code fences, stray text, case, clamping)
    error: Refusal | None = None  # why, when brief is None
    detail: str = ""


@dataclass
class Outcome:
    brief: Brief | None
    retries: int = 0
    parse_failures: int = 0
    schema_failures: int = 0
    fixes: int = 0
    fallback: bool = False
    errors: list[str] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)


def _extract(text: str) -> tuple[str, int]:
    """The JSON object inside ``text``: fences and chatter around it are common repairs."""
    fixes = 0
    stripped = _FENCE.sub("", text.strip())
    if stripped != text.strip():
        fixes += 1
    start, end = stripped.find("{"), stripped.rfind("}")
    if start > 0 or (end != -1 and end < len(stripped) - 1):
        fixes += 1
    if start != -1 and end > start:
        stripped = stripped[start : end + 1]
    return stripped, fixes


def _repair(data: dict[str, Any], strict: bool) -> int:
    """Harmless normalisations of words a strict schema would otherwise refuse (case,
    spacing, duplicates, a synonym); returns how many. Types are never coerced when strict."""
    fixes = 0
    longevity = data.get("longevity")
    if isinstance(longevity, str) and longevity.strip().lower() in _LONGEVITY:
        fixed = _LONGEVITY[longevity.strip().lower()]
        fixes += fixed != longevity
        data["longevity"] = fixed
    for key in ("notes", "families"):
        items = data.get(key)
        if isinstance(items, list) and all(isinstance(i, str) for i in items):
            cleaned = list(dict.fromkeys(i.strip().lower() for i in items if i.strip()))
            fixes += cleaned != items
            data[key] = cleaned
    intensity = data.get("intensity")
    if not strict and isinstance(intensity, float) and intensity.is_integer():
        data["intensity"] = int(intensity)
        fixes += 1
    return fixes


def _strings(value: Any) -> list[str]:
    """Every string in a parsed answer, keys included."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for key, item in value.items() for s in (*_strings(key), *_strings(item))]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []


def _unprintable(text: str) -> str | None:
    """The first control (Cc) or format (Cf: bidi overrides, zero-width) character, if any."""
    return next((c for c in text if unicodedata.category(c) in ("Cc", "Cf")), None)


def _strict_refusal(data: dict[str, Any]) -> Checked | None:
    for text in _strings(data):
        if not text.strip():
            return Checked(None, 0, "blank", "a blank or whitespace-only string")
        found = _unprintable(text)
        if found is not None:
            name = unicodedata.name(found, f"U+{ord(found):04X}")
            return Checked(None, 0, "control", f"a control or format character ({name})")
    return None


def check(text: str, strict: bool = True, max_chars: int = 8192) -> Checked:
    """Parse and validate one answer. Never raises, whatever ``text`` holds.

    Strict: only an exact brief passes. No type is coerced (a JSON ``true``, ``"60"`` or
    ``60.0`` is not an integer), no string is blank, none holds a control or Unicode format
    character, and every note and family is a known one."""
    if len(text) > max_chars:
        return Checked(None, error="too_long", detail=f"{len(text)} characters > {max_chars}")
    try:
        candidate, fixes = _extract(text)
        data = json.loads(candidate)
    except (ValueError, RecursionError) as error:
        return Checked(None, error="parse", detail=type(error).__name__)
    if not isinstance(data, dict):
        return Checked(None, error="schema", detail="not a JSON object")
    if strict and (refused := _strict_refusal(data)) is not None:
        return Checked(None, fixes, refused.error, refused.detail)
    fixes += _repair(data, strict)
    if data.get("error") is True:
        return Checked(None, fixes, "schema", "the model may not mark its own brief as an error")
    try:
        brief = Brief.model_validate(data, strict=strict)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "brief"
        kind: Refusal = "type" if first["type"].endswith("_type") else "schema"
        return Checked(None, fixes, kind, f"{where}: {first['msg']}")
    except (ValueError, TypeError) as error:
        return Checked(None, fixes, "schema", str(error)[:200])
    if strict:
        unknown = [n for n in brief.notes if n not in NOTES] + [
            f for f in brief.families if f not in FAMILIES
        ]
        if unknown:
            return Checked(None, fixes, "unknown_term", f"unknown notes or families: {unknown[:3]}")
    return Checked(brief, fixes)


class BadAnswer(Exception):
    """One answer failed the guard: asked again, like a transient upstream failure."""


def _retryable(error: BaseException) -> bool:
    return isinstance(error, BadAnswer) or (isinstance(error, UpstreamError) and error.retryable)


async def guarded(
    generate: Callable[[int], Awaitable[str]],
    settings: GuardSettings,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    remaining: Callable[[], float] | None = None,
) -> Outcome:
    """Ask, check, ask again with backoff and jitter.

    A bad answer and a retryable :class:`UpstreamError` raised by ``generate(attempt)`` each
    spend one attempt of the same budget; a 429's ``Retry-After`` lengthens its wait. No
    wait outlasts ``remaining()`` (the request's time left). When the attempts or the time
    are spent on bad answers the outcome is the marked fallback (or no brief); when the last
    attempt was an upstream failure, that failure is raised for the caller to downshift.
    Anything else ``generate`` raises is raised at once.
    """
    outcome = Outcome(None)
    attempts = 1 + (settings.max_retries if settings.enabled else 0)
    backoff = wait_exponential_jitter(multiplier=settings.backoff_base, jitter=settings.jitter)

    def wait(state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        hinted = error.retry_after if isinstance(error, UpstreamError) else None
        return max(backoff(state), hinted or 0.0)

    def stop(state: RetryCallState) -> bool:
        out_of_time = remaining is not None and remaining() <= state.upcoming_sleep
        return state.attempt_number >= attempts or out_of_time

    retrying = AsyncRetrying(
        stop=stop, wait=wait, retry=retry_if_exception(_retryable), sleep=sleep, reraise=True
    )
    try:
        async for attempt in retrying:
            with attempt:
                number = attempt.retry_state.attempt_number - 1
                outcome.retries = number
                text = await generate(number)
                result = (
                    check(text, settings.strict_schema, settings.max_answer_chars)
                    if settings.enabled
                    else _lenient(text, settings.max_answer_chars)
                )
                outcome.fixes += result.fixes
                if result.brief is None:
                    outcome.errors.append(f"{result.error}: {result.detail}")
                    if result.error is not None:
                        outcome.refusals.append(result.error)
                    if result.error == "parse":
                        outcome.parse_failures += 1
                    else:
                        outcome.schema_failures += 1
                    raise BadAnswer(result.detail)
                outcome.brief = result.brief
    except BadAnswer:
        if settings.fallback_enabled:
            outcome.brief, outcome.fallback = fallback_brief(), True
    return outcome


def _lenient(text: str, max_chars: int) -> Checked:
    """Guard disabled: still only a valid brief can be returned, but with no retries."""
    return check(text, strict=False, max_chars=max_chars)
