"""A fixture exporter: the metrics of a fake serving application, driven by the test.

Real ``prometheus_client`` metrics, served over HTTP and scraped by a real Prometheus. A
background thread turns a per-(release, track) traffic profile into counter increments and
histogram observations ten times a second, so ``rate()`` sees steady traffic.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field

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
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        labels = ["release", "track"]
        r = self.registry
        self.requests = Counter("http_requests", "", [*labels, "mode", "status"], registry=r)
        self.duration = Histogram(
            "http_request_duration_seconds", "", [*labels, "mode"], buckets=BUCKETS, registry=r
        )
        self.briefs = Counter("llm_brief", "", [*labels, "result"], registry=r)
        self.fallbacks = Counter("llm_json_fallback_used", "", labels, registry=r)
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
        self._random = random.Random(7)
        self._server, _ = start_http_server(0, addr="127.0.0.1", registry=self.registry)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._traffic, daemon=True).start()

    def set(self, release: str, track: str = "canary", **changes: object) -> Profile:
        with self._lock:
            profile = self.profiles.get((release, track), Profile())
            for key, value in changes.items():
                setattr(profile, key, value)
            self.profiles[(release, track)] = profile
            return profile

    def stop(self) -> None:
        self._stop.set()
        self._server.shutdown()

    def _traffic(self) -> None:
        tick = 0.1
        while not self._stop.wait(tick):
            with self._lock:
                profiles = list(self.profiles.items())
            for (release, track), profile in profiles:
                self._emit(release, track, profile, tick)

    def _emit(self, release: str, track: str, p: Profile, tick: float) -> None:
        rnd = self._random
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
        for mode, share in MODES.items():
            count = _poisson_like(rnd, p.rps * share * tick)
            for _ in range(count):
                roll = rnd.random()
                status = "500" if roll < p.error_5xx else (
                    "429" if roll < p.error_5xx + p.error_4xx else "200"
                )  # fmt: skip
                self.requests.labels(release, track, mode, status).inc()
                latency = p.latency[mode] * rnd.uniform(0.9, 1.05)
                self.duration.labels(release, track, mode).observe(latency)
                brief = rnd.random()
                result = "invalid" if brief < p.invalid else (
                    "fallback" if brief < p.invalid + p.fallback else "ok"
                )  # fmt: skip
                self.briefs.labels(release, track, result).inc()
                if result == "fallback":
                    self.fallbacks.labels(release, track).inc()
                if mode in ("fast", "balanced"):
                    hit = rnd.random() < p.cache_hit
                    (self.hits if hit else self.misses).labels(release, track, mode).inc()


def _poisson_like(rnd: random.Random, mean: float) -> int:
    whole = int(mean)
    return whole + (1 if rnd.random() < mean - whole else 0)
