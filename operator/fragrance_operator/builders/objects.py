"""Pure builders of the objects a FragranceRelease owns or edits (no I/O).

Two Deployments (``<name>-stable``, ``<name>-canary``, their pods from ``pods``) with
Services of the same names and a ConfigMap each for the app's config; the traffic split is
written into the user's HTTPRoute (backendRef weights) or into a canary Ingress beside the
user's Ingress (ingress-nginx canary annotations).
"""

from __future__ import annotations

import copy
from typing import Any, Literal

from fragrance_api.crd import API_VERSION
from fragrance_api.release import FragranceReleaseSpec
from fragrance_api.workload import GPU

from . import pods

Track = Literal["stable", "canary"]
SERVING_PORT = pods.SERVING_PORT
SPEC_HASH = "fragrance.ai/spec-hash"
NGINX_CANARY = "nginx.ingress.kubernetes.io/canary"
NGINX_WEIGHT = "nginx.ingress.kubernetes.io/canary-weight"


def child_name(release: str, track: Track) -> str:
    return f"{release}-{track}"


def labels(release: str, track: Track) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "fragrance-serving",
        "app.kubernetes.io/instance": release,
        "app.kubernetes.io/managed-by": "fragrance-operator",
        "release": release,
        "track": track,
    }


def owner_reference(release: dict[str, Any]) -> dict[str, Any]:
    meta = release["metadata"]
    return {
        "apiVersion": API_VERSION,
        "kind": "FragranceRelease",
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def policy_config_map_name(release: str, track: Track) -> str:
    return f"{release}-{track}-policy"


def owned_config_map(
    release: dict[str, Any], name: str, object_labels: dict[str, str], data: dict[str, str]
) -> dict[str, Any]:
    """A ConfigMap in the release's namespace, owned by it (deleted with it)."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "namespace": release["metadata"]["namespace"],
            "labels": object_labels,
            "ownerReferences": [owner_reference(release)],
        },
        "data": data,
    }


def policy_config_map(release: dict[str, Any], track: Track, policy_json: str) -> dict[str, Any]:
    """The TuningPolicy's spec for one track's serving pods: each track has its own, so a
    canary can run new settings while stable keeps the ones it runs."""
    name = release["metadata"]["name"]
    return owned_config_map(
        release, policy_config_map_name(name, track), labels(name, track),
        {"policy.json": policy_json},
    )  # fmt: skip


def app_config_map_name(release: str, track: Track) -> str:
    return f"{release}-{track}-app"


def app_config_map(release: dict[str, Any], track: Track, config_text: str) -> dict[str, Any]:
    """The serving app's config for one track's pods."""
    name = release["metadata"]["name"]
    return owned_config_map(
        release, app_config_map_name(name, track), labels(name, track), {"app.yaml": config_text}
    )


def deployment(
    release: dict[str, Any],
    spec: FragranceReleaseSpec,
    track: Track,
    version: str,
    image: str,
    config_text: str,
    spec_hash: str,
    replicas: int | None = None,
    policy_settings: str | None = None,
) -> dict[str, Any]:
    """The worker Deployment; ``replicas`` overrides the spec (the VRAM floor may hold it).
    ``spec_hash`` names the workload fields it was built from (see ``deployment_hash``);
    ``policy_settings`` the TuningPolicy serving settings it runs, when canaried."""
    name = release["metadata"]["name"]
    selector = {"release": name, "track": track}
    gpus = spec.workload.gpus_per_replica
    pod_labels = {**labels(name, track), "fragrance.ai/version": version}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": child_name(name, track),
            "namespace": release["metadata"]["namespace"],
            "labels": pod_labels,
            "annotations": {SPEC_HASH: spec_hash},
            "ownerReferences": [owner_reference(release)],
        },
        "spec": {
            "replicas": spec.workload.replicas if replicas is None else replicas,
            # No surge on GPUs: an image change must not add a pod beside full GPUs.
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}
                if gpus
                else {"maxSurge": "25%", "maxUnavailable": 0},
            },
            "selector": {"matchLabels": selector},
            "template": pods.pod_template(
                spec,
                image,
                pod_labels,
                app_config_map_name(name, track),
                policy_config_map_name(name, track),
                config_text,
                policy_settings,
            ),
        },
    }


def deployment_hash(deployment: dict[str, Any]) -> str | None:
    """The hash of the workload fields a track's Deployment was built from."""
    return (deployment.get("metadata", {}).get("annotations") or {}).get(SPEC_HASH)


def service(release: dict[str, Any], track: Track) -> dict[str, Any]:
    name = release["metadata"]["name"]
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": child_name(name, track),
            "namespace": release["metadata"]["namespace"],
            "labels": labels(name, track),
            "ownerReferences": [owner_reference(release)],
        },
        "spec": {
            "selector": {"release": name, "track": track},
            "ports": [{"name": "http", "port": SERVING_PORT, "targetPort": "http"}],
        },
    }


