"""One brief request through the guards, independent of Ray and HTTP.

mode (caller's or the distribution's) -> cache -> for each mode of the downshift path
(creative -> balanced -> fast): the model's breaker -> model calls, each within the
request's deadline -> JSON hard guard (a bad answer or a transient upstream failure is asked
again with backoff, from one attempt budget). A mode whose breaker is open or whose attempts
ended on upstream failures hands the request to the next mode; only when no mode answered
does the caller get the marked fallback or a 503. Every step is counted in
:class:`ServingMetrics`.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fragrance_api.modes import CACHED_MODES, MODES, Mode
from fragrance_serving.brief import (
    BriefRequest,
    BriefResponse,
    DownshiftReason,
    fallback_brief,
)
from fragrance_serving.guards.breaker import Breaker
from fragrance_serving.guards.cache import BriefCache
from fragrance_serving.guards.json_guard import guarded
from fragrance_serving.guards.upstream import KINDS, UpstreamError
from fragrance_serving.metrics import ServingMetrics
from fragrance_serving.model_client import (
    BreakerOpen,
    GuardFailed,
    Health,
    ModelClient,
    Unavailable,
)
from fragrance_serving.routing import ModeRouter, downshift_path
from fragrance_serving.settings import ServingSettings

STATUSES = ("200", "500", "502", "503")  # what ``brief`` counts a request as


class Ensemble:
    def __init__(
        self,
        models: Mapping[str, tuple[Mode, ModelClient]],
        settings: ServingSettings,
        metrics: ServingMetrics,
        timeout: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.clients = {name: client for name, (_, client) in models.items()}
        self.mode_models: dict[Mode, str] = {mode: name for name, (mode, _) in models.items()}
        self.settings, self.metrics, self.sleep, self.clock = settings, metrics, sleep, clock
        self.timeout = timeout  # the whole request's, across retries and downshifts
        self.router = ModeRouter(settings.weights)
        self.cache = BriefCache(
            settings.cache_size, settings.cache_ttl, clock, enabled=settings.cache_enabled
        )
        self.breakers = {name: Breaker(settings.breaker_for(name), clock) for name in models}
        self.unloaded: set[str] = set()
        self._start_series()

    def _start_series(self) -> None:
        m = self.metrics
        for name in self.clients:
            self._breaker_gauge(name)
            # At 0 from the start: rate() never counts a series' first sample.
            m.upstream_retries.labels(**m.base, model=name)
            for kind in KINDS:
                m.upstream_errors.labels(**m.base, model=name, kind=kind)
        for mode in self.mode_models:
            # The gate's error ratios see a failing canary's first errors only if their
            # series already exist: every status this app answers with, at 0.
            for status in STATUSES:
                m.http.labels(**m.base, mode=mode, status=status)

    def retrack(self, track: str) -> None:
        """This application changed roles (a promotion): its series go on under ``track``.

        They start again from zero rather than carry the other track's counts: the canary's
        requests must not be read later as the stable's.
        """
        if track != self.metrics.base["track"]:
            self.metrics = ServingMetrics(self.metrics.base["release"], track)
            self._start_series()

    def reconfigure(self, settings: ServingSettings) -> None:
        """Live: new thresholds from the next request; nothing restarts, nothing is dropped."""
        self.settings = settings
        self.router.set_weights(settings.weights)
        self.cache.resize(settings.cache_size, settings.cache_ttl, settings.cache_enabled)
        for name, breaker in self.breakers.items():
            breaker.reconfigure(settings.breaker_for(name))

    async def brief(self, request: BriefRequest) -> BriefResponse:
        started = time.perf_counter()
        deadline = self.clock() + self.timeout
        requested = self.router.choose(request.mode)
        status, answered = "500", requested
        try:
            response = await self._answer(request, requested, deadline)
            status, answered = "200", response.mode
            return response
        except Unavailable:
            status = "503"
            raise
        except GuardFailed:
            status = "502"
            raise
        finally:
            m = self.metrics
            m.http.labels(**m.base, mode=answered, status=status).inc()
            m.duration.labels(**m.base, mode=answered).observe(time.perf_counter() - started)
            if status == "200":
                self.router.served(answered)

    async def _answer(
        self, request: BriefRequest, requested: Mode, deadline: float
    ) -> BriefResponse:
        m = self.metrics
        if requested in CACHED_MODES:
            cached: BriefResponse | None = self.cache.get(request.prompt, requested)
            (m.cache_hits if cached else m.cache_misses).labels(**m.base, mode=requested).inc()
            m.cache_hit_rate.labels(**m.base, mode=requested).set(
                self.cache.hit_rate(requested) or 0.0
            )
            if cached is not None:
                return cached.model_copy(update={"id": _new_id(), "cached": True})
        path = downshift_path(requested) if self.settings.auto_downshift else [requested]
        why: DownshiftReason | None = None
        failures: list[str] = []
        for mode in path:
            name = self.mode_models.get(mode)
            reason: DownshiftReason
            if name is None:
                reason = "noModel"
            elif name in self.unloaded:
                reason = "unloaded"
            elif self.clock() >= deadline:
                reason = "deadline"
            else:
                try:
                    response = await self._generate(request, requested, mode, name, deadline)
                except BreakerOpen:
                    reason = "breakerOpen"
                except UpstreamError as error:
                    reason = "upstreamErrors"
                    failures.append(f"{mode}: upstream {error.kind}")
                else:
                    if why is not None:
                        self.router.downshifted(requested, mode)
                        m.downshifts.labels(
                            **m.base, from_mode=requested, to_mode=mode, reason=why
                        ).inc()
                        response.downshift_reason = why
                    if mode in CACHED_MODES and not response.fallback:
                        self.cache.put(request.prompt, mode, response)
                    return response
            why = why or reason
            if reason != "upstreamErrors":
                failures.append(f"{mode}: {reason}")
        detail = "; ".join(failures) or "no model serves it"
        if self.settings.guard.fallback_enabled:
            return self._fallback(requested, detail)
        raise Unavailable(f"no mode could answer a {requested} request ({detail})")

    def _fallback(self, requested: Mode, detail: str) -> BriefResponse:
        """No mode answered: the marked fallback brief, counted as such."""
        m = self.metrics
        m.fallbacks.labels(**m.base).inc()
        m.briefs.labels(**m.base, result="unanswered").inc()
        return BriefResponse(
            id=_new_id(),
            brief=fallback_brief(),
            mode=requested,
            requested_mode=requested,
            model=self.mode_models.get(requested, ""),
            cached=False,
            retries=0,
            fallback=True,
            unanswered=detail,
        )

    async def _generate(
        self, request: BriefRequest, requested: Mode, mode: Mode, name: str, deadline: float
    ) -> BriefResponse:
        m, client, breaker = self.metrics, self.clients[name], self.breakers[name]
        upstream_failed = False

        def remaining() -> float:
            return deadline - self.clock()

        async def call(attempt: int) -> str:
            nonlocal upstream_failed
            left = remaining()
            if left <= 0:
                raise UpstreamError("timeout", "the request's deadline passed")
            if not breaker.allow():
                raise BreakerOpen(name)
            if upstream_failed:
                m.upstream_retries.labels(**m.base, model=name).inc()
            m.requests.labels(**m.base, model=name, mode=mode).inc()
            try:
                text = await asyncio.wait_for(client.generate(request.prompt, attempt), left)
            except UpstreamError as error:
                failure = error
            except TimeoutError:
                failure = UpstreamError("timeout", f"no answer within {left:.1f}s")
            except Exception as error:  # a bug in the model's code: not asked again
                failure = UpstreamError("crash", type(error).__name__)
            else:
                upstream_failed = False
                breaker.record(True)
                self._breaker_gauge(name)
                return text
            upstream_failed = True
            breaker.record(False)
            self._breaker_gauge(name)
            m.upstream_errors.labels(**m.base, model=name, kind=failure.kind).inc()
            raise failure

        outcome = await guarded(call, self.settings.guard, self.sleep, remaining)
        if outcome.parse_failures:
            m.parse_failures.labels(**m.base, model=name).inc(outcome.parse_failures)
        for reason in outcome.refusals:
            m.refusals.labels(**m.base, reason=reason).inc()
        m.retries.labels(**m.base).observe(outcome.retries)
        if outcome.fixes:
            m.schema_fixes.labels(**m.base).inc(outcome.fixes)
        if outcome.brief is None:
            m.briefs.labels(**m.base, result="invalid").inc()
            raise GuardFailed(f"model {name}: no valid brief after {outcome.retries} retries")
        if outcome.fallback:
            m.fallbacks.labels(**m.base).inc()
        m.briefs.labels(**m.base, result="fallback" if outcome.fallback else "ok").inc()
        return BriefResponse(
            id=_new_id(),
            brief=outcome.brief,
            mode=mode,
            requested_mode=requested,
            model=name,
            cached=False,
            retries=outcome.retries,
            fallback=outcome.fallback,
        )

    def _breaker_gauge(self, name: str) -> None:
        m = self.metrics
        m.breaker.labels(**m.base, model=name).set(int(self.breakers[name].state))

    def refresh_gauges(self) -> None:
        """Gauges that move with time alone (a breaker going half-open, the distribution)."""
        m = self.metrics
        for name in self.breakers:
            self._breaker_gauge(name)
        for mode, share in self.router.measured().items():
            m.distribution.labels(**m.base, mode=mode).set(share)
        m.deviation.labels(**m.base).set(self.router.deviation())

    async def health(self, name: str) -> Health:
        client = self.clients[name]
        m = self.metrics
        if name in self.unloaded:
            result = Health(name, False, None, "unloaded")
        else:
            try:
                latency = await asyncio.wait_for(client.health(), self.timeout)
                result = Health(name, True, latency)
            except Exception as error:
                result = Health(name, False, None, f"{type(error).__name__}: {error}"[:200])
        m.health.labels(**m.base, model=name).set(1 if result.healthy else 0)
        if result.latency is not None:
            m.health_latency.labels(**m.base, model=name).set(result.latency)
        return result

    async def health_all(self) -> list[Health]:
        return list(await asyncio.gather(*(self.health(name) for name in self.clients)))

    def downshift_stats(self) -> dict[str, Any]:
        return {
            "autoDownshift": self.settings.auto_downshift,
            "downshifts": [
                {"from": source, "to": target, "count": count}
                for (source, target), count in sorted(self.router.downshifts.items())
            ],
            "breakers": {
                name: {"state": b.state.name.lower(), "failureRate": b.failure_rate}
                for name, b in self.breakers.items()
            },
            "distribution": {"target": self.settings.weights, "measured": self.router.measured()},
            "modes": list(MODES),
        }


def _new_id() -> str:
    return uuid.uuid4().hex
