"""Reading a KubeRay RayService: whether it can take a canary, and its applications."""

from __future__ import annotations

from typing import Any

import yaml

from fragrance_operator.adapters import ray_service

APPS = {
    "applications": [
        {"name": "brief-a", "route_prefix": "/brief-a", "import_path": "x:app"},
        {"name": "brief-router", "route_prefix": "/brief-router", "import_path": "y:app"},
    ]
}


def _service(
    generation: int = 2, observed: int = 2, ready: str = "True", upgrading: str = "False"
) -> dict[str, Any]:
    return {
        "metadata": {"name": "rs", "generation": generation},
        "spec": {"serveConfigV2": yaml.safe_dump(APPS)},
        "status": {
            "observedGeneration": observed,
            "conditions": [
                {"type": "Ready", "status": ready},
                {"type": "UpgradeInProgress", "status": upgrading},
            ],
            "activeServiceStatus": {
                "applicationStatuses": {"brief-a": {"status": "RUNNING", "message": ""}},
                "rayClusterStatus": {"head": {"podIP": "10.244.0.7"}},
            },
            "pendingServiceStatus": {"rayClusterName": "rs-new" if upgrading == "True" else ""},
        },
    }


def test_a_missing_unready_or_upgrading_ray_service_cannot_take_a_canary() -> None:
    assert ray_service.health(None, "rs").reason == "RayServiceNotFound"
    assert ray_service.health(_service(ready="False"), "rs").reason == "RayServiceNotReady"
    upgrading = ray_service.health(_service(upgrading="True"), "rs")
    assert (upgrading.ready, upgrading.reason) == (False, "RayServiceUpgrading")
    assert "rs-new" in upgrading.message
    assert ray_service.health(_service(), "rs").ready


def test_applications_are_the_config_written_with_the_status_kuberay_reported() -> None:
    apps = ray_service.applications(_service())
    assert apps["brief-a"]["status"] == "RUNNING"
    assert apps["brief-a"]["deployed_app_config"]["route_prefix"] == "/brief-a"
    assert apps["brief-router"]["status"] == "NOT_STARTED"  # written, not yet reported


def test_before_kuberay_observes_a_new_config_no_application_reads_as_running() -> None:
    apps = ray_service.applications(_service(generation=3, observed=2))
    assert {app["status"] for app in apps.values()} == {"NOT_STARTED"}


def test_the_head_pods_serve_proxy_is_known_from_the_status() -> None:
    assert ray_service.head_url(_service()) == "http://10.244.0.7:8000"
    assert ray_service.head_url({"status": {}}) is None
