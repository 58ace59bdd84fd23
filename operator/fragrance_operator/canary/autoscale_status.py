"""Between the autoscaler and ``status.autoscaling``: its memory survives a restart."""

from __future__ import annotations

from typing import Any

from fragrance_api.base import parse_duration
from fragrance_api.release import FragranceReleaseSpec
from fragrance_api.release_status import AutoscalingStatus
from fragrance_operator.canary.autoscale import Policy, State, Step
from fragrance_operator.canary.status import checked, seconds, timestamp


def policy_from_spec(spec: FragranceReleaseSpec) -> Policy:
    scaling = spec.scaling
    latency = scaling.metric == "latencyBudget"
    return Policy(
        minimum=scaling.min_replicas,
        maximum=scaling.max_replicas,
        target=scaling.target_latency_ratio if latency else scaling.target_requests_per_replica,
        scale_up_after=parse_duration(scaling.scale_up_after),
        cooldown=parse_duration(scaling.scale_down_cooldown),
    )


def state_from_status(saved: AutoscalingStatus | None, replicas: int) -> State:
    """The saved state, or a fresh one starting at ``replicas``."""
    if saved is None:
        return State(replicas)
    return State(
        replicas=saved.desired_replicas,
        breach_since=seconds(saved.breach_since),
        low_since=seconds(saved.low_since),
        low_peak=saved.low_peak,
        last_scale_up=seconds(saved.last_scale_up_at),
        last_scale_down=seconds(saved.last_scale_down_at),
    )


def _stamp(value: float | None) -> str | None:
    return timestamp(value) if value is not None else None


def autoscaling_body(
    step: Step, signal: float | None, gpu_limit: int | None, now: float
) -> dict[str, Any]:
    s = step.state
    body = {
        "desiredReplicas": s.replicas,
        "signal": signal,
        "recommended": step.recommended,
        "gpuLimit": gpu_limit,
        "reason": step.reason,
        "message": step.message,
        "evaluatedAt": timestamp(now),
        "breachSince": _stamp(s.breach_since),
        "lowSince": _stamp(s.low_since),
        "lowPeak": s.low_peak,
        "lastScaleUpAt": _stamp(s.last_scale_up),
        "lastScaleDownAt": _stamp(s.last_scale_down),
    }
    return checked(AutoscalingStatus, body)