def canary_ingress(stable: dict[str, Any], release: dict[str, Any], weight: int) -> dict[str, Any]:
    """A copy of the stable Ingress sending ``weight`` percent to the canary Service."""
    name = release["metadata"]["name"]
    canary_service = child_name(name, "canary")
    spec = copy.deepcopy(stable.get("spec", {}))
    for rule in spec.get("rules", []):
        for path in rule.get("http", {}).get("paths", []):
            path["backend"] = {
                "service": {"name": canary_service, "port": {"number": SERVING_PORT}}
            }
    if "defaultBackend" in spec:
        spec["defaultBackend"] = {
            "service": {"name": canary_service, "port": {"number": SERVING_PORT}}
        }
    spec.pop("tls", None)  # ingress-nginx takes TLS from the stable Ingress
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {
            "name": f"{stable['metadata']['name']}-canary",
            "namespace": stable["metadata"]["namespace"],
            "labels": labels(name, "canary"),
            "annotations": {NGINX_CANARY: "true", NGINX_WEIGHT: str(weight)},
            "ownerReferences": [owner_reference(release)],
        },
        "spec": spec,
    }


def deployment_ready(deployment: dict[str, Any], image: str) -> bool:
    """All replicas of the current template are updated and available, with ``image``."""
    spec, status = deployment.get("spec") or {}, deployment.get("status") or {}
    containers = spec.get("template", {}).get("spec", {}).get("containers", [])
    if not containers or containers[0].get("image") != image:
        return False
    replicas = spec.get("replicas", 1)
    return bool(
        status.get("observedGeneration", 0) >= deployment["metadata"].get("generation", 0)
        and status.get("updatedReplicas", 0) == replicas
        and status.get("availableReplicas", 0) == replicas
        and status.get("replicas", 0) == replicas
    )


def allocatable_gpus(nodes: list[dict[str, Any]]) -> int:
    """``nvidia.com/gpu`` the scheduler may place: Ready, schedulable nodes only."""
    total = 0
    for node in nodes:
        if node.get("spec", {}).get("unschedulable"):
            continue
        conditions = node.get("status", {}).get("conditions") or []
        if not any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions):
            continue
        total += int(node.get("status", {}).get("allocatable", {}).get(GPU, 0))
    return total


def requested_gpus(pods: list[dict[str, Any]], namespace: str, skip: dict[str, str]) -> int:
    """GPUs held by live pods, except those in ``namespace`` whose labels include ``skip``."""
    total = 0
    for pod in pods:
        if pod.get("status", {}).get("phase") in ("Succeeded", "Failed"):
            continue
        meta = pod.get("metadata", {})
        if (
            meta.get("namespace") == namespace
            and skip.items() <= (meta.get("labels") or {}).items()
        ):
            continue
        for container in pod.get("spec", {}).get("containers") or []:
            resources = container.get("resources") or {}
            wanted = (resources.get("limits") or {}).get(GPU) or (
                resources.get("requests") or {}
            ).get(GPU)
            total += int(wanted or 0)
    return total
