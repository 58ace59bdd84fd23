"""A promotion on the rayServe provider, on a local Ray Serve, under a steady client.

Drives ``RayServeDriver`` as the reconcile does (weight, then converge, once a second)
through v1 stable -> v2 canary at 25% -> promote, and prints: seconds from "promote" to the
stable track Ready with v2 and to v1's application removed, the replicas of v2 that a
promotion restarted (Serve's replica ids before and after), and the client's requests that
failed meanwhile.
Usage: python bench/ray_promotion.py [--rate 8] [--models models]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.control_plane import machine  # noqa: E402
from fragrance_api.release import FragranceReleaseSpec  # noqa: E402
from fragrance_dev.demo.client import Client  # noqa: E402
from fragrance_dev.local_ray import LocalRay  # noqa: E402
from fragrance_operator.canary.machine import Rollout  # noqa: E402
from fragrance_operator.drivers.ray_serve import RayServeDriver  # noqa: E402
from tests.helpers import rayserve_spec  # noqa: E402

ROUTER = "bench-router"
RELEASE = {
    "metadata": {"name": "bench", "namespace": "default"},
    "spec": {"traffic": {"rayServe": {"routerApplication": ROUTER}}},
}


def spec(version: str) -> FragranceReleaseSpec:
    return rayserve_spec(version, ROUTER)


def replicas(driver: RayServeDriver, image: str) -> set[str]:
    """Serve's replica ids of every application that serves ``image``."""
    found: set[str] = set()
    for app in driver.rest.applications().values():
        if (app.get("deployed_app_config") or {}).get("args", {}).get("image") != image:
            continue
        for deployment in (app.get("deployments") or {}).values():
            found |= {r["replica_id"] for r in deployment.get("replicas") or []}
    return found


def serving(driver: RayServeDriver, image: str) -> list[str]:
    return [
        name
        for name, app in driver.rest.applications().items()
        if (app.get("deployed_app_config") or {}).get("args", {}).get("image") == image
    ]


def drive(
    driver: RayServeDriver,
    s: FragranceReleaseSpec,
    rollout: Callable[[], Rollout],
    done: Callable[[], bool],
    timeout: float = 600.0,
) -> float:
    """Reconcile once a second until ``done``; the seconds it took."""
    started = time.monotonic()
    while not done():
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"not done within {timeout:.0f}s")
        r = rollout()
        driver.set_weight(RELEASE, s, r.weight)
        driver.converge(RELEASE, s, r)
        time.sleep(1.0)
    return time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=8.0)
    parser.add_argument("--models", default=str(ROOT / "models"))
    args = parser.parse_args()
    print(machine())
    with (
        tempfile.TemporaryDirectory(prefix="bench-promotion-") as work,
        LocalRay(Path(work) / "ray.log") as ray,
    ):
        url = ray.serve_url
        driver = RayServeDriver(ray.rest(), args.models, url, f"{work}/checkpoints")
        v1, v2 = spec("v1"), spec("v2")
        stable = Rollout(
            phase="Succeeded",
            stable_version="v1",
            stable_image=v1.image,
            stable_hash="h1",
        )
        took = drive(driver, v1, lambda: stable, lambda: driver.ready(RELEASE, "stable", v1.image))
        print(f"v1 stable and Ready in {took:.1f}s")
        client = Client(f"{url}/{ROUTER}/v1/brief", args.rate)
        client.start()
        canary = replace(
            stable,
            phase="Progressing",
            canary_version="v2",
            canary_image=v2.image,
            canary_hash="h2",
            step=2,
            weight=25,
        )
        took = drive(driver, v2, lambda: canary, lambda: driver.ready(RELEASE, "canary", v2.image))
        print(f"v2 canary Ready at 25% in {took:.1f}s")
        before = replicas(driver, v2.image)
        sent, failed = client.counts.sent, client.counts.failed
        promoting = replace(
            canary,
            promoting=True,
            weight=100,
            stable_version="v2",
            stable_image=v2.image,
            stable_hash="h2",
        )
        state = {"r": promoting}
        ready_at: list[float] = []
        started = time.monotonic()

        def now() -> Rollout:
            if not ready_at and driver.ready(RELEASE, "stable", v2.image):
                ready_at.append(time.monotonic() - started)
                state["r"] = replace(promoting, phase="Succeeded", promoting=False, weight=0)
            return state["r"]

        removed = drive(driver, v2, now, lambda: bool(ready_at) and not serving(driver, v1.image))
        after = replicas(driver, v2.image)
        client.stop()
        restarted, lost = before - after, client.counts.failed - failed
        (app,) = serving(driver, v2.image)
        series = httpx.get(f"{url}/{app}/metrics", timeout=30).text
        labelled = 'track="stable"' in series and 'track="canary"' not in series
        print(
            f"promotion: stable Ready with v2 after {ready_at[0]:.1f}s, v1 removed after "
            f"{removed:.1f}s; replicas of v2 restarted: {len(restarted)} of {len(before)}; "
            f"client: {client.counts.sent - sent} requests during it, {lost} failed "
            f"(rate {args.rate:.0f}/s); v2's series all labelled stable: {labelled}"
        )
    return 1 if lost else 0


if __name__ == "__main__":
    raise SystemExit(main())
