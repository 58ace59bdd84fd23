"""A TuningPolicy's serving settings rolled out through a release's canary: the machine's
part (which track runs which settings) and the policy's status entry per release."""

from __future__ import annotations

from dataclasses import replace

from fragrance_api.policy import TuningPolicySpec, canaried_settings, settings_digest
from fragrance_api.release import FragranceReleaseSpec
from fragrance_operator.canary.machine import Observation, Rollout, advance
from fragrance_operator.canary.status import plan_from_spec
from fragrance_operator.plugin.views import status_lines
from fragrance_operator.tuning.rollouts import release_rollouts
from tests.helpers import release_manifest
from tests.unit.canary_scenarios import PLAN, go_through, run

OLD = replace(PLAN, version="v1", image="serving:v1", spec_hash="h1-old", settings="old")
V1 = run(run(Rollout(), OLD, 0), OLD, 1, stable_ready=True)
NEW = replace(OLD, spec_hash="h1-new", settings="new")


def test_a_settings_change_starts_a_canary_of_the_stable_image_with_the_new_settings() -> None:
    assert (V1.phase, V1.stable_settings) == ("Succeeded", "old")
    t = advance(V1, NEW, Observation(now=10))
    r = t.rollout
    assert (r.canary_version, r.canary_image, r.canary_settings) == ("v1", "serving:v1", "new")
    assert r.stable_settings == "old", "stable keeps its settings while the canary runs"
    assert t.events[0].message.startswith("canary of v1 with policy settings new started")


def test_promotion_gives_stable_the_canarys_settings_and_a_no_go_leaves_them() -> None:
    r = run(run(V1, NEW, 0), NEW, 0, canary_ready=True)
    promoted = go_through(r, NEW, ["GO"] * 10)
    assert (promoted.phase, promoted.stable_settings) == ("Succeeded", "new")
    failed = go_through(r, NEW, ["NO-GO"])
    assert (failed.phase, failed.stable_settings, failed.weight) == ("RolledBack", "old", 0)
    # The same settings again start nothing; settings back to stable's start nothing either.
    assert advance(failed, NEW, Observation(now=500)).rollout == failed
    assert advance(failed, OLD, Observation(now=500)).rollout == failed


def test_switching_the_rollout_mode_starts_no_canary_of_what_stable_already_runs() -> None:
    # rollout: immediate (settings None): both tracks are given the policy as it is.
    immediate = replace(OLD, spec_hash="h1-immediate", settings=None)
    t = advance(V1, immediate, Observation(now=10))
    r = t.rollout
    assert (r.phase, r.canary_active, r.stable_settings) == ("Succeeded", False, None)
    assert r.stable_hash == "h1-immediate"
    assert [e.reason for e in t.events] == ["SettingsApplied"]
    assert t.finished is None
    # Back to canary: stable ran the policy as it is all along, so it takes the digest too.
    back = advance(r, OLD, Observation(now=20)).rollout
    assert (back.phase, back.canary_active, back.stable_settings) == ("Succeeded", False, "old")
    # Switched while a settings canary runs: that canary is aborted, in history.
    rolling = run(run(V1, NEW, 0), NEW, 0, canary_ready=True)
    assert rolling.canary_active
    t = advance(rolling, immediate, Observation(now=30))
    assert (t.rollout.phase, t.rollout.weight, t.rollout.stable_settings) == ("Succeeded", 0, None)
    assert t.finished is not None
    assert t.finished.outcome == "Aborted"
    # A new image switched to immediate at the same time is a canary as always.
    v2 = replace(immediate, version="v2", image="serving:v2", spec_hash="h2")
    started = advance(V1, v2, Observation(now=40)).rollout
    assert (started.canary_version, started.canary_settings) == ("v2", None)


def _spec() -> FragranceReleaseSpec:
    return FragranceReleaseSpec.model_validate(release_manifest("brief", "v1")["spec"])


def test_which_changes_go_through_the_canary() -> None:
    policy = TuningPolicySpec.model_validate({"jsonGuard": {"maxRetries": 0}})
    digest = settings_digest(policy)
    assert canaried_settings(policy) == digest
    assert canaried_settings(None) is None
    immediate = policy.model_copy(update={"rollout": "immediate"})
    assert canaried_settings(immediate) is None
    # Learning settings are not serving settings: an edit of them starts no canary.
    learning = TuningPolicySpec.model_validate(
        {"jsonGuard": {"maxRetries": 0}, "ppo": {"learningRate": 0.001}}
    )
    assert settings_digest(learning) == digest
    spec = _spec()
    assert plan_from_spec(spec, digest).spec_hash != plan_from_spec(spec, "other").spec_hash
    assert plan_from_spec(spec).spec_hash == plan_from_spec(spec, None).spec_hash


def _release(name: str, **status: object) -> dict[str, object]:
    return {"metadata": {"name": name}, "spec": {}, "status": status}


def test_the_policys_status_says_where_each_release_stands() -> None:
    releases = [
        _release("d-new-pending", stablePolicy="old", phase="Succeeded"),
        _release("a-serving", stablePolicy="new", phase="Succeeded"),
        _release("b-rolling", stablePolicy="old", canaryPolicy="new", phase="Progressing",
                 canaryWeight=25, currentStep=3),
        _release("c-back", stablePolicy="old", canaryPolicy="new", phase="RolledBack",
                 history=[{"reason": "gate NO-GO at 5%: jsonFallbackRate 0.4 > 0.01"}]),
    ]  # fmt: skip
    entries = release_rollouts("new", False, releases)
    assert [(e["release"], e["state"]) for e in entries] == [
        ("a-serving", "Serving"),
        ("b-rolling", "RollingOut"),
        ("c-back", "RolledBack"),
        ("d-new-pending", "Pending"),
    ]
    assert (entries[1]["weight"], entries[1]["message"]) == (25, "step 3, 25%")
    assert "jsonFallbackRate" in entries[2]["message"]
    assert {e["state"] for e in release_rollouts("new", True, releases)} == {"Serving"}


def test_kubectl_fragrance_shows_which_settings_each_track_runs() -> None:
    release = {
        "metadata": {"namespace": "ns", "name": "brief"},
        "spec": {"canary": {"steps": [1, 5, 25, 100]}},
        "status": {"phase": "Progressing", "stableVersion": "v1", "canaryVersion": "v1",
                   "stablePolicy": "old", "canaryPolicy": "new", "canaryWeight": 5,
                   "currentStep": 1},
    }  # fmt: skip
    lines = status_lines(release)
    assert lines[1:3] == [
        "  stable  v1  policy old",
        "  canary  v1  policy new  weight 5%  step 2/4 [1, 5, 25, 100]",
    ]
