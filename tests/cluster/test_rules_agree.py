"""Property test against the real apiserver: it (schema + CEL) and the operator's models accept
the same FragranceRelease and TuningPolicy specs, and every object it accepts goes through the
operator's (and, for a policy, the serving's) pure reconcile path without an exception.

Each spec is sent as a server-side dry run (nothing is stored) with strict field validation,
as kubectl sends it (unknown fields refused, not pruned); the object the apiserver
answers — defaulted, as the operator would read it — is what the reconcile path is given.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from fragrance_api import FragranceRelease, TuningPolicy
from fragrance_api.policy import TuningPolicySpec, settings_digest
from fragrance_api.release import FragranceReleaseSpec
from fragrance_api.release_status import FragranceReleaseStatus
from fragrance_dev.cluster import LocalCluster
from fragrance_operator.builders import objects, pods
from fragrance_operator.canary import status as codec
from fragrance_operator.canary.autoscale import Sizing
from fragrance_operator.canary.checks import gate_plan
from fragrance_operator.canary.machine import Rollout
from fragrance_operator.reconcile.decide import Observed, decide
from fragrance_operator.tuning import verdict as tuning
from fragrance_operator.tuning.rollouts import release_rollouts
from fragrance_operator.tuning.status import status_body as policy_status
from fragrance_serving.settings import from_policy
from tests.cluster import spec_dimensions as dims

EXAMPLES = 500  # per kind: the issue's floor for one run
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
Seen = dict[str, int]
PLURALS = {"FragranceRelease": "fragrancereleases", "TuningPolicy": "tuningpolicies"}


@pytest.fixture(scope="module")
def custom_objects(cluster: LocalCluster) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(config.new_client_from_config(str(cluster.layout.kubeconfig)))


@pytest.fixture(scope="module")
def tally() -> Iterator[dict[str, Seen]]:
    counts: dict[str, Seen] = {}
    yield counts
    for kind, seen in counts.items():
        print(f"{kind}: {sum(seen.values())} generated, {seen}")


def _check_agreement(
    api: client.CustomObjectsApi,
    namespace: str,
    doc: dict[str, Any],
    model: Any,
    reconcile: Callable[[dict[str, Any]], None],
    seen: Seen,
) -> None:
    try:
        stored = api.create_namespaced_custom_object(
            "fragrance.ai", "v1alpha1", namespace, PLURALS[doc["kind"]],
            copy.deepcopy(doc), dry_run="All", field_validation="Strict",
        )  # fmt: skip
        apiserver_accepts, why = True, ""
    except ApiException as error:
        if error.status not in (400, 422):  # a refusal, not a broken apiserver
            raise
        apiserver_accepts, why, stored = False, str(error.body)[:600], None
    try:
        model.model_validate({"spec": doc["spec"]})
        python_accepts, python_why = True, ""
    except ValidationError as error:
        python_accepts, python_why = False, str(error)[:600]
    verdict = "accepted" if apiserver_accepts else "refused"
    event(verdict)
    seen[verdict] = seen.get(verdict, 0) + 1
    assert apiserver_accepts == python_accepts, (doc["spec"], why or python_why)
    if stored is not None:
        reconcile(stored)


def _reconcile_release(stored: dict[str, Any]) -> None:
    """The pure path of a release's first ticks: plan, decisions, status, gate, objects."""
    meta = {**stored["metadata"], "uid": "dry-run", "namespace": stored["metadata"]["namespace"]}
    release = {**stored, "metadata": meta}
    spec = FragranceReleaseSpec.model_validate(stored["spec"])
    plan = codec.plan_from_spec(spec)
    seen = Observed(1000.0, True, True, Sizing(spec.workload.replicas), None)
    first = decide(Rollout(), plan, None, 1, None, seen)
    assert first.status is not None
    previous = FragranceReleaseStatus.model_validate(first.status)
    stable = replace(first.rollout, phase="Succeeded", stable_version="v0", stable_hash="old")
    decide(stable, plan, previous, 2, None, seen)  # a new version arrives: a canary starts
    gate_plan(meta["name"], meta["namespace"], spec)
    for track in ("stable", "canary"):
        text = pods.app_config(pods.app_args(meta["name"], track, spec))
        objects.deployment(release, spec, track, spec.version, spec.image, text, plan.spec_hash)
        objects.service(release, track)


