"""Sizing the stable GPU worker from a load signal, HPA-style, with its guards.

The recommendation is ``ceil(replicas * signal / target)`` (ignored within a 10% tolerance),
clamped to ``[minReplicas, maxReplicas]`` and to the replicas the nodes' allocatable
``nvidia.com/gpu`` can host. A scale-up waits until the breach has lasted ``scaleUpAfter``;
a scale-down waits until every recommendation for a whole ``scaleDownCooldown`` was lower,
and no scale-up happened within it, then goes to the highest of those recommendations
(Kubernetes' scale-down stabilisation window): no flapping. No data holds the size.
The VRAM floor is applied later, to the write, like any other increase.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

TOLERANCE = 0.1


@dataclass(frozen=True)
class Policy:
    minimum: int
    maximum: int
    target: float
    scale_up_after: float
    cooldown: float


@dataclass(frozen=True)
class State:
    replicas: int
    breach_since: float | None = None
    low_since: float | None = None
    low_peak: int | None = None  # highest recommendation since low_since
    last_scale_up: float | None = None
    last_scale_down: float | None = None


@dataclass(frozen=True)
class Step:
    state: State
    recommended: int | None
    reason: str  # the condition/Event reason: ScaledUp, ScaledDown, Holding...
    message: str

    @property
    def scaled(self) -> bool:
        return self.reason in ("ScaledUp", "ScaledDown")


def recommend(replicas: int, signal: float, policy: Policy, gpu_limit: int | None) -> int:
    """Replicas the signal asks for, within the bounds and the GPUs the nodes have."""
    ratio = signal / policy.target if policy.target > 0 else 1.0
    wanted = replicas if abs(ratio - 1) <= TOLERANCE else math.ceil(max(replicas, 1) * ratio)
    if replicas == 0 and signal > 0:
        wanted = max(wanted, 1)
    bounded = min(max(wanted, policy.minimum), policy.maximum)
    if gpu_limit is not None and bounded > replicas:
        # The GPU limit caps growth only; it never shrinks what already runs.
        bounded = max(replicas, min(bounded, gpu_limit))
    return bounded


def step(
    state: State,
    policy: Policy,
    signal: float | None,
    now: float,
    gpu_limit: int | None = None,
    serving: int | None = None,
) -> Step:
    """One autoscaling decision; pure, so it is tested with an injected clock.

    ``serving`` is how many replicas produced ``signal`` (default: ``state.replicas``). The
    recommendation scales those, as the HPA scales its current replicas: while the VRAM
    floor holds an increase, the size aimed for and the size running differ, and scaling
    the former by a per-running-replica signal would compound the increase on every read.
    """
    outside = min(max(state.replicas, policy.minimum), policy.maximum)
    if outside != state.replicas:
        up = outside > state.replicas
        moved = replace(
            state,
            replicas=outside,
            breach_since=None,
            low_since=None,
            low_peak=None,
            last_scale_up=now if up else state.last_scale_up,
            last_scale_down=state.last_scale_down if up else now,
        )
        direction = "ScaledUp" if up else "ScaledDown"
        return Step(
            moved,
            outside,
            direction,
            f"{state.replicas} → {outside} replicas: bounds are "
            f"[{policy.minimum}, {policy.maximum}]",
        )
    if signal is None or not math.isfinite(signal):
        held = replace(state, breach_since=None, low_since=None, low_peak=None)
        return Step(held, None, "NoSignal", f"holding {state.replicas} replicas: no signal")
    basis = state.replicas if serving is None else serving
    wanted = recommend(basis, signal, policy, gpu_limit)
    reading = f"signal {signal:.3g} against target {policy.target:.3g}"
    if wanted > state.replicas:
        since = state.breach_since if state.breach_since is not None else now
        waiting = replace(state, breach_since=since, low_since=None, low_peak=None)
        if now - since < policy.scale_up_after:
            left = policy.scale_up_after - (now - since)
            return Step(
                waiting,
                wanted,
                "ScaleUpPending",
                f"{reading}: {wanted} replicas wanted, breach must last {left:.0f}s more",
            )
        grown = replace(waiting, replicas=wanted, breach_since=None, last_scale_up=now)
        return Step(grown, wanted, "ScaledUp", f"{state.replicas} → {wanted} replicas: {reading}")
    if wanted < state.replicas:
        since = state.low_since if state.low_since is not None else now
        peak = max(wanted, state.low_peak or 0) if state.low_since is not None else wanted
        low = replace(state, breach_since=None, low_since=since, low_peak=peak)
        recent_up = state.last_scale_up is not None and now - state.last_scale_up < policy.cooldown
        if now - since < policy.cooldown or recent_up:
            return Step(
                low,
                wanted,
                "ScaleDownPending",
                f"{reading}: {peak} replicas would do, waiting out the {policy.cooldown:.0f}s "
                "cooldown",
            )
        shrunk = replace(low, replicas=peak, low_since=None, low_peak=None, last_scale_down=now)
        return Step(shrunk, peak, "ScaledDown", f"{state.replicas} → {peak} replicas: {reading}")
    steady = replace(state, breach_since=None, low_since=None, low_peak=None)
    limited = gpu_limit is not None and wanted == gpu_limit and wanted < policy.maximum
    why = f"; the nodes' GPUs host {gpu_limit} at most" if limited else ""
    return Step(steady, wanted, "Steady", f"{state.replicas} replicas: {reading}{why}")


def gpu_limit(allocatable: int, used_by_others: int, gpus_per_replica: int) -> int | None:
    """Replicas the nodes' free ``nvidia.com/gpu`` can host (None: the worker needs none)."""
    if gpus_per_replica <= 0:
        return None
    return max(allocatable - used_by_others, 0) // gpus_per_replica


@dataclass(frozen=True)
class Sizing:
    """The autoscaler's part of one tick."""

    replicas: int  # stable replicas to aim for (the VRAM floor may still hold an increase)
    body: dict[str, Any] | None = None  # status.autoscaling to write; None: unchanged
    step: Step | None = None  # set when a decision was taken this tick
