"""A canary that loses its pods under traffic (deleted, evicted, crashing): its share goes
back to stable until it is Ready again, at the step it had reached.

A readiness blip shorter than one analysis interval moves no traffic, so a replica restart
does not send users back and forth; a GO in that time is held (``GateHeld``), a NO-GO still
rolls back. A canary not Ready again within the progress deadline is rolled back.
"""

from __future__ import annotations

from fragrance_operator.canary.rollout import Observation, PauseReason, Plan
from fragrance_operator.canary.transitions import Builder, rollback


def withdrawn(b: Builder, plan: Plan, obs: Observation) -> bool:
    """At a step with weight: True when the canary's share was just taken back to stable."""
    r = b.rollout
    if r.weight == 0 or r.promoting:
        return False
    if obs.canary_ready:
        if r.unready_since is not None:
            b.set(unready_since=None)
        return False
    since = obs.now if r.unready_since is None else r.unready_since
    if r.unready_since is None:
        b.set(unready_since=since)
    if obs.now - since < plan.analysis_interval:
        return False
    b.set(phase="Paused", pause_reason=PauseReason.CANARY_UNAVAILABLE, weight=0)
    b.emit(
        "CanaryUnavailable",
        f"canary not Ready for {obs.now - since:.0f}s: its {r.weight}% of traffic goes to "
        "stable until it is",
        True,
    )
    return True


def restore(b: Builder, plan: Plan, obs: Observation) -> None:
    """Withdrawn: the step's weight again once the canary is Ready (the step timed from
    then, its gate judging only what came after)."""
    r = b.rollout
    if obs.canary_ready:
        weight = plan.steps[min(r.step, len(plan.steps) - 1)]
        b.set(
            phase="Progressing",
            pause_reason=None,
            weight=weight,
            step_started_at=obs.now,
            last_analysis_at=None,
            unready_since=None,
        )
        b.emit("CanaryAvailable", f"canary Ready again; step {r.step + 1}: {weight}% of traffic")
    elif r.unready_since is not None and obs.now - r.unready_since > plan.progress_deadline:
        rollback(b, "Failed", f"canary not Ready again within the progress deadline at step "
                 f"{r.step + 1}")  # fmt: skip
