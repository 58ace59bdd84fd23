"""The Serve config of one application (what a KubeRay ``serveConfigV2`` carries).

Live settings go in ``deployments[].user_config`` and never in ``args``: Ray derives the
code version from the import path and args, so keeping the policy and the fault injection
out of the args is what makes changing them a reconfigure instead of a redeploy.
"""

from __future__ import annotations

from typing import Any

from fragrance_api.release import FragranceReleaseSpec
from fragrance_api.serving_args import AppArgs

IMPORT_PATH = "fragrance_serving.app:app"
INGRESS = "BriefAPI"
LEARNER = "PPOWorker"


def model_deployment(name: str) -> str:
    return f"model-{name}"


def application(
    name: str,
    route_prefix: str,
    args: dict[str, Any],
    policy: dict[str, Any] | None = None,
    faults: dict[str, dict[str, float]] | None = None,
    track: str | None = None,
) -> dict[str, Any]:
    """One entry of ``applications:``; ``args`` as the app builder takes them.

    ``track`` (the ``track`` label of its series) is live too: a promotion turns a canary
    application into the stable one without a restart.
    """
    static = {k: v for k, v in args.items() if k != "policy"}
    static["models"] = [
        {k: v for k, v in model.items() if k != "faults"} for model in args.get("models", [])
    ]
    initial_faults = {m["name"]: m.get("faults", {}) for m in args.get("models", [])}
    initial_faults.update(faults or {})
    live: dict[str, Any] = {"policy": policy or args.get("policy", {})}
    if track is not None:
        live["track"] = track
    deployments = [{"name": INGRESS, "user_config": live}]
    if (args.get("learner") or {}).get("enabled", True) and args.get("learner") is not None:
        deployments.append({"name": LEARNER, "user_config": live})
    deployments += [
        {"name": model_deployment(model), "user_config": {"faults": values}}
        for model, values in sorted(initial_faults.items())
    ]
    return {
        "name": name,
        "route_prefix": route_prefix,
        "import_path": IMPORT_PATH,
        "args": static,
        "deployments": deployments,
    }


def deploy_config(applications: list[dict[str, Any]], host: str, port: int) -> dict[str, Any]:
    return {"http_options": {"host": host, "port": port}, "applications": applications}


ROUTER_IMPORT_PATH = "fragrance_serving.router:app"


def app_name(release: str, track: str) -> str:
    return f"{release}-{track}"


def release_args(
    release: str, slot: str, spec: FragranceReleaseSpec, models_dir: str, checkpoints: str
) -> dict[str, Any]:
    """The serving app's args for one version of a release in ``slot`` (an application
    name); the track and the faults are live (user_config). Checked against
    :class:`AppArgs`, the model the serving app reads them with."""
    args: dict[str, Any] = {
        "release": release,
        "version": spec.version,
        "image": spec.image,
        "modelsDir": models_dir,
        "learner": {"checkpointDir": f"{checkpoints}/{slot}", "pauseSeconds": 1.0}
        | ({"numGpus": spec.workload.learner_gpus} if spec.workload.learner_gpus else {}),
        "models": [
            {"name": m.name, "mode": m.mode, "backend": m.backend}
            | ({"endpoint": m.endpoint} if m.endpoint else {})
            | ({"numGpus": m.gpus} if m.gpus else {})
            for m in spec.models
        ],
    }
    AppArgs.model_validate(args)
    return args


def release_faults(spec: FragranceReleaseSpec) -> dict[str, dict[str, float]]:
    return {m.name: m.faults.to_wire() if m.faults else {} for m in spec.models}


ROUTER = "Router"


def router(
    name: str, upstream: str, stable: str, canary: str, weight: int, mirror: int = 0
) -> dict[str, Any]:
    """The router application: ``weight`` percent to the ``canary`` app, the rest to stable;
    ``mirror`` percent of stable's brief requests also sent to the canary, answers dropped."""
    config: dict[str, Any] = {"stable": f"/{stable}", "canary": f"/{canary}", "weight": weight}
    if mirror:
        config["mirror"] = mirror
    return {
        "name": name,
        "route_prefix": f"/{name}",
        "import_path": ROUTER_IMPORT_PATH,
        "args": {"upstream": upstream},
        "deployments": [{"name": ROUTER, "user_config": config}],
    }


def with_live(app: dict[str, Any], policy: dict[str, Any], track: str) -> dict[str, Any]:
    """``app`` with ``policy`` and ``track`` as its ingress's and learner's user_config."""
    deployments = []
    for deployment in app.get("deployments") or []:
        if deployment.get("name") in (INGRESS, LEARNER):
            config = {**(deployment.get("user_config") or {}), "policy": policy, "track": track}
            deployment = {**deployment, "user_config": config}
        deployments.append(deployment)
    return {**app, "deployments": deployments}
