"""A promotion interrupted (a new spec, an abort, a retry), on a real Ray Serve, under a client.

The state machine and the rayServe provider as the reconcile runs them (observe, advance,
weight, converge, once a second), against the session's local Ray; a client sends steady
traffic through the router the whole time and counts every answer that is not a 200.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from fragrance_api.serve_app import deploy_config
from fragrance_dev.demo.client import Client
from fragrance_operator.builders.serve_plan import image, roles
from fragrance_operator.canary.machine import Action
from fragrance_operator.drivers.ray_serve import RayServeDriver
from tests.serving.conftest import Serving
from tests.serving.reconciled import Release, spec


@pytest.mark.parametrize("interruption", ["new-spec", "abort", "retry"])
def test_an_interrupted_promotion_finishes_and_no_request_fails(
    interruption: str, ray_serve: Serving, trained_models: Path, tmp_path: Path
) -> None:
    name = f"ip-{interruption}"
    url = f"http://127.0.0.1:{ray_serve.port}"
    driver = RayServeDriver(ray_serve.rest, str(trained_models), url, str(tmp_path))
    release = Release(driver, name, spec(name, "v1"))
    client = Client(f"{url}/{name}-r/v1/brief", rate=6)
    try:
        release.until("v1 stable", lambda r: r.phase == "Succeeded")
        release.until(
            "v1 Ready", lambda _: driver.ready(release.body, "stable", "fragrance-serving:v1")
        )
        client.start()
        release.spec = spec(name, "v2")
        release.until("v2 canary at 25%", lambda r: r.weight == 25)
        assert release.tick(Action.PROMOTE)  # the canary is Ready: consumed at once
        assert release.rollout.promoting
        # The interruption arrives while the promotion is under way.
        if interruption == "new-spec":
            release.spec = spec(name, "v3")
            release.tick()
        else:
            assert not release.tick(Action(interruption)), "waits for the promotion"
        release.until("the promotion to finish", lambda r: not r.promoting)
        assert release.rollout.stable_version == "v2"
        if interruption == "new-spec":
            release.until("v3's canary Ready", lambda r: r.canary_version == "v3" and r.weight)
        else:  # the annotation, still there, is applied once the promotion is over
            assert release.tick(Action(interruption))
            assert (release.rollout.phase, release.rollout.weight) == ("Succeeded", 0)
        time.sleep(3)  # a few more requests on what is serving now
    finally:
        client.stop()
        apps = ray_serve.rest.applications()
        # Back to the applications the session's other tests deployed.
        ray_serve.rest.deploy(
            deploy_config(list(ray_serve.apps.values()), "127.0.0.1", ray_serve.port)
        )
    deployed = {n: a.get("deployed_app_config") for n, a in apps.items()}
    stable = roles(name, deployed.get(f"{name}-r")).stable
    assert image(deployed.get(stable)) == "fragrance-serving:v2", "v2 serves as stable"
    assert client.counts.sent > 20
    assert client.counts.failed == 0, client.counts.by_track
