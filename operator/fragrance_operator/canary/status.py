"""Between the state machine and ``status``: the rollout, kstatus conditions, history.

Pure functions: ``rollout_from_status`` reads the operator's memory back, ``status_body``
writes it, with conditions that ``kubectl wait --for=condition=Ready``, Flux and
``helm --wait`` understand (Ready, Reconciling, Stalled; abnormal-true polarity).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from fragrance_api.base import parse_duration
from fragrance_api.release import FragranceReleaseSpec
from fragrance_api.release_status import HISTORY_LIMIT, FragranceReleaseStatus
from fragrance_operator.canary.capacity import Capacity
from fragrance_operator.canary.delivery import Delivery
from fragrance_operator.canary.gate import CheckResult, Verdict
from fragrance_operator.canary.machine import Finished, PauseReason, Plan, Rollout
from fragrance_operator.canary.serving import Serving


def timestamp(seconds: float) -> str:
    moment = dt.datetime.fromtimestamp(seconds, dt.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def seconds(value: str | None) -> float | None:
    if value is None:
        return None
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def spec_hash(spec: FragranceReleaseSpec, settings: str | None = None) -> str:
    """Hash of what changes the workload: a change restarts the analysis. ``settings``: the
    digest of the TuningPolicy's serving settings, when a change to them is canaried."""
    fields = {
        "version": spec.version,
        "image": spec.image,
        "models": [m.to_wire() for m in spec.models],
        # Replicas are scaling, not a new version: they never start a canary.
        "gpusPerReplica": spec.workload.gpus_per_replica,
    }
    if spec.workload.template is not None:  # absent: the hashes of older releases stand
        fields["template"] = spec.workload.template.to_wire()
    if settings is not None:
        fields["policySettings"] = settings
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]


def plan_from_spec(spec: FragranceReleaseSpec, settings: str | None = None) -> Plan:
    canary = spec.canary
    return Plan(
        version=spec.version,
        image=spec.image,
        spec_hash=spec_hash(spec, settings),
        settings=settings,
        steps=tuple(canary.steps),
        step_interval=parse_duration(canary.step_interval),
        analysis_interval=parse_duration(canary.analysis.interval),
        progress_deadline=parse_duration(canary.progress_deadline),
        failure_limit=canary.analysis.failure_limit,
        inconclusive_limit=canary.analysis.inconclusive_limit,
        on_inconclusive=canary.analysis.on_inconclusive,
        manual_promotion=canary.manual_promotion,
        suspend=spec.suspend,
        evaluation=canary.evaluation.enabled,
        shadow_percent=canary.shadow.percent,
        shadow_duration=parse_duration(canary.shadow.duration),
    )


def rollout_from_status(status: FragranceReleaseStatus | None) -> Rollout:
    if status is None:
        return Rollout()
    analysis = status.analysis
    return Rollout(
        phase=status.phase,
        stable_version=status.stable_version,
        stable_image=status.stable_image,
        stable_hash=status.stable_hash,
        canary_version=status.canary_version,
        canary_image=status.canary_image,
        canary_hash=status.canary_hash,
        stable_settings=status.stable_policy,
        canary_settings=status.canary_policy,
        step=status.current_step,
        weight=status.canary_weight,
        step_started_at=seconds(status.step_started_at),
        weight_set_at=seconds(status.weight_set_at),
        unready_since=seconds(status.canary_unready_since),
        last_analysis_at=seconds(analysis.last_evaluated_at) if analysis else None,
        nogo_count=analysis.no_go_count if analysis else 0,
        inconclusive_streak=analysis.inconclusive_streak if analysis else 0,
        last_decision=status.gate.decision if status.gate else None,
        pause_reason=PauseReason(status.pause_reason) if status.pause_reason else None,
        promoting=status.promoting,
        evaluated=_evaluated(status),
        mirror=status.canary_mirror,
        shadowed=status.shadowed,
    )


def _evaluated(status: FragranceReleaseStatus) -> bool:
    """The canary passed its evaluation: the one in status is its version's, GO or WARNING."""
    done = status.evaluation
    return (
        done is not None
        and done.version == status.canary_version
        and done.decision in ("GO", "WARNING")
    )


def condition(
    kind: str, true: bool, reason: str, message: str, generation: int, now: float,
    previous: dict[str, dict[str, Any]],
) -> dict[str, Any]:  # fmt: skip
    status = "True" if true else "False"
    before = previous.get(kind)
    changed = before is None or before.get("status") != status
    return {
        "type": kind,
        "status": status,
        "reason": reason,
        "message": message,
        "observedGeneration": generation,
        "lastTransitionTime": timestamp(now)
        if changed
        else before.get("lastTransitionTime", timestamp(now)),  # type: ignore[union-attr]
    }


