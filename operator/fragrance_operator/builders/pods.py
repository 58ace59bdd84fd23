"""The serving pods of the Deployment workloads: the user's pod template with the serving
container filled in, and the app's config that container reads (pure, no I/O).

The app's config comes from the same builder the rayServe provider uses
(:func:`fragrance_api.serve_app.release_args`), so a pod and a Serve application of one
version run the same args.
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

from fragrance_api.release import FragranceReleaseSpec
from fragrance_api.serve_app import release_args, release_faults
from fragrance_api.workload import GPU, MODELS_DIR, SERVING_CONTAINER

SERVING_PORT = 8000
APP_DIR = "/etc/fragrance/app"
POLICY_DIR = "/etc/fragrance/policy"
CHECKPOINTS_DIR = "/var/lib/fragrance/checkpoints"
#: On the pod template: a hash of the app's config, so a new config rolls the pods.
CONFIG_HASH = "fragrance.ai/app-config"
#: The TuningPolicy serving settings the pods are built for (canaried): new settings roll
#: the pods, which read the file at start, rather than wait for the kubelet's refresh.
POLICY_SETTINGS = "fragrance.ai/policy-settings"
ARGS = ["--config", f"{APP_DIR}/app.yaml", "--host", "0.0.0.0", "--port", str(SERVING_PORT)]
PRE_STOP_SECONDS = 10
POLICY_FILE_ENV = {"name": "FRAGRANCE_POLICY_FILE", "value": f"{POLICY_DIR}/policy.json"}


def app_args(release: str, track: str, spec: FragranceReleaseSpec) -> dict[str, Any]:
    """The serving app's args for one track's pods, faults included (a pod reads them once)."""
    args = release_args(release, track, spec, MODELS_DIR, CHECKPOINTS_DIR)
    faults = release_faults(spec)
    for model in args["models"]:
        if faults[model["name"]]:
            model["faults"] = faults[model["name"]]
    return {**args, "track": track}


def app_config(args: dict[str, Any]) -> str:
    """``app.yaml``: JSON, which is YAML, so the operator needs no YAML writer."""
    return json.dumps(args, indent=2, sort_keys=True) + "\n"


def config_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _by_name(items: list[dict[str, Any]], wanted: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``items`` with any entry named as one of ``wanted`` replaced by it (order kept)."""
    names = {w["name"] for w in wanted}
    return [i for i in items if i.get("name") not in names] + wanted


def serving_container(user: dict[str, Any], image: str, gpus: int) -> dict[str, Any]:
    """The user's ``serving`` container (or an empty one) with the operator's fields set."""
    container = copy.deepcopy(user)
    resources = container.setdefault("resources", {})
    if gpus:
        resources.setdefault("limits", {})[GPU] = str(gpus)
    # A busy node answers late; one slow answer must not restart a model server.
    probe = {"httpGet": {"path": "/health", "port": "http"}, "timeoutSeconds": 5}
    container.update(
        {
            "name": SERVING_CONTAINER,
            "image": image,
            "args": ARGS,
            "ports": [{"name": "http", "containerPort": SERVING_PORT, "protocol": "TCP"}],
            # Ray and the models take a while to start: up to 10 minutes before liveness.
            "startupProbe": {**probe, "periodSeconds": 5, "failureThreshold": 120},
            "readinessProbe": {**probe, "periodSeconds": 5},
            "livenessProbe": {**probe, "periodSeconds": 10, "failureThreshold": 6},
            # A pod told to stop keeps serving while its endpoint leaves every node's
            # Service rules; stopping at once refused the connections still routed to it.
            "lifecycle": {"preStop": {"sleep": {"seconds": PRE_STOP_SECONDS}}},
            "env": _by_name(container.get("env") or [], [POLICY_FILE_ENV]),
            "volumeMounts": _by_name(
                container.get("volumeMounts") or [],
                [
                    {"name": "fragrance-app", "mountPath": APP_DIR, "readOnly": True},
                    {"name": "fragrance-policy", "mountPath": POLICY_DIR, "readOnly": True},
                    {"name": "fragrance-checkpoints", "mountPath": CHECKPOINTS_DIR},
                ],
            ),
        }
    )
    return container


def pod_template(
    spec: FragranceReleaseSpec,
    image: str,
    labels: dict[str, str],
    app_config_map: str,
    policy_config_map: str,
    config_text: str,
    policy_settings: str | None = None,
) -> dict[str, Any]:
    """The Deployment's ``spec.template``: the user's template, the operator's fields set."""
    template = spec.workload.template.to_wire() if spec.workload.template else {}
    metadata = template.get("metadata") or {}
    pod = template.get("spec") or {}
    containers = pod.get("containers") or []
    user_serving: dict[str, Any] = next(
        (c for c in containers if c["name"] == SERVING_CONTAINER), {}
    )
    serving = serving_container(user_serving, image, spec.workload.gpus_per_replica)
    pod["containers"] = [serving] + [c for c in containers if c["name"] != SERVING_CONTAINER]
    pod["volumes"] = (pod.get("volumes") or []) + [
        {"name": "fragrance-app", "configMap": {"name": app_config_map}},
        # The TuningPolicy, live: the kubelet refreshes the file, the app reloads it.
        {"name": "fragrance-policy", "configMap": {"name": policy_config_map, "optional": True}},
        {"name": "fragrance-checkpoints", "emptyDir": {}},
    ]
    annotations = {
        **(metadata.get("annotations") or {}),
        CONFIG_HASH: config_hash(config_text),
        **({POLICY_SETTINGS: policy_settings} if policy_settings else {}),
        # The convention a cluster's Prometheus discovers pods by (kubernetes_sd_configs).
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(SERVING_PORT),
        "prometheus.io/path": "/metrics",
    }
    return {
        "metadata": {
            "labels": {**(metadata.get("labels") or {}), **labels},
            "annotations": annotations,
        },
        "spec": pod,
    }
