"""Ray Serve's REST API (the dashboard's ``/api/serve/applications/``), declaratively.

The same config a KubeRay ``serveConfigV2`` carries. Deploying through it, rather than with
``serve.run``, is what makes a ``user_config`` change a lightweight update: Ray derives the
code version from the import path and args, so the running replicas are reconfigured in
place, not replaced. A PUT replaces the whole set of applications.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import httpx
from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_fixed

PATH = "/api/serve/applications/"
REFUSED = (401, 403)


class ServeError(Exception):
    pass


class ServeAuthError(ServeError):
    """Ray's token auth refused the token we sent: waiting will not change that."""


def ray_token() -> str | None:
    """Ray's cluster token (token auth is on by default): RAY_AUTH_TOKEN, its file, or
    ``~/.ray/auth_token`` where a local Ray writes it."""
    if token := os.environ.get("RAY_AUTH_TOKEN"):
        return token
    path = Path(os.environ.get("RAY_AUTH_TOKEN_PATH") or Path.home() / ".ray" / "auth_token")
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


class RayTokenAuth(httpx.Auth):
    """Bearer auth with Ray's token, looked up when a request needs it.

    A local Ray writes its token only once it has started, and an operator may start before
    the Ray it drives: a token read once, up front, would be missing for good. Until one is
    found each request looks again; on a refusal the token is looked up once more (it may
    have just been written, or rotated) and the request sent again if it changed.
    """

    def __init__(self, token: str | None = None, lookup: Callable[[], str | None] = ray_token):
        self._token, self._lookup = token, lookup

    @property
    def token(self) -> str | None:
        if self._token is None:
            self._token = self._lookup()
        return self._token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        sent = self._sign(request)
        response = yield request
        if response.status_code in REFUSED:
            self._token = None
            if self._sign(request) not in (None, sent):
                yield request

    def _sign(self, request: httpx.Request) -> str | None:
        token = self.token
        if token:
            request.headers["Authorization"] = f"Bearer {token}"
        return token


class ServeREST:
    def __init__(
        self, url: str = "http://127.0.0.1:8265", timeout: float = 30.0, token: str | None = None
    ) -> None:
        self.auth = RayTokenAuth(token)
        self.client = httpx.Client(base_url=url, timeout=timeout, auth=self.auth)

    def _checked(self, answer: httpx.Response) -> httpx.Response:
        if answer.status_code in REFUSED:
            if self.auth.token is None:
                raise ServeAuthError(
                    f"Ray's token auth refused us ({answer.status_code}): no token found in "
                    "RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token"
                )
            raise ServeAuthError(
                f"Ray's token auth refused us ({answer.status_code}): {answer.text[:300]}"
            )
        return answer

    def applications(self) -> dict[str, Any]:
        """``{name: {"status": ..., "message": ..., "deployed_app_config": ...}}``."""
        answer = self._checked(self.client.get(PATH))
        answer.raise_for_status()
        return dict(answer.json().get("applications") or {})

    def deploy(self, config: dict[str, Any]) -> None:
        answer = self._checked(self.client.put(PATH, json=config))
        if answer.status_code >= 400:
            raise ServeError(f"Serve refused the config ({answer.status_code}): {answer.text}")

    def wait_reachable(self, timeout: float = 120.0) -> None:
        """Until the dashboard answers (it starts a few seconds after Ray).

        A refusal while no token exists yet is Ray still starting (it writes the token as it
        starts); a refusal of a token we sent ends the wait at once.
        """

        def starting(error: BaseException) -> bool:
            if isinstance(error, ServeAuthError):
                return self.auth.token is None
            return isinstance(error, httpx.HTTPError)

        try:
            for attempt in Retrying(
                stop=stop_after_delay(timeout),
                wait=wait_fixed(0.5),
                retry=retry_if_exception(starting),
                reraise=True,
            ):
                with attempt:
                    self.applications()
        except httpx.HTTPError as error:
            raise ServeError(
                f"the Serve REST API did not answer within {timeout:.0f}s: {error}"
            ) from error

    def wait_running(self, names: list[str], timeout: float = 180.0) -> None:
        deadline = time.monotonic() + timeout
        last: dict[str, Any] = {}
        while time.monotonic() < deadline:
            last = self.applications()
            states = {n: (last.get(n) or {}).get("status") for n in names}
            failed = [n for n, s in states.items() if s == "DEPLOY_FAILED"]
            if failed:
                raise ServeError(f"{failed[0]}: {last[failed[0]].get('message', '')[:2000]}")
            if all(s == "RUNNING" for s in states.values()):
                return
            time.sleep(0.5)
        raise ServeError(f"not RUNNING after {timeout:.0f}s: {_states(last)}")

    def close(self) -> None:
        self.client.close()


def _states(apps: dict[str, Any]) -> dict[str, Any]:
    return {name: app.get("status") for name, app in apps.items()}


class ServeProxy:
    """Serve's HTTP proxy, where the router application answers for what it does now."""

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        self.client = httpx.Client(base_url=url, timeout=timeout)

    def router_state(self, router: str) -> dict[str, Any] | None:
        """The routes and weight the router's replica uses (None: it did not answer)."""
        try:
            answer = self.client.get(f"/{router}/router")
            answer.raise_for_status()
            return dict(answer.json())
        except (httpx.HTTPError, ValueError):
            return None
