"""The canary state machine: pure, typed, no I/O.

``advance(rollout, plan, observation)`` returns the next rollout state and what happened.
The operator persists the state in ``status`` first and only then converges the world to it
(workloads, traffic weight), so a crash between the two repeats nothing and skips nothing:
the step counter moves exactly once, in the status write.

Rules: a step advances only on a GO gate after ``stepInterval`` at that step,
timed from when the data plane was seen carrying its weight (``weight_set``), and a gate
whose window reaches back before that moment, or that is older than its window, decides
nothing;
NO-GO beyond ``failureLimit`` rolls back; ``inconclusiveLimit`` INCONCLUSIVE results in a row
pause (or roll back, per ``onInconclusive``); WARNING holds the step and pauses after the
same limit; no progress within ``progressDeadline`` fails the rollout back to stable.
The types it speaks in (``Rollout``, ``Plan``, ``Observation``, ``Transition``...) are in
``rollout.py``, the step's clock in ``clock.py``; both re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from fragrance_operator.canary.clock import analysis_due, quiet_until, step_clock, weight_set
from fragrance_operator.canary.rollout import (
    Action,
    Decision,
    Event,
    Finished,
    Gate,
    Observation,
    Outcome,
    PauseReason,
    Phase,
    Plan,
    Rollout,
    Transition,
)

__all__ = [
    "Action",
    "Decision",
    "Event",
    "Finished",
    "Gate",
    "Observation",
    "Outcome",
    "PauseReason",
    "Phase",
    "Plan",
    "Rollout",
    "Transition",
    "advance",
    "analysis_due",
    "quiet_until",
    "weight_set",
]


@dataclass
class _Builder:
    rollout: Rollout
    events: list[Event] = field(default_factory=list)
    finished: Finished | None = None

    def __post_init__(self) -> None:
        self.before = self.rollout

    def set(self, **changes: object) -> None:
        self.rollout = replace(self.rollout, **changes)  # type: ignore[arg-type]

    def emit(self, reason: str, message: str, warning: bool = False) -> None:
        self.events.append(Event(reason, message, warning))

    def done(self, action_consumed: bool = False) -> Transition:
        if self.rollout.weight != self.before.weight:
            # A new weight is not in the data plane until the converge after this write.
            self.set(weight_set_at=None)
        return Transition(self.rollout, tuple(self.events), self.finished, action_consumed)


def advance(rollout: Rollout, plan: Plan, obs: Observation) -> Transition:
    b = _Builder(rollout)
    r = b.rollout
    if r.promoting:
        # The canary carries all the traffic until the stable track is Ready with its
        # version (a Deployment rebuilt; on rayServe the two applications' roles swapped):
        # nothing (a new spec, an abort, a retry) may move traffic back to a stable that is
        # not Ready. The promotion finishes first; an action waits unconsumed.
        if obs.stable_ready:
            _finish_promotion(b)
        return b.done()
    if obs.action is not None:
        return _apply_action(b, plan, obs)
    if r.stable_version is None and r.canary_version is None:
        _initialise(b, plan)
    elif r.phase == "Progressing" and not r.canary_active:
        _first_version(b, plan, obs)
    elif r.canary_active and plan.spec_hash == r.stable_hash:
        _rollback(b, "RolledBack", "the spec was set back to the stable version")
    elif plan.spec_hash not in (r.canary_hash, r.stable_hash):
        _start(b, plan, obs.now)
        _capacity(b, obs)
    elif r.canary_active:
        _capacity(b, obs)
        _suspension(b, plan, obs.now)
        if b.rollout.phase == "Progressing":
            _progress(b, plan, obs)
    return b.done()


def _initialise(b: _Builder, plan: Plan) -> None:
    """The first version goes straight to stable; it has Succeeded once its pods are Ready."""
    b.set(
        phase="Progressing",
        stable_version=plan.version,
        stable_image=plan.image,
        stable_hash=plan.spec_hash,
    )
    b.emit("Initializing", f"{plan.version} deploying as the first stable version (no canary)")


def _first_version(b: _Builder, plan: Plan, obs: Observation) -> None:
    if plan.spec_hash != b.rollout.stable_hash:  # edited before it was Ready: deploy that
        _initialise(b, plan)
    elif obs.stable_ready:
        b.set(phase="Succeeded")
        b.emit("Initialized", f"{plan.version} is Ready as the first stable version")


def _start(b: _Builder, plan: Plan, now: float) -> None:
    restarted = b.rollout.canary_active
    b.set(
        phase="Progressing",
        canary_version=plan.version,
        canary_image=plan.image,
        canary_hash=plan.spec_hash,
        step=0,
        weight=0,
        step_started_at=now,
        last_analysis_at=None,
        nogo_count=0,
        inconclusive_streak=0,
        last_decision=None,
        pause_reason=None,
        promoting=False,
    )
    if restarted:
        b.emit("Restarted", f"spec changed mid-rollout: analysing {plan.version} from step 1")
    else:
        b.emit("Started", f"canary of {plan.version} started; waiting for its workload")


def _capacity(b: _Builder, obs: Observation) -> None:
    """Hold a canary whose pods are not started yet while the VRAM floor forbids them."""
    r = b.rollout
    waiting = r.weight == 0 and not r.promoting
    if obs.scale_up_blocked and waiting and r.phase == "Progressing":
        b.set(phase="Paused", pause_reason=PauseReason.SCALE_UP_BLOCKED)
        b.emit("ScaleUpBlocked", f"canary pods held: {obs.capacity_message}", True)
    elif not obs.scale_up_blocked and r.pause_reason == PauseReason.SCALE_UP_BLOCKED:
        b.set(phase="Progressing", pause_reason=None, step_started_at=obs.now)
        b.emit("ScaleUpAllowed", f"starting the canary: {obs.capacity_message}")


def _suspension(b: _Builder, plan: Plan, now: float) -> None:
    r = b.rollout
    if plan.suspend and r.phase == "Progressing":
        b.set(phase="Paused", pause_reason=PauseReason.SUSPENDED)
        b.emit("Suspended", f"spec.suspend is true; holding at {r.weight}%")
    elif not plan.suspend and r.pause_reason == PauseReason.SUSPENDED:
        b.set(phase="Progressing", pause_reason=None, step_started_at=now, inconclusive_streak=0)
        b.emit("Resumed", "spec.suspend is false again")


def _progress(b: _Builder, plan: Plan, obs: Observation) -> None:
    r = b.rollout
    started = r.step_started_at if r.step_started_at is not None else obs.now
    if obs.now - started > plan.progress_deadline:
        where = f"step {r.step + 1} ({r.weight}%)" if r.weight else "waiting for the canary"
        _rollback(b, "Failed", f"no progress at {where} within the progress deadline")
        return
    if r.weight == 0:
        if obs.canary_ready:
            b.set(weight=plan.steps[0], step=0, step_started_at=obs.now, last_analysis_at=None)
            b.emit("Progressing", f"canary ready; step 1: {plan.steps[0]}% of traffic")
        return
    if obs.gate is None or not analysis_due(r, plan, obs.now):
        return
    stale = _stale(r, plan, obs.gate, obs.now)
    if stale:
        b.emit("GateDiscarded", f"{obs.gate.decision} at {r.weight}% not acted on: {stale}")
        return
    _judge(b, plan, obs.gate, obs.now)


def _stale(r: Rollout, plan: Plan, gate: Gate, now: float) -> str:
    """Why a gate result must not decide this step ('' when it may)."""
    if gate.evaluated_at is None:
        return ""
    clock = step_clock(r)
    if clock is not None and gate.evaluated_at - plan.analysis_interval < clock:
        return "its window began before this step's weight was written"
    age = now - (gate.evaluated_at + gate.took)
    if age > plan.analysis_interval:
        return f"it was {age:.0f}s old when applied, older than its window"
    return ""


def _judge(b: _Builder, plan: Plan, gate: Gate, now: float) -> None:
    r = b.rollout
    b.set(last_analysis_at=now, last_decision=gate.decision)
    detail = f": {gate.summary}" if gate.summary else ""
    if gate.decision == "NO-GO":
        count = r.nogo_count + 1
        b.set(nogo_count=count, inconclusive_streak=0)
        if count > plan.failure_limit:
            _rollback(b, "RolledBack", f"gate NO-GO at {r.weight}%{detail}")
        else:
            b.emit("GateNoGo", f"NO-GO {count} of {plan.failure_limit} tolerated{detail}", True)
        return
    if gate.decision in ("INCONCLUSIVE", "WARNING"):
        streak = r.inconclusive_streak + 1
        b.set(inconclusive_streak=streak)
        if streak < plan.inconclusive_limit:
            b.emit(f"Gate{gate.decision.title()}", f"{gate.decision} at {r.weight}%{detail}", True)
        elif gate.decision == "INCONCLUSIVE" and plan.on_inconclusive == "rollback":
            _rollback(b, "RolledBack", f"gate INCONCLUSIVE {streak} times in a row{detail}")
        else:
            reason = (
                PauseReason.INCONCLUSIVE if gate.decision == "INCONCLUSIVE" else PauseReason.WARNING
            )
            b.set(phase="Paused", pause_reason=reason)
            b.emit("Paused", f"gate {gate.decision} {streak} times in a row{detail}", True)
        return
    b.set(inconclusive_streak=0)
    clock = step_clock(r)
    if clock is None or now - clock < plan.step_interval:
        return
    if r.step + 1 >= len(plan.steps):
        _begin_promotion(b, "all steps passed their gates")
    elif plan.manual_promotion and r.step + 2 == len(plan.steps):
        b.set(phase="Paused", pause_reason=PauseReason.AWAITING_PROMOTION)
        b.emit("AwaitingPromotion", f"gate GO at {r.weight}%; promote to go to 100%")
    else:
        step = r.step + 1
        b.set(
            step=step,
            weight=plan.steps[step],
            step_started_at=now,
            last_analysis_at=None,
            nogo_count=0,
        )
        b.emit("StepAdvanced", f"gate GO; step {step + 1}: {plan.steps[step]}% of traffic")


def _begin_promotion(b: _Builder, why: str) -> None:
    r = b.rollout
    b.set(
        phase="Progressing",
        pause_reason=None,
        promoting=True,
        weight=100,
        stable_version=r.canary_version,
        stable_image=r.canary_image,
        stable_hash=r.canary_hash,
    )
    b.emit("Promoting", f"{why}; making {r.canary_version} the stable version")


def _finish_promotion(b: _Builder) -> None:
    r = b.rollout
    b.set(phase="Succeeded", promoting=False, weight=0, pause_reason=None)
    b.finished = Finished(r.canary_version or "", "Succeeded", "promoted")
    b.emit("Promoted", f"{r.canary_version} is stable; canary removed")


def _rollback(b: _Builder, outcome: Outcome, reason: str) -> None:
    r = b.rollout
    phase: Phase = "Failed" if outcome == "Failed" else "RolledBack"
    b.set(phase=phase, weight=0, promoting=False, pause_reason=None)
    b.finished = Finished(r.canary_version or "", outcome, reason)
    b.emit(outcome if outcome != "Aborted" else "Aborted", reason, True)


def _apply_action(b: _Builder, plan: Plan, obs: Observation) -> Transition:
    r = b.rollout
    action = obs.action
    if action == Action.ABORT and r.canary_active:
        _rollback(b, "Aborted", "aborted by a user")
    elif action == Action.PROMOTE and r.canary_active and not obs.canary_ready:
        # All the traffic would go to a canary that cannot answer: the action waits.
        return b.done(action_consumed=False)
    elif action == Action.PROMOTE and r.canary_active:
        _begin_promotion(b, "promoted by a user")
    elif action == Action.PAUSE and r.phase == "Progressing":
        b.set(phase="Paused", pause_reason=PauseReason.USER)
        b.emit("Paused", f"paused by a user at {r.weight}%")
    elif (
        action == Action.RESUME
        and r.phase == "Paused"
        # Both lift by themselves: spec.suspend unset, VRAM headroom recovered.
        and r.pause_reason not in (PauseReason.SUSPENDED, PauseReason.SCALE_UP_BLOCKED)
    ):
        b.set(phase="Progressing", pause_reason=None, step_started_at=obs.now)
        b.set(inconclusive_streak=0)
        b.emit("Resumed", f"resumed by a user at {r.weight}%")
    elif (
        action == Action.RETRY
        and r.phase in ("RolledBack", "Failed")
        and plan.spec_hash != r.stable_hash
    ):
        b.set(canary_hash=None)
        _start(b, plan, obs.now)
    else:
        b.emit("ActionIgnored", f"{action} does nothing in phase {r.phase}", True)
    return b.done(action_consumed=True)
