"""The RayService sample made to run on the local real node: what a platform team changes in
``deploy/serving/rayservice.yaml`` for its own cluster, done for this one."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import yaml

from fragrance_dev.cluster import LocalCluster
from fragrance_dev.demo.on_cluster import serving_template
from tests.helpers import ROOT

SAMPLE = ROOT / "deploy" / "serving" / "rayservice.yaml"


def sample() -> dict[str, Any]:
    loaded = yaml.safe_load(SAMPLE.read_text())
    assert isinstance(loaded, dict)
    return loaded


def local_ray_service(name: str, image: str, models_dir: Path) -> dict[str, Any]:
    """The sample with the local image, the real node's placement, the weights from this
    machine (hostPath for the sample's PVC) and requests two cores can grant; no GPU."""
    doc = sample()
    doc["metadata"]["name"] = name
    local = serving_template(models_dir)["spec"]
    config = doc["spec"]["rayClusterConfig"]
    for group in [config["headGroupSpec"], *config["workerGroupSpecs"]]:
        pod = group["template"]["spec"]
        pod.update(nodeSelector=local["nodeSelector"], tolerations=local["tolerations"])
        pod["volumes"] = copy.deepcopy(local["volumes"])
        (container,) = pod["containers"]
        container["image"] = image
        container["resources"] = {"requests": {"cpu": "100m", "memory": "512Mi"}}
    # Logical CPUs for the replicas of two versions and a router (each asks for 0.1-0.5).
    config["workerGroupSpecs"][0]["rayStartParams"] = {"num-cpus": "8"}
    return doc


def ray_clusters(cluster: LocalCluster, namespace: str) -> list[str]:
    got = cluster.kubectl("get", "rayclusters", "-n", namespace, "-o", "json")
    return [item["metadata"]["name"] for item in json.loads(got.stdout)["items"]]


def owners(cluster: LocalCluster, namespace: str, name: str) -> dict[str, list[str]]:
    """Which field manager owns which of the RayService's spec fields (managedFields)."""
    got = cluster.kubectl(
        "get", "rayservice", name, "-n", namespace, "-o", "json", "--show-managed-fields"
    )
    found: dict[str, list[str]] = {}
    for entry in json.loads(got.stdout)["metadata"].get("managedFields") or []:
        spec = (entry.get("fieldsV1") or {}).get("f:spec") or {}
        found.setdefault(entry["manager"], []).extend(sorted(spec))
    return found