def conditions(
    r: Rollout, generation: int, now: float, previous: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    old = {c.get("type", ""): c for c in previous}
    where = f"step {r.step + 1}, {r.weight}% to {r.canary_version}" if r.canary_active else ""
    if r.phase == "Succeeded":
        ready = (True, "Succeeded", f"{r.stable_version} is stable")
        reconciling = (False, "Succeeded", "")
        stalled = (False, "Succeeded", "")
    elif r.phase in ("RolledBack", "Failed"):
        reason = "ProgressDeadlineExceeded" if r.phase == "Failed" else "RolledBack"
        message = f"{r.canary_version} was not promoted; {r.stable_version} serves all traffic"
        ready = (False, reason, message)
        reconciling = (False, reason, "")
        stalled = (True, reason, message)
    elif r.phase == "Paused":
        reason = r.pause_reason.value if r.pause_reason else "Paused"
        ready = (False, reason, f"paused at {where}")
        reconciling = (True, reason, f"paused at {where}")
        stalled = (False, reason, "")
    else:
        message = "promoting" if r.promoting else (where or "starting")
        ready = (False, "Progressing", message)
        reconciling = (True, "Progressing", message)
        stalled = (False, "Progressing", "")
    return [
        condition(kind, *values, generation, now, old)
        for kind, values in (("Ready", ready), ("Reconciling", reconciling), ("Stalled", stalled))
    ]


def scale_up_condition(
    capacity: Capacity | None, generation: int, now: float, previous: list[dict[str, Any]]
) -> dict[str, Any]:
    old = {c.get("type", ""): c for c in previous}
    if capacity is None:
        values = (False, "NoScaleUpPending", "no GPU scale-up is waiting")
    else:
        values = (capacity.blocked, capacity.reason, capacity.message)
    return condition("ScaleUpBlocked", *values, generation, now, old)


def status_body(
    r: Rollout,
    *,
    generation: int,
    now: float,
    previous: FragranceReleaseStatus | None,
    verdict: Verdict | None = None,
    finished: Finished | None = None,
    capacity: Capacity | None = None,
    serving: Serving | None = None,
    evaluation: Evaluated | None = None,
    delivery: Delivery | None = None,
) -> dict[str, Any]:
    """The whole status to write (a merge patch that sets every field the operator owns)."""
    body: dict[str, Any] = {
        "observedGeneration": generation,
        "phase": r.phase,
        "stableVersion": r.stable_version,
        "stableImage": r.stable_image,
        "stableHash": r.stable_hash,
        "canaryVersion": r.canary_version,
        "canaryImage": r.canary_image,
        "canaryHash": r.canary_hash,
        "stablePolicy": r.stable_settings,
        "canaryPolicy": r.canary_settings,
        "canaryWeight": r.weight,
        "canaryMirror": r.mirror,
        "shadowed": r.shadowed,
        "currentStep": r.step,
        "stepStartedAt": timestamp(r.step_started_at) if r.step_started_at else None,
        "weightSetAt": timestamp(r.weight_set_at) if r.weight_set_at else None,
        "canaryUnreadySince": timestamp(r.unready_since) if r.unready_since else None,
        "promoting": r.promoting,
        "pauseReason": r.pause_reason.value if r.pause_reason else None,
        "analysis": {
            "lastEvaluatedAt": timestamp(r.last_analysis_at) if r.last_analysis_at else None,
            "noGoCount": r.nogo_count,
            "inconclusiveStreak": r.inconclusive_streak,
        },
    }
    previous_conditions = [c.to_wire() for c in previous.conditions] if previous else []
    body["conditions"] = [
        *conditions(r, generation, now, previous_conditions),
        scale_up_condition(capacity, generation, now, previous_conditions),
    ]
    if serving is not None:
        old = {c.get("type", ""): c for c in previous_conditions}
        values = (serving.ready, serving.reason, serving.message)
        body["conditions"].append(condition("ServingReady", *values, generation, now, old))
    if delivery is not None:
        old = {c.get("type", ""): c for c in previous_conditions}
        values = (delivery.delivered, delivery.reason, delivery.message)
        body["conditions"].append(
            condition("NotificationsDelivered", *values, generation, now, old)
        )
    else:  # nothing sent since the operator started: the last result stands
        body["conditions"] += [
            c for c in previous_conditions if c.get("type") == "NotificationsDelivered"
        ]
    if verdict is not None:
        body["gate"] = gate_body(verdict, now)
    elif previous and previous.gate and r.canary_version not in (None, previous.canary_version):
        body["gate"] = None  # a new canary: the last one's verdict is not about it
    if evaluation is not None:
        body["evaluation"] = {
            **gate_body(evaluation.verdict, now),
            "version": evaluation.version,
            "seconds": round(evaluation.seconds, 3),
        }
    elif (
        previous
        and previous.evaluation
        and (
            previous.evaluation.version != r.canary_version
            or (not r.evaluated and previous.evaluation.decision in ("GO", "WARNING"))
        )
    ):
        body["evaluation"] = None  # about a canary that is gone, or one started again
    if finished is not None:
        history = [h.to_wire() for h in previous.history] if previous else []
        history.append(
            {
                "version": finished.version,
                "outcome": finished.outcome,
                "reason": finished.reason,
                "finishedAt": timestamp(now),
            }
        )
        body["history"] = history[-HISTORY_LIMIT:]
    return checked(FragranceReleaseStatus, body)


@dataclass(frozen=True)
class Evaluated:
    """One evaluation before traffic: of which canary version, its verdict, its wall time."""

    version: str
    verdict: Verdict
    seconds: float


def gate_body(verdict: Verdict, now: float) -> dict[str, Any]:
    return {
        "decision": verdict.decision,
        "evaluatedAt": timestamp(now),
        "checks": [check_body(c) for c in verdict.checks],
    }


def check_body(c: CheckResult) -> dict[str, Any]:
    """One check as status, the decision log and notices show it."""
    return {
        "name": c.name,
        "value": c.value,
        "threshold": c.threshold,
        **({"stableValue": c.stable_value} if c.stable_value is not None else {}),
        **({"sample": c.sample} if c.sample is not None else {}),
        "result": c.result,
        "message": c.message,
    }


def checked(model: type[BaseModel], body: dict[str, Any]) -> dict[str, Any]:
    """``body`` as written, once the status model accepts it: a misspelt or unknown field
    raises here (the apiserver would drop it without a word). A null is a merge patch's
    deletion, not a value."""
    model.model_validate({key: value for key, value in body.items() if value is not None})
    return body