def _reconcile_policy(stored: dict[str, Any]) -> None:
    """What the operator writes for a policy and what a serving replica makes of it."""
    spec = TuningPolicySpec.model_validate(stored["spec"])
    from_policy(TuningPolicySpec.model_validate(spec.to_wire()))
    verdict = tuning.judge(spec, None, tuning.Training())
    release = {"metadata": {"name": "r"}, "spec": {}, "status": {"stablePolicy": "old"}}
    rollouts = release_rollouts(settings_digest(spec), spec.rollout == "immediate", [release])
    policy_status(
        generation=1, now=1000.0, previous_conditions=[], applied_to=["r"], rollouts=rollouts,
        distribution=None, training=tuning.Training(), verdict=verdict,
    )  # fmt: skip


@SETTINGS
@given(data=st.data())
def test_release_specs_agree_and_reconcile(
    custom_objects: client.CustomObjectsApi,
    namespace: str,
    tally: dict[str, Seen],
    data: st.DataObject,
) -> None:
    steps, timing, replicas, models, analysis, compare, shadow, evaluation, notify, headroom = (
        dims.draw_spec_parts(
            data, dims.STEPS, dims.TIMING, dims.REPLICAS, dims.MODELS, dims.ANALYSIS,
            dims.COMPARE, dims.SHADOW, dims.EVALUATION, dims.NOTIFICATIONS, dims.HEADROOM,
        )
    )  # fmt: skip
    step_interval, analysis_interval, deadline = (dims.DURATIONS[i] for i in timing)
    doc = {
        "apiVersion": "fragrance.ai/v1alpha1",
        "kind": "FragranceRelease",
        "metadata": {"name": "prop"},
        "spec": {
            "version": "v1",
            "image": "serving:v1",
            "models": models,
            "traffic": {"provider": "rayServe"},
            "workload": {"replicas": replicas[0]},
            "scaling": {
                "minReplicas": replicas[1], "maxReplicas": replicas[2], "vramHeadroomMin": headroom,
            },
            "canary": {
                "steps": steps,
                "stepInterval": step_interval,
                "progressDeadline": deadline,
                "analysis": {"interval": analysis_interval, **analysis,
                             "compareWithStable": compare},
                "shadow": {"percent": shadow[0], "duration": dims.DURATIONS[shadow[1]]},
                "evaluation": evaluation,
            },
            "notifications": notify,
        },
    }  # fmt: skip
    seen = tally.setdefault("FragranceRelease", {})
    _check_agreement(custom_objects, namespace, doc, FragranceRelease, _reconcile_release, seen)


@SETTINGS
@given(data=st.data())
def test_policy_specs_agree_and_reconcile(
    custom_objects: client.CustomObjectsApi,
    namespace: str,
    tally: dict[str, Seen],
    data: st.DataObject,
) -> None:
    shares, entropy, ttl_cleanup, window, guard, rollout = dims.draw_spec_parts(
        data, dims.SHARES, dims.ENTROPY, dims.TTL_CLEANUP, dims.WINDOW, dims.GUARD, dims.ROLLOUT
    )
    doc = {
        "apiVersion": "fragrance.ai/v1alpha1",
        "kind": "TuningPolicy",
        "metadata": {"name": "prop"},
        "spec": {
            "trafficDistribution": dict(zip(("fast", "balanced", "creative"), shares, strict=True)),
            "ppo": {"entropyCoef": {"initial": entropy[0], "final": entropy[1]}},
            "cache": {"ttlSeconds": ttl_cleanup[0], "cleanupIntervalSeconds": ttl_cleanup[1]},
            "circuitBreaker": {"windowSize": window[0], "minimumCalls": window[1]},
            "jsonGuard": guard,
            **({} if rollout is None else {"rollout": rollout}),
        },
    }
    seen = tally.setdefault("TuningPolicy", {})
    _check_agreement(custom_objects, namespace, doc, TuningPolicy, _reconcile_policy, seen)
