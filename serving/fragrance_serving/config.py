"""The Serve config of one application (what a KubeRay ``serveConfigV2`` carries).

Live settings go in ``deployments[].user_config`` and never in ``args``: Ray derives the
code version from the import path and args, so keeping the policy and the fault injection
out of the args is what makes changing them a reconfigure instead of a redeploy.
"""

from __future__ import annotations

from typing import Any

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
) -> dict[str, Any]:
    """One entry of ``applications:``; ``args`` as the app builder takes them."""
    static = {k: v for k, v in args.items() if k != "policy"}
    static["models"] = [
        {k: v for k, v in model.items() if k != "faults"} for model in args.get("models", [])
    ]
    initial_faults = {m["name"]: m.get("faults", {}) for m in args.get("models", [])}
    initial_faults.update(faults or {})
    live = {"policy": policy or args.get("policy", {})}
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
