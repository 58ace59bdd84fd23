"""The shadow phase's data plane on a real Ray Serve: the router mirrors a share of the brief
requests stable answers to the canary and drops its answers; users only get stable's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from fragrance_api import serve_app
from tests.helpers import wait_for
from tests.serving.conftest import Deploy, Serving

ROUTER = "mirror-router"


def _requests(client: httpx.Client) -> float:
    families = text_string_to_metric_families(client.get("/metrics").text)
    return sum(s.value for f in families for s in f.samples if s.name == "http_requests_total")


@pytest.fixture
def router(ray_serve: Serving) -> Iterator[httpx.Client]:
    client = httpx.Client(base_url=f"http://127.0.0.1:{ray_serve.port}/{ROUTER}", timeout=60)
    yield client
    client.close()
    ray_serve.put(ROUTER, None)


def test_the_canary_gets_the_mirrored_share_and_users_only_stables_answers(
    ray_serve: Serving, deploy: Deploy, router: httpx.Client, tmp_path: Path
) -> None:
    stable = deploy(version="v1", learner={"checkpointDir": str(tmp_path / "stable")})
    canary = deploy(
        version="v2", track="canary", learner={"checkpointDir": str(tmp_path / "canary")}
    )
    stable_app, canary_app = (
        str(c.base_url).rstrip("/").rsplit("/", 1)[1] for c in (stable, canary)
    )
    upstream = f"http://127.0.0.1:{ray_serve.port}"
    ray_serve.put(ROUTER, serve_app.router(ROUTER, upstream, stable_app, canary_app, 0, mirror=50))
    assert router.get("/router").json()["mirror"] == 50
    before = _requests(canary)
    sent = 40
    for i in range(sent):
        answer = router.post("/v1/brief", json={"prompt": f"a calm citrus scent number {i}"})
        assert answer.status_code == 200
        assert answer.headers["x-fragrance-track"] == "stable"
        assert answer.headers["x-fragrance-version"] == "v1", "a user got the canary's answer"
    # About half were copied to the canary, answered there and dropped.
    wait_for(lambda: _requests(canary) - before >= 10, "the mirrored requests at the canary", 60)
    assert _requests(canary) - before <= sent

    # Split 50/50: a rating sent back with the track its brief came from reaches that track.
    ray_serve.put(ROUTER, serve_app.router(ROUTER, upstream, stable_app, canary_app, 50))
    rated = 0
    for i in range(60):
        answer = router.post("/v1/brief", json={"prompt": f"a woody cedar scent {i}"})
        track, body = answer.headers["x-fragrance-track"], answer.json()
        if body.get("formula") is None:
            continue
        rating = {"briefId": body["id"], "rating": 4}
        feedback = router.post("/v1/feedback", json=rating, headers={"x-fragrance-track": track})
        assert feedback.status_code == 202, (track, feedback.text)
        assert feedback.headers["x-fragrance-track"] == track
        rated += 1
    assert rated >= 6, f"only {rated} of 60 briefs carried a formula"
