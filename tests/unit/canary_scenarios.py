"""Scenarios for the canary state machine, shared by the tests of what is built on it."""

from __future__ import annotations

from fragrance_operator.canary.machine import Gate, Observation, Plan, Rollout, advance, weight_set

PLAN = Plan(
    version="v2",
    image="serving:v2",
    spec_hash="h2",
    steps=(1, 5, 25, 100),
    step_interval=60,
    analysis_interval=30,
    progress_deadline=600,
)
STABLE = Rollout(
    phase="Succeeded", stable_version="v1", stable_image="serving:v1", stable_hash="h1"
)


def run(rollout: Rollout, plan: Plan, now: float, **obs: object) -> Rollout:
    """One tick, with the data plane taking the new weight at once (as a converge does)."""
    r = advance(rollout, plan, Observation(now=now, **obs)).rollout  # type: ignore[arg-type]
    return weight_set(r, now) or r


def started(plan: Plan = PLAN) -> Rollout:
    """A rollout whose canary is ready and serving the first step since t=0."""
    r = run(STABLE, plan, 0)
    return run(r, plan, 0, canary_ready=True)


def go_through(r: Rollout, plan: Plan, decisions: list[str], start: float = 0) -> Rollout:
    now = start
    for decision in decisions:
        now += plan.analysis_interval
        r = run(r, plan, now, canary_ready=True, stable_ready=True, gate=Gate(decision))  # type: ignore[arg-type]
    return r
