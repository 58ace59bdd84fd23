"""The canary's state and what moves it: the rollout kept in status, the plan from the spec,
one tick's observation, and the transition ``advance()`` returns. Data only."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

Decision = Literal["GO", "WARNING", "NO-GO", "INCONCLUSIVE"]
Phase = Literal["Pending", "Progressing", "Paused", "Succeeded", "RolledBack", "Failed"]
Outcome = Literal["Succeeded", "RolledBack", "Failed", "Aborted"]


class Action(StrEnum):
    """Manual controls (annotation ``fragrance.ai/action`` or the kubectl plugin)."""

    PROMOTE = "promote"  # make the canary stable now, skipping the remaining steps
    ABORT = "abort"  # roll back now
    PAUSE = "pause"
    RESUME = "resume"
    RETRY = "retry"  # start a rolled-back or failed release again, same spec


class PauseReason(StrEnum):
    USER = "PausedByUser"
    SUSPENDED = "Suspended"
    AWAITING_PROMOTION = "AwaitingPromotion"
    INCONCLUSIVE = "GateInconclusive"
    WARNING = "GateWarning"
    SCALE_UP_BLOCKED = "ScaleUpBlocked"  # the canary's pods would cross the VRAM floor
    CANARY_UNAVAILABLE = "CanaryUnavailable"  # its pods lost: its share back to stable


@dataclass(frozen=True)
class Plan:
    """What the spec asks for, in the machine's terms (durations in seconds)."""

    version: str
    image: str
    spec_hash: str  # hash of the fields that change the workload (the policy's settings too)
    steps: tuple[int, ...]
    step_interval: float
    analysis_interval: float
    progress_deadline: float
    failure_limit: int = 0
    inconclusive_limit: int = 3
    on_inconclusive: Literal["pause", "rollback"] = "pause"
    manual_promotion: bool = False
    suspend: bool = False
    evaluation: bool = False  # evaluate the canary before its first step
    shadow_percent: int = 0  # mirror this share of stable's requests before the first step
    shadow_duration: float = 0.0
    settings: str | None = None  # the TuningPolicy's serving settings, when canaried


@dataclass(frozen=True)
class Rollout:
    """The state the operator keeps in ``status`` (its only memory)."""

    phase: Phase = "Pending"
    stable_version: str | None = None
    stable_image: str | None = None
    stable_hash: str | None = None
    canary_version: str | None = None
    canary_image: str | None = None
    canary_hash: str | None = None
    stable_settings: str | None = None  # the policy's serving settings each track runs
    canary_settings: str | None = None
    step: int = 0
    weight: int = 0
    step_started_at: float | None = None
    # When the data plane was seen carrying ``weight`` (None: not yet, or unknown). The
    # step is timed from it: a gate whose window reached back before it would judge the
    # previous weight's traffic.
    weight_set_at: float | None = None
    last_analysis_at: float | None = None
    nogo_count: int = 0
    inconclusive_streak: int = 0
    last_decision: Decision | None = None
    pause_reason: PauseReason | None = None
    promoting: bool = False
    evaluated: bool = False  # the canary passed its evaluation before traffic
    mirror: int = 0  # percent of stable's requests mirrored to the canary (shadow phase)
    shadowed: bool = False  # the shadow phase is over
    unready_since: float | None = None  # the canary not Ready at a step with weight, since

    @property
    def carrying(self) -> bool:
        """The canary takes requests: a share of users', or mirrored ones."""
        return self.weight > 0 or self.mirror > 0

    @property
    def canary_active(self) -> bool:
        return self.phase in ("Progressing", "Paused") and self.canary_version is not None

    @property
    def canary_held(self) -> bool:
        """The canary exists but must not start pods (VRAM floor)."""
        return self.pause_reason == PauseReason.SCALE_UP_BLOCKED and self.weight == 0


@dataclass(frozen=True)
class Gate:
    decision: Decision
    summary: str = ""  # the failing checks in words, for events and history
    evaluated_at: float | None = None  # when its queries were sent: its window's end
    took: float = 0.0  # seconds until the answers came back (a slow Prometheus, retries)


@dataclass(frozen=True)
class Observation:
    now: float
    canary_ready: bool = False
    stable_ready: bool = False
    gate: Gate | None = None
    action: Action | None = None
    evaluation: Gate | None = None  # the evaluation before traffic, when one ran this tick
    scale_up_blocked: bool = False  # starting canary pods would cross the VRAM floor
    capacity_message: str = ""


@dataclass(frozen=True)
class Event:
    reason: str
    message: str
    warning: bool = False


@dataclass(frozen=True)
class Finished:
    version: str
    outcome: Outcome
    reason: str


@dataclass(frozen=True)
class Transition:
    rollout: Rollout
    events: tuple[Event, ...] = ()
    finished: Finished | None = None
    action_consumed: bool = False
