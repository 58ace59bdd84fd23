"""One reconcile of a TuningPolicy: report where each release that uses it stands with its
serving settings, read the learner's progress from Prometheus, write status and the
TuningComplete verdict. Status writes are skipped when nothing changed.

The releases' own ticks carry the settings to their pods: each track's ConfigMap
``<release>-<track>-policy`` (``policy.json``), which the serving application follows live
(the same ``reconfigure`` as a Ray Serve ``user_config``); a change to the serving settings
goes through the release's canary first (``rollout: canary``, see ``reconcile/release.py``).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import kopf
from pydantic import ValidationError

from fragrance_api.crd import API_VERSION
from fragrance_api.modes import MODES
from fragrance_api.policy import TuningPolicySpec, settings_digest
from fragrance_operator.adapters.kubernetes import Kube
from fragrance_operator.adapters.prometheus import Prometheus
from fragrance_operator.tuning import verdict as tuning
from fragrance_operator.tuning.rollouts import release_rollouts
from fragrance_operator.tuning.status import status_body


async def reconcile(kube: Kube, prometheus: Prometheus, body: kopf.Body) -> tuning.TuningVerdict:
    raw: dict[str, Any] = {key: body[key] for key in body}
    meta = raw["metadata"]
    name, namespace = meta["name"], meta["namespace"]
    try:
        spec = TuningPolicySpec.model_validate(raw.get("spec") or {})
    except ValidationError as error:
        kopf.warn(body, reason="InvalidSpec", message=str(error)[:1000])
        raise kopf.PermanentError(str(error)[:200]) from error
    users = await asyncio.to_thread(releases_using, kube, namespace, name)
    names = sorted(r["metadata"]["name"] for r in users)
    rollouts = release_rollouts(settings_digest(spec), spec.rollout == "immediate", users)
    distribution, training = await asyncio.to_thread(measure, prometheus, names)
    result = tuning.judge(spec, distribution, training)
    previous = raw.get("status") or {}
    status = status_body(
        generation=meta.get("generation", 0),
        now=time.time(),
        previous_conditions=list(previous.get("conditions") or []),
        applied_to=names,
        rollouts=rollouts,
        distribution=distribution,
        training=training,
        verdict=result,
    )
    if _differs(previous, status):
        await asyncio.to_thread(kube.patch_status, "tuningpolicies", namespace, name, status)
        before: dict[str, Any] = next(
            (c for c in previous.get("conditions") or [] if c.get("type") == "TuningComplete"), {}
        )
        if result.complete and before.get("status") != "True":
            kopf.info(body, reason="TuningComplete", message=result.message)
    return result


def releases_using(kube: Kube, namespace: str, policy: str) -> list[dict[str, Any]]:
    """The FragranceReleases whose spec.tuningPolicyRef names ``policy`` (default: default)."""
    return [
        r for r in kube.list(API_VERSION, "FragranceRelease", namespace)
        if ((r.get("spec") or {}).get("tuningPolicyRef") or {}).get("name", "default") == policy
    ]  # fmt: skip


def measure(
    prometheus: Prometheus, releases: list[str]
) -> tuple[dict[str, float] | None, tuning.Training]:
    if not releases:
        return None, tuning.Training()
    queries = tuning.queries(releases)
    keys = list(queries)
    answers = dict(zip(keys, prometheus.query_all([queries[k] for k in keys]), strict=True))

    def scalar(key: str) -> float | None:
        samples = answers[key].samples or []
        return float(samples[0][1]) if samples else None

    modes = {
        labels.get("mode", ""): round(float(value), 2)
        for labels, value in answers["distribution"].samples or []
    }
    distribution: dict[str, float] | None = {m: modes.get(m, 0.0) for m in MODES} if modes else None
    step, rollbacks = scalar("step"), scalar("rollbacks")
    training = tuning.Training(
        step=int(step) if step is not None else None,
        entropy_coef=scalar("entropy"),
        reward_mean=scalar("reward"),
        loss=scalar("loss"),
        rollbacks=int(rollbacks) if rollbacks is not None else None,
    )
    return distribution, training


def _differs(previous: dict[str, Any], new: dict[str, Any]) -> bool:
    """Changed beyond timestamps: a steady policy costs no writes."""

    def strip(status: dict[str, Any]) -> str:
        conditions = [
            {k: v for k, v in c.items() if k != "lastTransitionTime"}
            for c in status.get("conditions") or []
        ]
        return json.dumps({**status, "conditions": conditions}, sort_keys=True, default=str)

    return strip(previous) != strip(new)
