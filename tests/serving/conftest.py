"""A real local Ray Serve, deployed through its REST API, with the project's trained models."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from fragrance_api.serve_app import application, deploy_config
from fragrance_dev.local_ray import LocalRay
from fragrance_operator.adapters.ray_serve import ServeREST
from tests.helpers import project_models

ADMIN_TOKEN = "test-admin-token"


@pytest.fixture(scope="session")
def trained_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Without `make models`: enough for mostly valid JSON from each size in about two minutes.
    return project_models(tmp_path_factory, {"fast": 600, "balanced": 400, "creative": 200}, 1500)


@dataclass
class Serving:
    port: int
    rest: ServeREST
    apps: dict[str, dict[str, Any]] = field(default_factory=dict)

    def put(self, name: str, app: dict[str, Any] | None) -> None:
        """Add, replace (app) or remove (None) one application, then deploy the whole set."""
        if app is None:
            self.apps.pop(name, None)
        else:
            self.apps[name] = app
        self.rest.deploy(deploy_config(list(self.apps.values()), "127.0.0.1", self.port))
        if app is not None:
            self.rest.wait_running([name])


@pytest.fixture(scope="session")
def ray_serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serving]:
    """Ray on this machine's CPUs, with the dashboard's Serve REST API, in its own process."""
    os.environ["FRAGRANCE_ADMIN_TOKEN"] = ADMIN_TOKEN  # inherited by the replicas
    log = tmp_path_factory.mktemp("ray") / "ray.log"
    with LocalRay(log) as ray:
        rest = ray.rest()
        yield Serving(ray.serve_port, rest)
        rest.close()


def app_args(models_dir: Path, release: str, **overrides: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "release": release,
        "track": "stable",
        "modelsDir": str(models_dir),
        "models": [
            {"name": "llama", "mode": "fast"},
            {"name": "mistral", "mode": "balanced"},
            {"name": "qwen", "mode": "creative"},
        ],
        "timeoutSeconds": 20,
        "numCpus": 0.1,
        "policy": {
            "jsonGuard": {"maxRetries": 2, "backoffBase": 0.01, "jitter": 0.01},
            "circuitBreaker": {"windowSize": 6, "minimumCalls": 3, "timeoutSeconds": 600},
        },
    }
    args.update(overrides)
    return args


@dataclass
class Deployed:
    name: str
    args: dict[str, Any]
    client: httpx.Client


Deploy = Callable[..., httpx.Client]


@pytest.fixture
def deployed(
    ray_serve: Serving, trained_models: Path, request: pytest.FixtureRequest
) -> Iterator[list[Deployed]]:
    """The applications a test deployed (removed afterwards)."""
    apps: list[Deployed] = []
    yield apps
    for app in apps:
        app.client.close()
        ray_serve.put(app.name, None)


@pytest.fixture
def deploy(
    ray_serve: Serving,
    trained_models: Path,
    deployed: list[Deployed],
    request: pytest.FixtureRequest,
) -> Deploy:
    """Deploy one application under a unique route; returns a client bound to it."""

    def run(**overrides: Any) -> httpx.Client:
        name = f"t{len(deployed)}-{request.node.name[5:30].replace('_', '-')}"
        args = app_args(trained_models, name, **overrides)
        ray_serve.put(name, application(name, f"/{name}", args))
        client = httpx.Client(base_url=f"http://127.0.0.1:{ray_serve.port}/{name}", timeout=60)
        deployed.append(Deployed(name, args, client))
        return client

    return run


def admin(token: str = ADMIN_TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
