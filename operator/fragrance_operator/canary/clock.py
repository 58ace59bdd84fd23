"""A step's clock: when the data plane took the weight, when the gate is due, how long a
release at rest needs no tick."""

from __future__ import annotations

from dataclasses import replace

from fragrance_operator.canary.rollout import PauseReason, Plan, Rollout


def weight_set(rollout: Rollout, at: float) -> Rollout | None:
    """The rollout once its weight was written at ``at`` (None: nothing new to record)."""
    if not rollout.carrying or rollout.weight_set_at is not None:
        return None
    return replace(rollout, weight_set_at=at)


def step_clock(rollout: Rollout) -> float | None:
    """When the current step began carrying traffic (None: its weight is not written yet)."""
    if rollout.weight_set_at is None:
        return None
    return max(rollout.weight_set_at, rollout.step_started_at or 0.0)


def analysis_due(rollout: Rollout, plan: Plan, now: float) -> bool:
    """Whether the gate must be evaluated before ``advance`` can decide this tick."""
    if rollout.phase != "Progressing" or not rollout.carrying or rollout.promoting:
        return False
    since = window_start(rollout)
    return since is not None and now - since >= plan.analysis_interval


def evaluation_due(rollout: Rollout, plan: Plan, now: float) -> bool:
    """Whether the canary's evaluation before traffic must run this tick (once its
    workload is ready: the caller knows that; again an analysis interval after the last)."""
    waiting = rollout.phase == "Progressing" and rollout.canary_active and not rollout.carrying
    if not (plan.evaluation and waiting) or rollout.evaluated or rollout.promoting:
        return False
    last = rollout.last_analysis_at
    return last is None or now - last >= plan.analysis_interval


def window_start(rollout: Rollout) -> float | None:
    """Where the next gate's window may begin: after the last gate and the step's clock
    (a resume restarts it too, so no window spans the pause)."""
    clock = step_clock(rollout)
    if clock is None:
        return None
    return max(clock, rollout.last_analysis_at or clock)


def quiet_until(rollout: Rollout, plan: Plan, now: float, resync: float) -> float:
    """Until when a tick can decide nothing new unless the object itself changes.

    A spec edit or an action annotation changes the object, so the caller ticks again at
    once; what changes by itself is time (the next gate, the deadline), readiness while
    waiting for a track or a canary that lost its pods, and VRAM headroom while it holds
    the canary. ``resync`` bounds the wait, so the world is still converged (drift
    repaired) at least that often.
    """
    unready = not rollout.carrying or rollout.unready_since is not None
    waiting = rollout.promoting or (rollout.canary_active and unready)
    held = (PauseReason.SCALE_UP_BLOCKED, PauseReason.CANARY_UNAVAILABLE)
    if waiting or rollout.pause_reason in held:
        return now
    if rollout.phase != "Progressing":
        return now + resync
    since = window_start(rollout)
    if since is None:
        return now  # the weight is not known written: converge and confirm it
    due = since + plan.analysis_interval
    deadline = (rollout.step_started_at or now) + plan.progress_deadline
    return min(due, deadline, now + resync)
