"""A fixture exporter: the metrics of a fake serving application, driven by the test.

Real ``prometheus_client`` metrics, served over HTTP and scraped by a real Prometheus. A
background thread turns a per-(release, track) traffic profile into counter increments and
histogram observations ten times a second, so ``rate()`` sees steady traffic.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

MODES = {"fast": 0.6, "balanced": 0.3, "creative": 0.1}
BUCKETS = (0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 6.0, 8.0, 10.0)


@dataclass
class Profile:
    rps: float = 40.0
    error_5xx: float = 0.0
    error_4xx: float = 0.0
    latency: dict[str, float] = field(
        default_factory=lambda: {"fast": 0.8, "balanced": 1.5, "creative": 2.5}
    )
    invalid: float = 0.0  # briefs failing the schema after all retries
    fallback: float = 0.0
    upstream_error: float = 0.0  # model calls failing upstream, hidden from users by retries
    cache_hit: float = 0.8
    breaker_open: bool = False
    healthy: bool = True
    loss: float = 0.5
    vram_used_fraction: float = 0.5
    # The learner and the measured mode mix (absent until set, like a serving without PPO).
    ppo_step: int | None = None
    entropy_coef: float = 0.02
    reward: float = 3.0
    rollbacks: int = 0
    distribution: dict[str, float] | None = None


class ServingExporter:
    def __init__(self, tick: float = 0.1) -> None:
        """``tick``: seconds between emissions (a thousand releases' worth wants ~1 s)."""
        self.tick = tick
        self.registry = CollectorRegistry()
        labels = ["release", "track"]
        r = self.registry
        self.requests = Counter("http_requests", "", [*labels, "mode", "status"], registry=r)
        self.duration = Histogram(
            "http_request_duration_seconds", "", [*labels, "mode"], buckets=BUCKETS, registry=r
        )
        self.briefs = Counter("llm_brief", "", [*labels, "result"], registry=r)
        self.fallbacks = Counter("llm_json_fallback_used", "", labels, registry=r)
        self.calls = Counter("llm_requests", "", [*labels, "model", "mode"], registry=r)
        self.upstream = Counter("llm_upstream_errors", "", [*labels, "model", "kind"], registry=r)
        self.breaker = Gauge("circuit_breaker_state", "", [*labels, "model"], registry=r)
        self.health = Gauge("llm_health_status", "", [*labels, "model"], registry=r)
        self.hits = Counter("cache_hits", "", [*labels, "mode"], registry=r)
        self.misses = Counter("cache_misses", "", [*labels, "mode"], registry=r)
        self.loss = Gauge("ppo_loss", "", labels, registry=r)
        self.vram_used = Gauge("gpu_memory_used_bytes", "", [*labels, "gpu"], registry=r)
        self.vram_total = Gauge("gpu_memory_total_bytes", "", [*labels, "gpu"], registry=r)
        self.ppo_step = Gauge("ppo_training_step", "", labels, registry=r)
        self.entropy = Gauge("ppo_entropy_coef", "", labels, registry=r)
        self.reward = Gauge("ppo_reward", "", labels, registry=r)
        self.rollbacks = Gauge("checkpoint_rollbacks_total", "", labels, registry=r)
        self.share = Gauge("llm_mode_distribution_percent", "", [*labels, "mode"], registry=r)
        self.profiles: dict[tuple[str, str], Profile] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server, _ = start_http_server(0, addr="127.0.0.1", registry=self.registry)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._traffic, daemon=True).start()

    def set(self, release: str, track: str = "canary", **changes: object) -> Profile:
        with self._lock:
            if (release, track) not in self.profiles:
                # Like the serving app: every status series at 0 from the start, so the
                # first errors of a canary that turns bad are seen by rate().
                for mode in MODES:
                    for status in ("200", "429", "500"):
                        self.requests.labels(release, track, mode, status)
            profile = self.profiles.get((release, track), Profile())
            for key, value in changes.items():
                setattr(profile, key, value)
            self.profiles[(release, track)] = profile
            return profile

    def stop(self) -> None:
        self._stop.set()
        self._server.shutdown()

    def _traffic(self) -> None:
        # Requests are counted for the time that really passed: on a loaded machine this
        # thread wakes late, and a fixed tick would make the rate Prometheus sees fall short.
        last = time.monotonic()
        while not self._stop.wait(self.tick):
            now = time.monotonic()
            elapsed, last = now - last, now
            with self._lock:
                profiles = list(self.profiles.items())
            for (release, track), profile in profiles:
                self._emit(release, track, profile, elapsed)

    def _emit(self, release: str, track: str, p: Profile, tick: float) -> None:
        for model in ("llama", "mistral", "qwen"):
            self.breaker.labels(release, track, model).set(2 if p.breaker_open else 0)
            self.health.labels(release, track, model).set(1 if p.healthy else 0)
        self.loss.labels(release, track).set(p.loss)
        self.vram_total.labels(release, track, "0").set(80e9)
        self.vram_used.labels(release, track, "0").set(80e9 * p.vram_used_fraction)
        if p.ppo_step is not None:
            self.ppo_step.labels(release, track).set(p.ppo_step)
            self.entropy.labels(release, track).set(p.entropy_coef)
            self.reward.labels(release, track).set(p.reward)
            self.rollbacks.labels(release, track).set(p.rollbacks)
        for mode, percent in (p.distribution or {}).items():
            self.share.labels(release, track, mode).set(percent)
        # Expected counts, added in bulk: one pass per series, whatever the rate, so a
        # thousand releases at 20 requests/s cost this thread (and the GIL) little.
        ok = 1 - p.error_5xx - p.error_4xx
        retried = p.upstream_error / (1 - p.upstream_error) if p.upstream_error < 1 else 0.0
        for mode, share in MODES.items():
            n = p.rps * share * tick
            for status, part in (("200", ok), ("500", p.error_5xx), ("429", p.error_4xx)):
                self.requests.labels(release, track, mode, status).inc(n * part)
            _observe_many(self.duration.labels(release, track, mode), p.latency[mode], n)
            for result, part in (
                ("ok", 1 - p.invalid - p.fallback),
                ("invalid", p.invalid),
                ("fallback", p.fallback),
            ):
                self.briefs.labels(release, track, result).inc(n * part)
            # Each failed call is asked again, so users see none of them.
            self.calls.labels(release, track, "m", mode).inc(n * (1 + retried))
            self.upstream.labels(release, track, "m", "server_error").inc(n * retried)
            self.fallbacks.labels(release, track).inc(n * p.fallback)
            if mode in ("fast", "balanced"):
                self.hits.labels(release, track, mode).inc(n * p.cache_hit)
                self.misses.labels(release, track, mode).inc(n * (1 - p.cache_hit))


def _observe_many(child: Any, typical: float, n: float) -> None:
    """``n`` latencies spread evenly over [0.9, 1.05] x ``typical``, added at once.

    prometheus_client observes one value at a time; this adds each bucket's expected share
    to the child's (non-cumulative) bucket counts, which is what ``n`` observations add.
    """
    low, high = 0.9 * typical, 1.05 * typical
    child._sum.inc(n * (low + high) / 2)
    previous = float("-inf")
    for index, bound in enumerate(child._upper_bounds):
        inside = max(0.0, min(bound, high) - max(previous, low)) / (high - low)
        if inside:
            child._buckets[index].inc(n * inside)
        previous = bound
