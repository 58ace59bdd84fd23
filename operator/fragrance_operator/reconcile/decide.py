"""The decision of one tick, pure: what was observed → the new rollout, the status to write,
the events to post, whether the action annotation goes. No I/O here: tested like the machine."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fragrance_api.release_status import FragranceReleaseStatus
from fragrance_operator.canary import status as codec
from fragrance_operator.canary.autoscale import Sizing
from fragrance_operator.canary.capacity import Capacity
from fragrance_operator.canary.delivery import Delivery
from fragrance_operator.canary.gate import Verdict
from fragrance_operator.canary.machine import (
    Action,
    Event,
    Gate,
    Observation,
    Plan,
    Rollout,
    advance,
)
from fragrance_operator.canary.serving import Serving
from fragrance_operator.canary.status import Evaluated


@dataclass(frozen=True)
class Observed:
    """One tick's view of the world, as the pure decision takes it."""

    now: float
    canary_ready: bool
    stable_ready: bool
    sizing: Sizing
    capacity: Capacity | None  # None: no GPU scale-up waits, headroom not read
    verdict: Verdict | None = None  # the gate's, when a step was due
    gate: Gate | None = None
    decided_at: float = 0.0  # perf_counter when the gate decided (the weight-change timer)
    serving: Serving | None = None  # the platform's readiness, where it has one (RayService)
    evaluation: Evaluated | None = None  # the evaluation before traffic, when one ran
    delivery: Delivery | None = None  # the notifications' last results, when any were sent


@dataclass(frozen=True)
class Decision:
    rollout: Rollout  # what the world converges to
    status: dict[str, Any] | None  # the status to write; None: nothing the status says changed
    events: tuple[Event, ...] = ()  # transitions: posted and counted once the status is written
    notices: tuple[Event, ...] = ()  # posted only (the scale-up floor, an unknown action)
    clear_action: bool = False  # remove the action annotation (acted on, or unknown)
    action_consumed: bool = False


def parse_action(raw: str | None) -> Action | None:
    try:
        return Action(raw.strip().lower()) if raw else None
    except ValueError:
        return None


def decide(
    rollout: Rollout,
    plan: Plan,
    previous: FragranceReleaseStatus | None,
    generation: int,
    raw_action: str | None,
    seen: Observed,
) -> Decision:
    action = parse_action(raw_action)
    capacity, sizing = seen.capacity, seen.sizing
    blocked_now = capacity is not None and capacity.blocked
    observation = Observation(
        seen.now,
        seen.canary_ready,
        seen.stable_ready,
        seen.gate,
        action,
        evaluation=_as_gate(seen.evaluation),
        scale_up_blocked=blocked_now,
        capacity_message=capacity.message if capacity else "",
    )
    transition = advance(rollout, plan, observation)
    new = transition.rollout
    blocked_before, reason_before = _condition(previous, "ScaleUpBlocked")
    reason_now = capacity.reason if capacity else "NoScaleUpPending"
    _, serving_reason = _condition(previous, "ServingReady")
    serving = seen.serving
    _, delivery_reason = _condition(previous, "NotificationsDelivered")
    delivery = seen.delivery
    changed = (
        new != rollout
        or seen.verdict is not None
        or seen.evaluation is not None
        or previous is None
        or previous.observed_generation != generation
        or (reason_before or "NoScaleUpPending") != reason_now
        or sizing.body is not None
        or (serving is not None and serving.reason != serving_reason)
        or (delivery is not None and delivery.reason != delivery_reason)
    )
    clear = raw_action is not None and (transition.action_consumed or action is None)
    notices: list[Event] = []
    if raw_action is not None and action is None:
        notices.append(Event("UnknownAction", f"unknown action {raw_action!r}", warning=True))
    if not changed:
        return Decision(new, None, (), tuple(notices), clear, transition.action_consumed)
    status = codec.status_body(
        new,
        generation=generation,
        now=seen.now,
        previous=previous,
        verdict=seen.verdict,
        finished=transition.finished,
        capacity=capacity,
        serving=serving,
        evaluation=seen.evaluation,
        delivery=delivery,
    )
    if sizing.body is not None:
        status["autoscaling"] = sizing.body or None
    events = list(transition.events)
    if sizing.step is not None and sizing.step.scaled:
        events.append(Event(sizing.step.reason, sizing.step.message))
    if serving is not None and serving.reason != serving_reason:
        notices.append(Event(serving.reason, serving.message, warning=not serving.ready))
    if capacity is not None and (blocked_before == "True") != blocked_now:
        reason = "ScaleUpBlocked" if blocked_now else "ScaleUpAllowed"
        notices.insert(0, Event(reason, capacity.message, warning=blocked_now))
    return Decision(new, status, tuple(events), tuple(notices), clear, transition.action_consumed)


def _as_gate(evaluated: Evaluated | None) -> Gate | None:
    if evaluated is None:
        return None
    verdict = evaluated.verdict
    return Gate(verdict.decision, verdict.summary, None, evaluated.seconds)


def _condition(status: FragranceReleaseStatus | None, kind: str) -> tuple[str, str]:
    """(status, reason) of a condition, empty strings when absent."""
    for condition in status.conditions if status else []:
        if condition.type == kind:
            return condition.status, condition.reason
    return "", ""
