"""TuningPolicy end to end: settings written for the releases using it, an edit rolled out
through each release's canary, status from a real Prometheus, TuningComplete by its 48-hour
criteria, and ``fragrance tuning-check``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import yaml
from kopf.testing import KopfRunner

from fragrance_dev.cluster import LocalCluster
from tests.cluster.rollouts import (
    CPU_ONLY,
    ROUTE,
    release_doc,
)
from tests.helpers import ROOT, wait_for
from tests.prometheus_server import PrometheusServer
from tests.serving_exporter import ServingExporter


def apply(cluster: LocalCluster, namespace: str, doc: dict[str, Any]) -> None:
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(doc))


def _get(cluster: LocalCluster, namespace: str, kind: str, name: str) -> dict[str, Any]:
    got = cluster.kubectl("get", kind, name, "-n", namespace, "-o", "json", check=False)
    return json.loads(got.stdout) if got.returncode == 0 else {}


def _condition(doc: dict[str, Any], kind: str) -> dict[str, Any]:
    conditions = doc.get("status", {}).get("conditions", [])
    return next((c for c in conditions if c["type"] == kind), {})


def _policy(name: str, max_retries: int = 3) -> dict[str, Any]:
    return {
        "apiVersion": "fragrance.ai/v1alpha1",
        "kind": "TuningPolicy",
        "metadata": {"name": name},
        "spec": {
            "jsonGuard": {"maxRetries": max_retries},
            "ppo": {"entropyCoef": {"initial": 0.02, "final": 0.005, "decaySteps": 10000}},
        },
    }


def _check(cluster: LocalCluster, prometheus: PrometheusServer, target: str) -> Any:
    env = {**os.environ, "KUBECONFIG": str(cluster.layout.kubeconfig)}
    return subprocess.run(
        [sys.executable, "-m", "fragrance_operator.cli", "tuning-check", "--policy", target,
         "--prometheus", prometheus.url],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=60,
    )  # fmt: skip


def test_policy_reaches_its_releases_through_their_canary_and_completes_by_the_seeds_criteria(
    operator: KopfRunner,
    cluster: LocalCluster,
    namespace: str,
    serving_exporter: ServingExporter,
    prometheus: PrometheusServer,
    release_name: str,
) -> None:
    policy = f"tp-{release_name}"
    apply(cluster, namespace, ROUTE)
    apply(cluster, namespace, _policy(policy))
    release = release_doc(release_name, "v1")
    release["spec"].update(CPU_ONLY, tuningPolicyRef={"name": policy})
    apply(cluster, namespace, release)
    config_map = f"{release_name}-stable-policy"

    def retries(track: str) -> int | None:
        got = _get(cluster, namespace, "configmap", f"{release_name}-{track}-policy")
        document = json.loads(got.get("data", {}).get("policy.json", "{}"))
        return document.get("jsonGuard", {}).get("maxRetries")

    def pushed(value: int) -> bool:
        return retries("stable") == value

    wait_for(lambda: pushed(3), "the policy written for the release's pods")
    wait_for(
        lambda: bool(_get(cluster, namespace, "deployment", f"{release_name}-stable")),
        "the stable Deployment",
    )
    deployment = _get(cluster, namespace, "deployment", f"{release_name}-stable")
    volumes = deployment["spec"]["template"]["spec"]["volumes"]
    (volume,) = (v for v in volumes if v["name"] == "fragrance-policy")
    assert (volume["configMap"]["name"], volume["configMap"]["optional"]) == (config_map, True)
    wait_for(
        lambda: (
            _get(cluster, namespace, "tuningpolicy", policy).get("status", {}).get("appliedTo")
            == [release_name]
        ),
        "status.appliedTo",
    )
    doc = _get(cluster, namespace, "tuningpolicy", policy)
    assert _condition(doc, "Applied")["status"] == "True"
    assert _condition(doc, "TuningComplete")["status"] == "False"
    assert "no learner progress yet" in _condition(doc, "TuningComplete")["message"]
    not_yet = _check(cluster, prometheus, f"{namespace}/{policy}")
    assert not_yet.returncode == 1, not_yet.stdout + not_yet.stderr
    assert "TUNING NOT COMPLETE" in not_yet.stdout

    # An edit of the serving settings goes through the release's canary: the stable image
    # with the new settings beside stable, which keeps its own until the promotion.
    # (The kwok node runs no pods: the exporter stands in for the canary's, healthy.)
    serving_exporter.set(release_name)
    release_doc_before = _get(cluster, namespace, "frel", release_name)["status"]
    apply(cluster, namespace, _policy(policy, max_retries=5))
    wait_for(lambda: retries("canary") == 5, "the new settings written for the canary's pods")
    assert retries("stable") == 3
    canary = _get(cluster, namespace, "deployment", f"{release_name}-canary")
    assert canary["spec"]["template"]["spec"]["containers"][0]["image"] == "serving:v1"
    states: list[str] = []  # the policy's status for the release, each change

    def state() -> str | None:
        status = _get(cluster, namespace, "tuningpolicy", policy).get("status") or {}
        entry = (status.get("rollouts") or [{}])[0]
        if entry.get("state") and (not states or states[-1] != entry["state"]):
            states.append(entry["state"])
        return entry.get("state")

    def promoted() -> bool:
        state()
        status = _get(cluster, namespace, "frel", release_name)["status"]
        return status["phase"] == "Succeeded" and status["stablePolicy"] == status["canaryPolicy"]

    wait_for(promoted, "the new settings promoted", 90)
    assert retries("stable") == 5
    after = _get(cluster, namespace, "frel", release_name)["status"]
    assert after["stablePolicy"] != release_doc_before["stablePolicy"]
    assert (after["stableVersion"], after["history"][-1]["outcome"]) == ("v1", "Succeeded")
    stable = _get(cluster, namespace, "deployment", f"{release_name}-stable")
    annotations = stable["spec"]["template"]["metadata"]["annotations"]
    assert annotations["fragrance.ai/policy-settings"] == after["stablePolicy"]
    wait_for(lambda: state() == "Serving", "the policy's status: Serving", 30)
    assert "RollingOut" in states, states

    events = cluster.kubectl(
        "get", "events", "-n", namespace, "--field-selector",
        f"involvedObject.name={release_name}", "-o", "json",
    )  # fmt: skip
    messages = [e["message"] for e in json.loads(events.stdout)["items"]]
    assert any(f"with policy settings {after['stablePolicy']}" in m for m in messages), messages

    # The learner past decaySteps, entropy at its floor, one rollback, the mix on target.
    serving_exporter.set(
        release_name, track="stable", ppo_step=12000, entropy_coef=0.005, reward=4.2,
        rollbacks=1, distribution={"fast": 59.0, "balanced": 31.0, "creative": 10.0},
    )  # fmt: skip
    wait_for(
        lambda: (
            _condition(_get(cluster, namespace, "tuningpolicy", policy), "TuningComplete").get(
                "status"
            )
            == "True"
        ),
        "TuningComplete",
    )
    doc = _get(cluster, namespace, "tuningpolicy", policy)
    training = doc["status"]["training"]
    assert (training["step"], training["rollbacks"]) == (12000, 1)
    assert doc["status"]["distribution"] == {"fast": 59.0, "balanced": 31.0, "creative": 10.0}
    complete = _check(cluster, prometheus, f"{namespace}/{policy}")
    assert complete.returncode == 0, complete.stdout + complete.stderr
    assert "TUNING COMPLETE" in complete.stdout

    # A second rollback breaks the criteria again.
    serving_exporter.set(release_name, track="stable", rollbacks=2)
    wait_for(
        lambda: (
            "2 rollbacks > 1"
            in _condition(_get(cluster, namespace, "tuningpolicy", policy), "TuningComplete").get(
                "message", ""
            )
        ),
        "TuningComplete withdrawn",
    )
