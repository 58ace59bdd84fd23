"""The serving's config: shipped examples valid, live settings kept out of the args."""

from __future__ import annotations

import json

import pytest
import ray
import yaml

from fragrance_api.policy import TuningPolicySpec
from fragrance_api.serve_app import application, release_args
from fragrance_api.serving_args import AppArgs
from fragrance_serving.app import app
from fragrance_serving.backends import Faults
from fragrance_serving.brief import Brief
from fragrance_serving.models import corpus
from tests.helpers import ROOT, rayserve_spec

SERVING = ROOT / "deploy" / "serving"


def test_local_config_is_valid() -> None:
    config = yaml.safe_load((SERVING / "local.yaml").read_text())
    AppArgs.model_validate(config)
    TuningPolicySpec.model_validate(config["policy"])


def test_the_rayservice_sample_leaves_serve_config_to_the_operator_and_names_our_ray() -> None:
    service = yaml.safe_load((SERVING / "rayservice.yaml").read_text())
    assert "serveConfigV2" not in service["spec"], "the operator owns serveConfigV2"
    assert service["spec"]["rayClusterConfig"]["rayVersion"] == ray.__version__
    groups = [service["spec"]["rayClusterConfig"]["headGroupSpec"]]
    groups += service["spec"]["rayClusterConfig"]["workerGroupSpecs"]
    for group in groups:
        (container,) = group["template"]["spec"]["containers"]
        assert "/models" in [m["mountPath"] for m in container["volumeMounts"]]
        assert {"name": "serve", "containerPort": 8000} in container["ports"]


def test_live_settings_stay_out_of_the_args() -> None:
    args = {
        "release": "r",
        "models": [{"name": "qwen", "mode": "creative", "faults": {"errorRate": 1.0}}],
        "policy": {"cache": {"ttlSeconds": 5}},
    }
    first = application("r", "/r", args)
    second = application("r", "/r", args, policy={"cache": {"ttlSeconds": 9}}, faults={})
    assert first["args"] == second["args"], "a policy change must not change the code version"
    assert "policy" not in first["args"]
    assert "faults" not in first["args"]["models"][0]
    deployments = {d["name"]: d["user_config"] for d in first["deployments"]}
    assert deployments == {
        "BriefAPI": {"policy": {"cache": {"ttlSeconds": 5}}},
        "model-qwen": {"faults": {"errorRate": 1.0}},
    }


def test_bad_app_args_name_the_field() -> None:
    with pytest.raises(ValueError, match="models"):
        AppArgs.model_validate({"models": []})
    with pytest.raises(ValueError, match="mode"):
        AppArgs.model_validate({"models": [{"name": "a", "mode": "turbo"}]})
    with pytest.raises(ValueError, match=r"faults\.errorRate"):
        Faults.parse({"errorRate": 2})


def test_corpus_lines_are_valid_briefs() -> None:
    for line in corpus.lines(200, seed=3):
        prompt, answer = line.split("\t")
        assert prompt
        Brief.model_validate(json.loads(answer))


def test_rayserve_apps_of_a_release_keep_live_settings_in_user_config() -> None:
    from fragrance_api.release import FragranceReleaseSpec
    from fragrance_api.serve_app import (
        application,
        release_args,
        release_faults,
        router,
        with_live,
    )
    from fragrance_operator.builders.serve_plan import same, weight

    spec = FragranceReleaseSpec.model_validate(
        {
            "version": "v3",
            "image": "serving:v3",
            "models": [{"name": "qwen", "mode": "creative", "faults": {"errorRate": 0.5}}],
            "traffic": {"provider": "rayServe"},
        }
    )
    args = release_args("r", "r-b", spec, "/models", "/ckpt")
    assert args["version"] == "v3"
    assert "track" not in args, "a role is live: a promotion must not change the args"
    assert args["learner"]["checkpointDir"] == "/ckpt/r-b"
    app = application(
        "r-b", "/r-b", args, {"cache": {"ttlSeconds": 9}}, release_faults(spec), "canary"
    )
    live = {d["name"]: d["user_config"] for d in app["deployments"]}
    assert live["model-qwen"] == {
        "faults": {"errorRate": 0.5, "garbageRate": 0.0, "delaySeconds": 0.0, "promptBlind": False}
    }
    assert live["BriefAPI"]["track"] == "canary"
    promoted = with_live(app, {"cache": {"ttlSeconds": 1}}, "stable")
    assert promoted["args"] == app["args"], "a policy or role change is not a redeploy"
    assert {d["name"]: d["user_config"] for d in promoted["deployments"]}["BriefAPI"] == {
        "policy": {"cache": {"ttlSeconds": 1}},
        "track": "stable",
    }
    assert not same(app, promoted)
    assert same(app, app)
    split = router("router", "http://127.0.0.1:8000", "r-a", "r-b", 25)
    assert weight(split) == 25
    assert split["deployments"][0]["user_config"]["canary"] == "/r-b"


def test_a_per_model_breaker_override_replaces_only_what_it_sets() -> None:
    from fragrance_serving.settings import from_policy, parse_policy

    settings = from_policy(
        parse_policy(
            {
                "circuitBreaker": {
                    "timeoutSeconds": 30,
                    "models": {"qwen": {"failureThreshold": 0.4}},
                }
            }
        )
    )
    qwen, llama = settings.breaker_for("qwen"), settings.breaker_for("llama")
    assert (qwen.failure_threshold, qwen.timeout_seconds) == (0.4, 30)
    assert (llama.failure_threshold, llama.timeout_seconds) == (0.5, 30)


def test_the_models_and_the_ppo_workers_gpus_reach_their_ray_actor_options() -> None:
    spec = rayserve_spec("v1", "router")
    spec.models[0].gpus = 0.5
    spec.workload.learner_gpus = 0.25
    args = release_args("r", "r-a", spec, "/models", "checkpoints")
    parsed = AppArgs.model_validate(args)
    assert [m.num_gpus for m in parsed.models] == [0.5, 0, 0]
    assert parsed.learner is not None
    assert parsed.learner.num_gpus == 0.25
    built = app(args)._bound_deployment
    learner = built.init_args[4]._bound_deployment.ray_actor_options
    assert learner["num_gpus"] == 0.25
    models = built.init_args[2]
    placed = {
        name: bound._bound_deployment.ray_actor_options for name, (_, bound) in models.items()
    }
    assert placed["llama"]["num_gpus"] == 0.5
    assert placed["qwen"]["num_gpus"] == 0
