"""The canary router: a Serve application that sends ``weight`` percent of requests to the
canary application and the rest to stable, over Serve's own HTTP proxy.

Its routes and weight are its ``user_config``: the operator's rayServe traffic provider
changes them through the Serve REST API, a lightweight update (no restart, no lost request),
exactly what a KubeRay ``serveConfigV2`` edit does in a cluster. Responses carry
``x-fragrance-track`` so a client can count what each track answered; a request that sends
it back goes to that track while the canary takes traffic: a ``/v1/feedback`` reaches the
track that alone knows the brief it rates (and a person can try the canary by hand).

``mirror`` percent of the brief requests stable answers are also sent to the canary (the
shadow phase): its answer is awaited in the background and dropped, so the canary's own
series fill while users only ever get stable's answers. At most MAX_MIRRORED are in flight;
past that a copy is skipped rather than queued behind a slow canary.
"""

# No ``from __future__ import annotations``: FastAPI reads these annotations at runtime.
import asyncio
import contextlib
import random
from typing import Any

import httpx
from fastapi import FastAPI, Request, Response
from ray import serve
from ray.serve import Application

from fragrance_api.headers import TRACK_HEADER

router_api = FastAPI(title="Fragrance canary router")
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}
MAX_MIRRORED = 32


@serve.deployment(ray_actor_options={"num_cpus": 0.1})
@serve.ingress(router_api)
class Router:
    def __init__(self, upstream: str) -> None:
        self.client = httpx.AsyncClient(base_url=upstream, timeout=60)
        self.routes = {"stable": "/stable", "canary": "/canary"}
        self.weight = 0
        self.mirror = 0
        self.random = random.Random()
        self.mirrored: set[asyncio.Task[None]] = set()

    def reconfigure(self, config: dict[str, Any]) -> None:
        weight, mirror = int(config.get("weight", 0)), int(config.get("mirror", 0))
        for name, value in (("weight", weight), ("mirror", mirror)):
            if not 0 <= value <= 100:
                raise ValueError(f"{name}: must lie in [0, 100], got {value}")
        self.routes = {"stable": config["stable"], "canary": config["canary"]}
        self.weight, self.mirror = weight, mirror

    @router_api.get("/router")
    async def state(self) -> dict[str, Any]:
        state: dict[str, Any] = {"weight": self.weight, "routes": self.routes}
        if self.mirror:
            state["mirror"] = self.mirror
        return state

    async def _copy(self, path: str, body: bytes, headers: dict[str, str]) -> None:
        # The canary's own series count its failures; users never see them.
        with contextlib.suppress(httpx.HTTPError):
            await self.client.post(f"{self.routes['canary']}/{path}", content=body, headers=headers)

    def _track(self, path: str, request: Request) -> str:
        asked = request.headers.get(TRACK_HEADER)
        if asked in ("stable", "canary"):
            # Pinned while the canary takes traffic (only then is there a canary to answer).
            return asked if asked == "stable" or self.weight > 0 else "stable"
        return "canary" if self.random.uniform(0, 100) < self.weight else "stable"

    @router_api.api_route("/{path:path}", methods=["GET", "POST", "PUT", "DELETE"])
    async def forward(self, path: str, request: Request) -> Response:
        track = self._track(path, request)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        body = await request.body()
        copy = (
            track == "stable"
            and request.method == "POST"
            and path.endswith("v1/brief")
            and len(self.mirrored) < MAX_MIRRORED
            and self.random.uniform(0, 100) < self.mirror
        )
        if copy:
            task = asyncio.create_task(self._copy(path, body, headers))
            self.mirrored.add(task)
            task.add_done_callback(self.mirrored.discard)
        answer = await self.client.request(
            request.method,
            f"{self.routes[track]}/{path}",
            content=body,
            headers=headers,
            params=dict(request.query_params),
        )
        out = {k: v for k, v in answer.headers.items() if k.lower() not in HOP_BY_HOP}
        out[TRACK_HEADER.lower()] = track  # over the one the application sent
        return Response(answer.content, status_code=answer.status_code, headers=out)


def app(args: dict[str, Any]) -> Application:
    upstream = str(args.get("upstream") or "http://127.0.0.1:8000")
    application: Application = Router.bind(upstream)  # type: ignore[attr-defined]
    return application
