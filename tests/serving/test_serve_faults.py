"""Chaos on the serving side of a rayServe rollout: Serve's controller, then the router's
replica, killed (SIGKILL of their processes) while v2's canary takes 25% under a steady client.

What must hold, read from Ray and the data path: the reconcile rides out the Serve API being
gone (its failed ticks are retried, as kopf retries); Serve brings each back; the router that
comes back splits at the step's weight, not at 0 or 100; the rollout then promotes v2; no
request is lost while the controller is down (the proxies and replicas serve without it), and
of the router's, only what was in flight on the killed replica.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from fragrance_api.serve_app import deploy_config
from fragrance_dev.demo.client import Client
from fragrance_operator.canary.machine import Action
from fragrance_operator.drivers.ray_serve import RayServeDriver
from tests.serving.conftest import Serving
from tests.serving.reconciled import Release, spec


def _actors(ray_serve: Serving) -> list[dict[str, Any]]:
    """Ray's live actors, from its state API on the dashboard."""
    answer = ray_serve.rest.client.get(
        "/api/v0/actors", params={"detail": "true", "limit": 10000}, timeout=10
    )
    answer.raise_for_status()
    actors = answer.json()["data"]["result"]["result"]
    return [a for a in actors if a.get("state") == "ALIVE"]


def _pid(ray_serve: Serving, matches: Callable[[dict[str, Any]], bool]) -> int | None:
    try:
        found = [a["pid"] for a in _actors(ray_serve) if matches(a)]
    except (httpx.HTTPError, KeyError):
        return None  # the dashboard asks the controller's GCS: may be briefly away
    return int(found[0]) if len(found) == 1 else None


def _router_weight(url: str, router: str) -> int | None:
    try:
        answer = httpx.get(f"{url}/{router}/router", timeout=5)
    except httpx.HTTPError:
        return None
    return int(answer.json()["weight"]) if answer.status_code == 200 else None


@contextmanager
def _at_25(
    ray_serve: Serving, trained_models: Path, tmp_path: Path, name: str
) -> Iterator[tuple[Release, Client]]:
    """v1 stable and Ready, a client at 6 requests/s through the router, v2's canary at 25%;
    afterwards the client stopped and the session's applications deployed again."""
    url = f"http://127.0.0.1:{ray_serve.port}"
    driver = RayServeDriver(ray_serve.rest, str(trained_models), url, str(tmp_path))
    release = Release(driver, name, spec(name, "v1"))
    release.until("v1 stable", lambda r: r.phase == "Succeeded")
    release.until(
        "v1 Ready", lambda _: driver.ready(release.body, "stable", "fragrance-serving:v1")
    )
    client = Client(f"{url}/{name}-r/v1/brief", rate=6)
    try:
        client.start()
        release.spec = spec(name, "v2")
        release.until("v2 canary at 25%", lambda r: r.weight == 25)
        yield release, client
    finally:
        client.stop()
        ray_serve.rest.deploy(
            deploy_config(list(ray_serve.apps.values()), "127.0.0.1", ray_serve.port)
        )


def _ride_out(release: Release, what: str, back: Callable[[], bool], timeout: float) -> float:
    """Reconcile until ``back`` holds; the seconds it took."""
    started = time.monotonic()
    while not back():
        assert time.monotonic() - started < timeout, f"{what}: not within {timeout:.0f}s"
        release.tick_riding_out()
    return time.monotonic() - started


def _promote(release: Release) -> None:
    assert release.tick(Action.PROMOTE)  # the canary is Ready: consumed at once
    release.until("the promotion to finish", lambda r: not r.promoting and r.weight == 0)
    assert release.rollout.stable_version == "v2"


def test_the_serve_controller_killed_mid_rollout_loses_no_request(
    ray_serve: Serving, trained_models: Path, tmp_path: Path
) -> None:
    name = "sf-controller"
    url = f"http://127.0.0.1:{ray_serve.port}"
    with _at_25(ray_serve, trained_models, tmp_path, name) as (release, client):

        def controller(actor: dict[str, Any]) -> bool:
            return bool(actor.get("class_name") == "ServeController")

        killed = _pid(ray_serve, controller)
        assert killed is not None, "Serve's controller among Ray's actors"
        os.kill(killed, signal.SIGKILL)

        def restarted() -> bool:
            now = _pid(ray_serve, controller)
            return now is not None and now != killed and bool(release.tick_riding_out())

        took = _ride_out(release, "Serve's controller back", restarted, 180)
        print(f"Serve controller killed: reconcile through again after {took:.1f}s")
        assert _router_weight(url, f"{name}-r") == 25, "the split is the step's"
        _promote(release)
        time.sleep(3)  # a few more requests on what is serving now
    assert client.counts.sent > 20
    assert client.counts.failed == 0, client.counts.by_track


def test_the_router_replica_killed_comes_back_at_the_steps_weight(
    ray_serve: Serving, trained_models: Path, tmp_path: Path
) -> None:
    name = "sf-router"
    url = f"http://127.0.0.1:{ray_serve.port}"
    router = f"{name}-r"
    with _at_25(ray_serve, trained_models, tmp_path, name) as (release, client):

        def replica(actor: dict[str, Any]) -> bool:
            return f":{router}:" in str(actor.get("class_name"))

        killed = _pid(ray_serve, replica)
        assert killed is not None, f"one replica of {router} among Ray's actors"
        before = client.counts.failed
        os.kill(killed, signal.SIGKILL)

        def back() -> bool:
            now = _pid(ray_serve, replica)
            return now not in (None, killed) and _router_weight(url, router) == 25

        took = _ride_out(release, "the router's replica back at 25%", back, 180)
        lost = client.counts.failed - before
        print(f"router replica killed: back at 25% after {took:.1f}s, {lost} requests failed")
        # What was in flight on the killed replica fails (each of the client's workers has one
        # request at a time); what came after waits in Serve's proxy for the new replica.
        assert lost <= client.workers, client.counts.by_track
        after = client.counts.failed
        _promote(release)
        time.sleep(3)
    assert client.counts.failed == after, "no request lost once the router was back"
