"""Ray Serve's REST API (the dashboard's ``/api/serve/applications/``), declaratively.

The same config a KubeRay ``serveConfigV2`` carries. Deploying through it, rather than with
``serve.run``, is what makes a ``user_config`` change a lightweight update: Ray derives the
code version from the import path and args, so the running replicas are reconfigured in
place, not replaced. A PUT replaces the whole set of applications.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import httpx

PATH = "/api/serve/applications/"


class ServeError(Exception):
    pass


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


class ServeREST:
    def __init__(
        self, url: str = "http://127.0.0.1:8265", timeout: float = 30.0, token: str | None = None
    ) -> None:
        token = token or ray_token()
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.client = httpx.Client(base_url=url, timeout=timeout, headers=headers)

    def applications(self) -> dict[str, Any]:
        """``{name: {"status": ..., "message": ..., "deployed_app_config": ...}}``."""
        answer = self.client.get(PATH)
        answer.raise_for_status()
        return dict(answer.json().get("applications") or {})

    def deploy(self, config: dict[str, Any]) -> None:
        answer = self.client.put(PATH, json=config)
        if answer.status_code >= 400:
            raise ServeError(f"Serve refused the config ({answer.status_code}): {answer.text}")

    def wait_reachable(self, timeout: float = 120.0) -> None:
        """Until the dashboard answers (it starts a few seconds after Ray)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.applications()
                return
            except httpx.HTTPError:
                time.sleep(0.5)
        raise ServeError(f"the Serve REST API did not answer within {timeout:.0f}s")

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
