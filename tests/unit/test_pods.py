"""The serving pods' template and config: the user's fields kept, the operator's filled in."""

from __future__ import annotations

import json
from typing import Any

from fragrance_api.release import FragranceReleaseSpec
from fragrance_api.serving_args import AppArgs
from fragrance_operator.builders import objects, pods
from tests.helpers import release_manifest

RELEASE = {"metadata": {"name": "brief", "namespace": "ml", "uid": "u-1"}}


def _spec(template: dict[str, Any] | None = None, gpus: int = 1) -> FragranceReleaseSpec:
    spec = release_manifest("brief", "v2", gpus=gpus)["spec"]
    if template is not None:
        spec["workload"]["template"] = template
    spec["models"][0]["faults"] = {"errorRate": 0.5}
    return FragranceReleaseSpec.model_validate(spec)


def _deployment(spec: FragranceReleaseSpec, track: objects.Track = "canary") -> dict[str, Any]:
    text = pods.app_config(pods.app_args("brief", track, spec))
    return objects.deployment(RELEASE, spec, track, "v2", "serving:v2", text, "hash-1", 3)


def test_the_users_template_is_kept_and_the_serving_container_completed() -> None:
    template = {
        "metadata": {"labels": {"team": "perfume"}, "annotations": {"owner": "ml"}},
        "spec": {
            "serviceAccountName": "serving",
            "imagePullSecrets": [{"name": "registry"}],
            "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists"}],
            "nodeSelector": {"pool": "gpu"},
            "containers": [
                {
                    "name": "serving",
                    "resources": {"requests": {"cpu": "2", "memory": "8Gi"}},
                    "env": [{"name": "LOG_LEVEL", "value": "debug"}],
                    "volumeMounts": [{"name": "weights", "mountPath": "/models"}],
                },
                {"name": "sidecar", "image": "proxy:1"},
            ],
            "volumes": [{"name": "weights", "persistentVolumeClaim": {"claimName": "w"}}],
        },
    }
    deployment = _deployment(_spec(template))
    pod = deployment["spec"]["template"]
    assert pod["metadata"]["labels"]["team"] == "perfume"
    assert pod["metadata"]["labels"]["track"] == "canary"
    assert pod["metadata"]["annotations"]["owner"] == "ml"
    assert pod["metadata"]["annotations"]["prometheus.io/scrape"] == "true"
    spec = pod["spec"]
    assert spec["serviceAccountName"] == "serving"
    assert spec["imagePullSecrets"] == [{"name": "registry"}]
    assert spec["nodeSelector"] == {"pool": "gpu"}
    serving, sidecar = spec["containers"]
    assert sidecar == {"name": "sidecar", "image": "proxy:1"}
    assert serving["image"] == "serving:v2"
    assert serving["resources"] == {
        "requests": {"cpu": "2", "memory": "8Gi"},
        "limits": {"nvidia.com/gpu": "1"},
    }
    assert [e["name"] for e in serving["env"]] == ["LOG_LEVEL", "FRAGRANCE_POLICY_FILE"]
    assert [m["name"] for m in serving["volumeMounts"]] == [
        "weights", "fragrance-app", "fragrance-policy", "fragrance-checkpoints",
    ]  # fmt: skip
    assert serving["args"][:2] == ["--config", "/etc/fragrance/app/app.yaml"]
    assert {"startupProbe", "readinessProbe", "livenessProbe"} <= serving.keys()
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["fragrance-app"]["configMap"]["name"] == "brief-canary-app"
    assert volumes["fragrance-policy"]["configMap"]["name"] == "brief-canary-policy"
    assert deployment["metadata"]["annotations"] == {objects.SPEC_HASH: "hash-1"}


def test_without_a_template_the_pod_is_the_serving_container_alone() -> None:
    spec = _deployment(_spec(gpus=0))["spec"]["template"]["spec"]
    assert [c["name"] for c in spec["containers"]] == ["serving"]
    assert spec["containers"][0]["resources"] == {}


def test_the_app_config_is_what_the_serving_app_reads_with_its_track_and_faults() -> None:
    args = json.loads(pods.app_config(pods.app_args("brief", "canary", _spec())))
    parsed = AppArgs.model_validate(args)
    assert (parsed.release, parsed.track, parsed.version) == ("brief", "canary", "v2")
    assert parsed.models_dir == "/models"
    assert parsed.models[0].faults["errorRate"] == 0.5
    assert parsed.learner is not None
    assert parsed.learner.checkpoint_dir == "/var/lib/fragrance/checkpoints/canary"


def test_a_new_config_changes_the_pod_template() -> None:
    spec = _spec()
    calm = spec.model_copy(deep=True)
    calm.models[0].faults = None
    first, second = _deployment(spec), _deployment(calm)
    hashes = [
        d["spec"]["template"]["metadata"]["annotations"][pods.CONFIG_HASH] for d in (first, second)
    ]
    assert hashes[0] != hashes[1]
