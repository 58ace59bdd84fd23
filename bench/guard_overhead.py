"""Guard overhead per request without model time (goal p99 <= 1 ms).

Times the pure path a request takes around the model call: mode choice, cache lookup and
store, breaker admission and record, and the JSON hard guard's parse + schema check of a
typical answer (valid, and a repaired one). Prints the machine.
Usage: python bench/guard_overhead.py [--requests 20000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.control_plane import machine  # noqa: E402
from fragrance_serving.guards.breaker import Breaker, BreakerSettings  # noqa: E402
from fragrance_serving.guards.cache import BriefCache  # noqa: E402
from fragrance_serving.guards.json_guard import check  # noqa: E402
from fragrance_serving.routing import ModeRouter  # noqa: E402

ANSWER = json.dumps(
    {
        "description": "A bold woody composition for evening parties.",
        "notes": ["cedar", "vetiver", "amber"],
        "families": ["woody", "oriental"],
        "intensity": 85,
        "longevity": "long",
    }
)
SLOPPY = "```json\n" + ANSWER.replace('"long"', '"Long"') + "\n```"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=20_000)
    args = parser.parse_args()
    router = ModeRouter({"fast": 60, "balanced": 30, "creative": 10})
    cache = BriefCache(1000, 600)
    breakers = {m: Breaker(BreakerSettings()) for m in ("fast", "balanced", "creative")}
    timings: list[float] = []
    for i in range(args.requests):
        started = time.perf_counter()
        mode = router.choose()
        prompt = f"a bold woody scent number {i % 5000}"
        if cache.get(prompt, mode) is None and breakers[mode].allow():
            result = check(SLOPPY if i % 10 == 0 else ANSWER)
            breakers[mode].record(True)
            cache.put(prompt, mode, result.brief)
        router.served(mode)
        timings.append(time.perf_counter() - started)
    timings.sort()
    quantile = statistics.quantiles(timings, n=1000)
    print(f"machine: {machine()}")
    print(
        f"guard overhead per request over {args.requests}: "
        f"p50 {quantile[499] * 1e3:.3f} ms, p99 {quantile[989] * 1e3:.3f} ms, "
        f"max {timings[-1] * 1e3:.3f} ms (goal p99 <= 1 ms)"
    )


if __name__ == "__main__":
    main()
