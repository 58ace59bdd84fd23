"""A fixture exporter: the metrics of a fake serving application, driven by the test.

Served over HTTP in Prometheus' text format and scraped by a real Prometheus. Each
(release, track) has a traffic profile; its counters grow at the rates the profile gives,
computed when scraped (the value at the last change of profile plus rate x time since), so
``rate()`` sees steady traffic and a thousand releases cost one pass of string formatting
per scrape, not a thread adding to a registry all the time.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODES = {"fast": 0.6, "balanced": 0.3, "creative": 0.1}
BUCKETS = (0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 6.0, 8.0, 10.0)
MODELS = ("llama", "mistral", "qwen")


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


@dataclass
class _Series:
    """One (release, track)'s counters as (series, value at ``since``, rate) and its gauges."""

    names: list[str]
    bases: list[float]
    rates: list[float]
    gauges: str
    since: float

    def render(self, now: float) -> str:
        elapsed = now - self.since
        counters = "".join(
            f"{name} {base + rate * elapsed}\n"
            for name, base, rate in zip(self.names, self.bases, self.rates, strict=True)
        )
        return counters + self.gauges


class ServingExporter:
    def __init__(self) -> None:
        self.profiles: dict[tuple[str, str], Profile] = {}
        self._series: dict[tuple[str, str], _Series] = {}
        self._lock = threading.Lock()
        exporter = self

        class Scrape(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = exporter.render().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: object) -> None:
                pass  # one line per scrape would drown the test's output

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Scrape)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def set(self, release: str, track: str = "canary", **changes: object) -> Profile:
        with self._lock:
            profile = self.profiles.get((release, track), Profile())
            for key, value in changes.items():
                setattr(profile, key, value)
            self.profiles[(release, track)] = profile
            now = time.monotonic()
            names, rates = zip(*_counters(release, track, profile), strict=True)
            old = self._series.get((release, track))
            # Every series is there from the first profile, at 0 (like the serving app), so
            # the first errors of a canary that turns bad are seen by rate().
            bases = (
                [b + r * (now - old.since) for b, r in zip(old.bases, old.rates, strict=True)]
                if old
                else [0.0] * len(names)
            )
            gauges = "".join(f"{n} {v}\n" for n, v in _gauges(release, track, profile))
            self._series[(release, track)] = _Series(list(names), bases, list(rates), gauges, now)
            return profile

    def render(self) -> str:
        with self._lock:
            series = list(self._series.values())
        now = time.monotonic()
        return "".join(s.render(now) for s in series)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _counters(release: str, track: str, p: Profile) -> list[tuple[str, float]]:
    """Every counter series of a track with its rate per second under profile ``p``."""
    labels = f'release="{release}",track="{track}"'
    ok = 1 - p.error_5xx - p.error_4xx
    retried = p.upstream_error / (1 - p.upstream_error) if p.upstream_error < 1 else 0.0
    out: list[tuple[str, float]] = []
    for mode, share in MODES.items():
        n = p.rps * share
        by_mode = f'{labels},mode="{mode}"'
        for status, part in (("200", ok), ("500", p.error_5xx), ("429", p.error_4xx)):
            out.append((f'http_requests_total{{{by_mode},status="{status}"}}', n * part))
        out += _latencies(by_mode, p.latency[mode], n)
        # Each failed call is asked again, so users see none of them.
        out.append((f'llm_requests_total{{{labels},model="m",mode="{mode}"}}', n * (1 + retried)))
        if mode in ("fast", "balanced"):
            out.append((f"cache_hits_total{{{by_mode}}}", n * p.cache_hit))
            out.append((f"cache_misses_total{{{by_mode}}}", n * (1 - p.cache_hit)))
    for result, part in (
        ("ok", 1 - p.invalid - p.fallback),
        ("invalid", p.invalid),
        ("fallback", p.fallback),
    ):
        out.append((f'llm_brief_total{{{labels},result="{result}"}}', p.rps * part))
    out.append((f"llm_json_fallback_used_total{{{labels}}}", p.rps * p.fallback))
    kind = 'model="m",kind="server_error"'
    out.append((f"llm_upstream_errors_total{{{labels},{kind}}}", p.rps * retried))
    return out


def _latencies(labels: str, typical: float, n: float) -> list[tuple[str, float]]:
    """A histogram's series for ``n`` requests/s spread evenly over [0.9, 1.05] x ``typical``."""
    low, high = 0.9 * typical, 1.05 * typical
    name = "http_request_duration_seconds"
    out = [
        (f'{name}_bucket{{{labels},le="{bound}"}}', n * _share_below(bound, low, high))
        for bound in BUCKETS
    ]
    out.append((f'{name}_bucket{{{labels},le="+Inf"}}', n))
    out.append((f"{name}_sum{{{labels}}}", n * (low + high) / 2))
    out.append((f"{name}_count{{{labels}}}", n))
    return out


def _gauges(release: str, track: str, p: Profile) -> list[tuple[str, float]]:
    labels = f'release="{release}",track="{track}"'
    out: list[tuple[str, float]] = []
    for model in MODELS:
        out.append(
            (f'circuit_breaker_state{{{labels},model="{model}"}}', 2 if p.breaker_open else 0)
        )
        out.append((f'llm_health_status{{{labels},model="{model}"}}', 1 if p.healthy else 0))
    out.append((f"ppo_loss{{{labels}}}", p.loss))
    out.append((f'gpu_memory_total_bytes{{{labels},gpu="0"}}', 80e9))
    out.append((f'gpu_memory_used_bytes{{{labels},gpu="0"}}', 80e9 * p.vram_used_fraction))
    if p.ppo_step is not None:
        out.append((f"ppo_training_step{{{labels}}}", p.ppo_step))
        out.append((f"ppo_entropy_coef{{{labels}}}", p.entropy_coef))
        out.append((f"ppo_reward{{{labels}}}", p.reward))
        out.append((f"checkpoint_rollbacks_total{{{labels}}}", p.rollbacks))
    for mode, percent in (p.distribution or {}).items():
        out.append((f'llm_mode_distribution_percent{{{labels},mode="{mode}"}}', percent))
    return out


def _share_below(bound: float, low: float, high: float) -> float:
    return min(1.0, max(0.0, (bound - low) / (high - low)))
