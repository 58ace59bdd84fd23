"""The API models: defaults from DESIGN §2, cross-field rules, and the invalid manifests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from fragrance_api import FragranceRelease, TuningPolicy
from fragrance_api.base import parse_duration
from fragrance_api.policy import TuningPolicySpec
from fragrance_api.release import FragranceReleaseSpec
from tests.helpers import INVALID, SAMPLES, expectations, load

KINDS: dict[str, Any] = {"FragranceRelease": FragranceRelease, "TuningPolicy": TuningPolicy}


def _minimal_release(**overrides: Any) -> dict[str, Any]:
    spec = {
        "version": "v0.2.0",
        "image": "registry/serving:v0.2.0",
        "models": [{"name": "llama", "mode": "fast"}],
        "traffic": {"provider": "gatewayAPI", "gatewayAPI": {"httpRoute": "brief-api"}},
    }
    spec.update(overrides)
    return spec


def test_release_defaults_follow_the_design() -> None:
    spec = FragranceReleaseSpec.model_validate(_minimal_release())
    assert spec.canary.steps == [1, 5, 25, 100]
    assert spec.canary.step_interval == "5m"
    assert spec.canary.progress_deadline == "1h"
    assert spec.canary.analysis.failure_limit == 0
    assert spec.canary.analysis.inconclusive_limit == 3
    assert spec.canary.analysis.on_inconclusive == "pause"
    assert spec.canary.analysis.min_requests == 20
    assert spec.scaling.vram_headroom_min == 0.20
    assert spec.scaling.scale_down_cooldown == "10m"
    assert spec.tuning_policy_ref.name == "default"
    assert spec.workload.replicas == 2
    assert spec.suspend is False


def test_policy_defaults_follow_the_design() -> None:
    spec = TuningPolicySpec()
    assert (
        spec.traffic_distribution.fast,
        spec.traffic_distribution.balanced,
        spec.traffic_distribution.creative,
    ) == (60, 30, 10)
    assert spec.json_guard.max_retries == 3
    assert spec.circuit_breaker.failure_threshold == 0.5
    assert spec.cache.ttl_seconds == 600
    assert (spec.ppo.entropy_coef.initial, spec.ppo.entropy_coef.final) == (0.02, 0.005)
    assert spec.ppo.entropy_coef.decay_steps == 10_000
    assert spec.reward_normalization.window_size == 1000
    assert spec.checkpoint.save_every == 500
    assert spec.checkpoint.rollback.loss_spike_factor == 2.0


def test_wire_names_are_the_contract() -> None:
    wire = FragranceReleaseSpec.model_validate(_minimal_release()).to_wire()
    assert {
        "version",
        "image",
        "tuningPolicyRef",
        "models",
        "workload",
        "traffic",
        "canary",
        "scaling",
        "suspend",
    } <= wire.keys()
    assert wire["models"][0]["vramGiB"] == 0
    assert wire["traffic"]["gatewayAPI"] == {"httpRoute": "brief-api"}
    assert {"stepInterval", "progressDeadline", "manualPromotion"} <= wire["canary"].keys()
    analysis = FragranceReleaseSpec.model_validate(
        _minimal_release(canary={"analysis": {"thresholds": {"errorRate5xx": 0.02}}})
    ).to_wire()["canary"]["analysis"]
    assert analysis["thresholds"] == {"errorRate5xx": 0.02}
    policy = TuningPolicySpec().to_wire()
    assert {
        "rollout",
        "trafficDistribution",
        "jsonGuard",
        "circuitBreaker",
        "cache",
        "ppo",
        "rewardNormalization",
        "checkpoint",
    } == policy.keys()


def test_wire_round_trip_is_lossless() -> None:
    doc = load(SAMPLES / "fragrancerelease-gateway.yaml")
    spec = FragranceReleaseSpec.model_validate(doc["spec"])
    assert FragranceReleaseSpec.model_validate(spec.to_wire()) == spec


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("5m", 300), ("1h", 3600), ("1h30m", 5400), ("250ms", 0.25), ("1.5h", 5400)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "5", "5 minutes", "-1m", "1d"])
def test_parse_duration_refuses_what_go_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


@pytest.mark.parametrize("path", sorted(SAMPLES.glob("*.yaml")), ids=lambda p: p.stem)
def test_samples_are_valid(path: Path) -> None:
    doc = load(path)
    KINDS[doc["kind"]].model_validate({"spec": doc["spec"]})


@pytest.mark.parametrize("path", sorted(INVALID.glob("*.yaml")), ids=lambda p: p.stem)
def test_invalid_manifests_are_refused_by_the_models_too(path: Path) -> None:
    """The operator's own validation agrees with the apiserver's, manifest by manifest."""
    doc = load(path)
    with pytest.raises(ValidationError) as refused:
        KINDS[doc["kind"]].model_validate({"spec": doc["spec"]})
    # The last segment of the expected field names the place pydantic reports.
    field = expectations(path)["field"].rsplit(".", 1)[-1].split("[")[0]
    reported = str(refused.value)
    assert field in reported or field.lower() in reported.lower()


def test_invalid_manifests_are_many_and_distinct() -> None:
    paths = sorted(INVALID.glob("*.yaml"))
    assert len(paths) >= 30
    mistakes = [expectations(path)["mistake"] for path in paths]
    bodies = [load(path) for path in paths]
    assert all(mistakes)
    assert len({repr(body) for body in bodies}) == len(bodies)
