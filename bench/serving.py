"""The ensemble on a local Ray Serve, over HTTP, on this machine's CPUs.

1. Cache-hit requests through the full app against a bare Ray Serve deployment that returns
   a fixed brief, measured in the same run with the same client (goal >= 80% of it), p50/p99.
2. Per-mode p95 under load with the torch backends and unique prompts (no cache), against
   the seeds' budgets: fast 2.5 s, balanced 3.2 s, creative 4.5 s.
Usage: python bench/serving.py [--seconds 20] [--concurrency 8] [--models models]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.control_plane import machine  # noqa: E402
from tests.prometheus_server import free_port  # noqa: E402

BUDGETS = {"fast": 2.5, "balanced": 3.2, "creative": 4.5}
FIXED = {
    "brief": {
        "description": "A bold woody composition for evening parties.",
        "notes": ["cedar", "vetiver", "amber"],
        "families": ["woody", "oriental"],
        "intensity": 85,
        "longevity": "long",
    }
}


async def _load(
    url: str, bodies: list[dict[str, Any]], seconds: float, concurrency: int
) -> tuple[list[float], dict[str, list[float]], int]:
    timings: list[float] = []
    per_mode: dict[str, list[float]] = {}
    errors = 0
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=concurrency)

    async def worker(index: int, client: httpx.AsyncClient) -> None:
        nonlocal errors
        i = index
        while time.perf_counter() < deadline:
            body = bodies[i % len(bodies)]
            i += concurrency
            started = time.perf_counter()
            answer = await client.post(url, json=body)
            elapsed = time.perf_counter() - started
            if answer.status_code != 200:
                errors += 1
                continue
            timings.append(elapsed)
            mode = answer.json().get("mode")
            if mode:
                per_mode.setdefault(mode, []).append(elapsed)

    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        await asyncio.gather(*(worker(i, client) for i in range(concurrency)))
    return timings, per_mode, errors


def _cached(url: str, count: int) -> list[dict[str, Any]]:
    """Prompts whose answers sit in the cache (a fallback is never cached: skip those)."""
    bodies: list[dict[str, Any]] = []
    with httpx.Client(timeout=60) as client:
        for i in range(count * 5):
            body = {"prompt": f"a bold woody scent {i}", "mode": "fast"}
            client.post(url, json=body)
            if client.post(url, json=body).json().get("cached"):
                bodies.append(body)
            if len(bodies) == count:
                break
    return bodies


def _summary(timings: list[float], seconds: float) -> str:
    if len(timings) < 2:
        return "no data"
    q = statistics.quantiles(timings, n=100)
    return f"{len(timings) / seconds:.0f} req/s, p50 {q[49] * 1e3:.1f} ms, p99 {q[98] * 1e3:.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--models", type=Path, default=ROOT / "models")
    args = parser.parse_args()

    import ray
    from ray import serve

    from fragrance_serving.app import app

    models = args.models
    if not (models / "creative.pt").exists():
        from fragrance_serving.models.train import train_all

        models = Path(tempfile.mkdtemp())
        print("no trained models found: training bench-sized ones (run `make models` first)")
        train_all(models, 300, corpus_size=2000)

    @serve.deployment(ray_actor_options={"num_cpus": 0.1})
    class Bare:
        async def __call__(self, request: Any) -> dict[str, Any]:
            await request.body()
            return FIXED

    port = free_port()
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    base = f"http://127.0.0.1:{port}"
    # The local config's guard (backoff 0.05 s): the seeds' 1 s backoff is for remote LLM APIs.
    config = yaml.safe_load((ROOT / "deploy/serving/local.yaml").read_text())
    config.update(release="bench", modelsDir=str(models))
    serve.run(app(config), name="brief", route_prefix="/app")
    serve.run(Bare.bind(), name="bare", route_prefix="/bare")
    print(f"machine: {machine()}")
    try:
        hit = _cached(f"{base}/app/v1/brief", 20)
        asyncio.run(_load(f"{base}/bare", hit, 3, 2))  # warm up
        bare, _, _ = asyncio.run(_load(f"{base}/bare", hit, args.seconds, args.concurrency))
        full, _, errors = asyncio.run(
            _load(f"{base}/app/v1/brief", hit, args.seconds, args.concurrency)
        )
        ratio = len(full) / max(len(bare), 1)
        print(f"bare Ray Serve deployment: {_summary(bare, args.seconds)}")
        print(f"ensemble, cache hits:      {_summary(full, args.seconds)} ({errors} errors)")
        print(f"ensemble / bare throughput: {ratio:.0%} (goal >= 80%)")

        modes = ("fast", "balanced", "creative")
        unique = [
            {"prompt": f"a calm floral scent, variant {i}", "mode": modes[i % 3]}
            for i in range(30_000)
        ]
        _, per_mode, errors = asyncio.run(
            _load(f"{base}/app/v1/brief", unique, args.seconds, max(args.concurrency // 2, 1))
        )
        for mode, budget in BUDGETS.items():
            samples = per_mode.get(mode, [])
            if len(samples) < 2:
                print(f"{mode}: too few samples")
                continue
            p95 = statistics.quantiles(samples, n=20)[18]
            verdict = "within" if p95 <= budget else "OVER"
            print(f"{mode}: p95 {p95:.2f} s over {len(samples)} requests, {verdict} {budget} s")
        print(f"model-path errors: {errors}")
    finally:
        serve.shutdown()
        ray.shutdown()


if __name__ == "__main__":
    main()
