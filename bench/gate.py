"""Gate evaluation latency: all built-in checks against a local Prometheus (goal p50 ≤ 100 ms).

Starts a real Prometheus scraping the test suite's fixture exporter (steady synthetic
traffic), waits for data, then times ``--runs`` evaluations. Prints the machine.
Usage: python bench/gate.py [--runs 50]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.control_plane import machine  # noqa: E402
from fragrance_api.release import FragranceReleaseSpec  # noqa: E402
from fragrance_operator.adapters.prometheus import Prometheus  # noqa: E402
from fragrance_operator.reconcile.evaluate import evaluate  # noqa: E402
from tests.prometheus_server import PrometheusServer  # noqa: E402
from tests.serving_exporter import ServingExporter  # noqa: E402

SPEC = FragranceReleaseSpec.model_validate(
    {
        "version": "v2",
        "image": "serving:v2",
        "models": [
            {"name": "llama", "mode": "fast"},
            {"name": "mistral", "mode": "balanced"},
            {"name": "qwen", "mode": "creative"},
        ],
        "traffic": {"provider": "rayServe"},
        "canary": {"stepInterval": "30s", "analysis": {"interval": "30s"}},
    }
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    exporter = ServingExporter()
    exporter.set("bench")
    with tempfile.TemporaryDirectory() as tmp:
        server = PrometheusServer(Path(tmp), [f"127.0.0.1:{exporter.port}"])
        prom = Prometheus(server.url)
        try:
            deadline = time.monotonic() + 60
            while evaluate(prom, "bench", "default", SPEC).verdict.decision != "GO":
                if time.monotonic() > deadline:
                    raise SystemExit("no GO within 60 s: is the exporter scraped?")
                time.sleep(0.5)
            timings = [
                evaluate(prom, "bench", "default", SPEC).seconds * 1000 for _ in range(args.runs)
            ]
            checks = len(evaluate(prom, "bench", "default", SPEC).verdict.checks)
        finally:
            prom.close()
            server.stop()
            exporter.stop()
    timings.sort()
    print("machine:", machine())
    print(f"gate evaluation, {checks} check results + request count, {args.runs} runs:")
    print(
        f"  p50 {statistics.median(timings):.1f} ms  "
        f"p95 {timings[int(0.95 * (len(timings) - 1))]:.1f} ms  max {timings[-1]:.1f} ms "
        "(goal p50 <= 100 ms)"
    )


if __name__ == "__main__":
    main()
