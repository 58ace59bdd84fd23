"""``FragranceRelease`` status: what the operator observed and did."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from .base import Condition, KubeModel

Decision = Literal["GO", "WARNING", "NO-GO", "INCONCLUSIVE"]
Phase = Literal["Pending", "Progressing", "Paused", "Succeeded", "RolledBack", "Failed"]


class GateCheck(KubeModel):
    """One check of a gate evaluation."""

    name: str = Field(description="Check name (a built-in check or a spec metric).")
    value: float | None = Field(default=None, description="Measured value; absent if no data.")
    threshold: float | None = Field(default=None, description="Threshold it was compared with.")
    stable_value: float | None = Field(
        default=None, description="Stable's value in the same window, for a comparison."
    )
    sample: float | None = Field(
        default=None, description="Canary requests the value is over, where the check counts."
    )
    result: Decision = Field(description="This check's verdict.")
    message: str = Field(default="", description="Why, in words.")


class GateStatus(KubeModel):
    decision: Decision = Field(description="GO, WARNING, NO-GO or INCONCLUSIVE.")
    evaluated_at: str | None = Field(
        default=None,
        description="When the gate was evaluated (RFC 3339).",
        json_schema_extra={"format": "date-time"},
    )
    checks: list[GateCheck] = Field(
        default_factory=list, max_length=64, description="Every check of the evaluation."
    )


class EvaluationStatus(GateStatus):
    """The evaluation before traffic of one canary version."""

    version: str = Field(description="The canary version evaluated.")
    seconds: float | None = Field(default=None, ge=0, description="Wall time it took.")


class HistoryEntry(KubeModel):
    """A finished rollout."""

    version: str = Field(description="Version that was rolled out.")
    outcome: Literal["Succeeded", "RolledBack", "Failed", "Aborted"] = Field(
        description="How the rollout ended."
    )
    reason: str = Field(default="", description="Why it ended that way.")
    finished_at: str | None = Field(
        default=None,
        description="When it ended (RFC 3339).",
        json_schema_extra={"format": "date-time"},
    )


HISTORY_LIMIT = 20


class AnalysisProgress(KubeModel):
    """Counters of the analysis at the current step (reset when the step advances)."""

    last_evaluated_at: str | None = Field(
        default=None,
        description="When the gate was last evaluated at this step (RFC 3339).",
        json_schema_extra={"format": "date-time"},
    )
    no_go_count: int = Field(default=0, ge=0, description="NO-GO results at this step.")
    inconclusive_streak: int = Field(
        default=0, ge=0, description="INCONCLUSIVE or WARNING results in a row."
    )


def _time(description: str) -> Any:
    return Field(default=None, description=description, json_schema_extra={"format": "date-time"})


class AutoscalingStatus(KubeModel):
    """The autoscaler's memory (spec.scaling.autoscale), so a restart resumes its windows."""

    desired_replicas: int = Field(ge=0, description="Stable worker replicas the autoscaler wants.")
    signal: float | None = Field(default=None, description="Last load signal read.")
    recommended: int | None = Field(
        default=None, ge=0, description="Replicas the last signal asked for, within bounds."
    )
    gpu_limit: int | None = Field(
        default=None, ge=0, description="Replicas the nodes' allocatable nvidia.com/gpu can host."
    )
    reason: str = Field(default="", description="ScaledUp, ScaledDown, ScaleUpPending, ...")
    message: str = Field(default="", description="The last decision, in words.")
    evaluated_at: str | None = _time("When the signal was last read (RFC 3339).")
    breach_since: str | None = _time("Since when the signal has asked for more replicas.")
    low_since: str | None = _time("Since when the signal has asked for fewer replicas.")
    low_peak: int | None = Field(
        default=None, ge=0, description="Highest recommendation since lowSince."
    )
    last_scale_up_at: str | None = _time("Last scale-up (RFC 3339).")
    last_scale_down_at: str | None = _time("Last scale-down (RFC 3339).")


class FragranceReleaseStatus(KubeModel):
    """What the operator observed and did; it resumes from here after a restart."""

    observed_generation: int = Field(
        default=0, ge=0, description="metadata.generation last acted upon."
    )
    phase: Phase = Field(default="Pending", description="Where the rollout stands.")
    stable_version: str | None = Field(default=None, description="Version serving by default.")
    canary_version: str | None = Field(default=None, description="Version under canary.")
    canary_weight: int = Field(default=0, ge=0, le=100, description="Percent sent to canary.")
    canary_mirror: int = Field(
        default=0, ge=0, le=100, description="Percent of stable's requests mirrored to canary."
    )
    shadowed: bool = Field(default=False, description="The canary's shadow phase is done.")
    current_step: int = Field(default=0, ge=0, description="Index into spec.canary.steps.")
    step_started_at: str | None = Field(
        default=None,
        description="When the current step began (RFC 3339).",
        json_schema_extra={"format": "date-time"},
    )
    weight_set_at: str | None = Field(
        default=None,
        description="When the data plane was last seen carrying canaryWeight (RFC 3339); the "
        "step's analysis and interval are timed from it, not from the decision.",
        json_schema_extra={"format": "date-time"},
    )
    canary_unready_since: str | None = Field(
        default=None,
        description="Since when the canary has not been Ready at a step with weight (RFC "
        "3339); after one analysis interval its share goes back to stable "
        "(pauseReason CanaryUnavailable) until it is Ready again.",
        json_schema_extra={"format": "date-time"},
    )
    stable_image: str | None = Field(default=None, description="Image of the stable version.")
    stable_hash: str | None = Field(
        default=None, description="Hash of the workload fields of the stable version."
    )
    canary_image: str | None = Field(default=None, description="Image under canary.")
    canary_hash: str | None = Field(
        default=None, description="Hash of the workload fields under canary."
    )
    stable_policy: str | None = Field(
        default=None,
        description="Digest of the TuningPolicy serving settings the stable track runs "
        "(rollout: canary; see the TuningPolicy's status.rollouts).",
    )
    canary_policy: str | None = Field(
        default=None, description="Digest of the TuningPolicy serving settings under canary."
    )
    promoting: bool = Field(
        default=False,
        description="True while the stable workload takes the new version at 100% canary.",
    )
    pause_reason: str | None = Field(
        default=None,
        description="Why the rollout is paused: PausedByUser, Suspended, AwaitingPromotion, "
        "GateInconclusive, GateWarning, ScaleUpBlocked or CanaryUnavailable.",
    )
    analysis: AnalysisProgress | None = Field(
        default=None, description="Analysis counters at the current step."
    )
    gate: GateStatus | None = Field(default=None, description="The last gate evaluation.")
    evaluation: EvaluationStatus | None = Field(
        default=None, description="The canary's evaluation before traffic, when enabled."
    )
    autoscaling: AutoscalingStatus | None = Field(
        default=None, description="The autoscaler's state, when spec.scaling.autoscale is on."
    )
    conditions: list[Condition] = Field(
        default_factory=list,
        description="Ready, Reconciling, Stalled (kstatus) and ScaleUpBlocked.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    history: list[HistoryEntry] = Field(
        default_factory=list,
        max_length=HISTORY_LIMIT,
        description=f"Finished rollouts, newest last (at most {HISTORY_LIMIT}).",
    )
