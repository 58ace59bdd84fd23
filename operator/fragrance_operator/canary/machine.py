"""The canary state machine: pure, typed, no I/O.

``advance(rollout, plan, observation)`` returns the next rollout state and what happened.
The operator persists the state in ``status`` first and only then converges the world to it
(workloads, traffic weight), so a crash between the two repeats nothing and skips nothing:
the step counter moves exactly once, in the status write.

Rules: a step advances only on a GO gate after ``stepInterval`` at that step,
timed from when the data plane was seen carrying its weight (``weight_set``), and a gate
whose window reaches back before that moment, or that is older than its window, decides
nothing;
With ``evaluation`` planned, a ready canary is first evaluated on an evaluation set with no
user traffic: NO-GO rolls back before the first step, GO or WARNING starts it, INCONCLUSIVE
is counted like the gate's;
NO-GO beyond ``failureLimit`` rolls back; ``inconclusiveLimit`` INCONCLUSIVE results in a row
pause (or roll back, per ``onInconclusive``); WARNING holds the step and pauses after the
same limit; no progress within ``progressDeadline`` fails the rollout back to stable.
The types it speaks in (``Rollout``, ``Plan``, ``Observation``, ``Transition``...) are in
``rollout.py``, the step's clock in ``clock.py`` (both re-exported here), how a gate's or an
evaluation's result is judged in ``judging.py``, and the moves that end a rollout in
``transitions.py``.
"""

from __future__ import annotations

from fragrance_operator.canary.availability import restore, withdrawn
from fragrance_operator.canary.clock import analysis_due, quiet_until, weight_set
from fragrance_operator.canary.judging import judge_evaluation, judge_gate, stale
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
from fragrance_operator.canary.transitions import (
    Builder,
    begin_promotion,
    finish_promotion,
    rollback,
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


def advance(rollout: Rollout, plan: Plan, obs: Observation) -> Transition:
    b = Builder(rollout)
    r = b.rollout
    if r.promoting:
        # The canary carries all the traffic until the stable track is Ready with its
        # version (a Deployment rebuilt; on rayServe the two applications' roles swapped):
        # nothing (a new spec, an abort, a retry) may move traffic back to a stable that is
        # not Ready. The promotion finishes first; an action waits unconsumed.
        if obs.stable_ready:
            finish_promotion(b)
        return b.done()
    if obs.action is not None:
        return _apply_action(b, plan, obs)
    if r.stable_version is None and r.canary_version is None:
        _initialise(b, plan)
    elif r.phase == "Progressing" and not r.canary_active:
        _first_version(b, plan, obs)
    elif r.canary_active and plan.spec_hash == r.stable_hash:
        rollback(b, "RolledBack", "the spec was set back to the stable version")
    elif plan.spec_hash not in (r.canary_hash, r.stable_hash) and _mode_switched(r, plan):
        _adopt_settings(b, plan)
    elif plan.spec_hash not in (r.canary_hash, r.stable_hash):
        _start(b, plan, obs.now)
        _capacity(b, obs)
    elif r.canary_active:
        _capacity(b, obs)
        _suspension(b, plan, obs.now)
        if b.rollout.phase == "Progressing":
            _progress(b, plan, obs)
        elif b.rollout.pause_reason == PauseReason.CANARY_UNAVAILABLE:
            restore(b, plan, obs)
    return b.done()


def _initialise(b: Builder, plan: Plan) -> None:
    """The first version goes straight to stable; it has Succeeded once its pods are Ready."""
    b.set(
        phase="Progressing",
        stable_version=plan.version,
        stable_image=plan.image,
        stable_hash=plan.spec_hash,
        stable_settings=plan.settings,
    )
    b.emit("Initializing", f"{plan.version} deploying as the first stable version (no canary)")


def _first_version(b: Builder, plan: Plan, obs: Observation) -> None:
    if plan.spec_hash != b.rollout.stable_hash:  # edited before it was Ready: deploy that
        _initialise(b, plan)
    elif obs.stable_ready:
        b.set(phase="Succeeded")
        b.emit("Initialized", f"{plan.version} is Ready as the first stable version")


def _mode_switched(r: Rollout, plan: Plan) -> bool:
    """The stable version with its serving settings moved to or from not canaried (the
    TuningPolicy's rollout mode switched, or a policy appeared or went away).

    Not canaried, the drivers give the policy to both tracks as it is, so stable already runs
    it: a canary of it would be the stable itself (on rayServe one that never gets built).
    """
    same_version = (plan.version, plan.image) == (r.stable_version, r.stable_image)
    if not same_version or plan.settings == r.stable_settings:
        return False
    only_policy_canary = not r.canary_active or r.canary_image == r.stable_image
    return None in (plan.settings, r.stable_settings) and only_policy_canary


def _adopt_settings(b: Builder, plan: Plan) -> None:
    r = b.rollout
    if r.canary_active:
        rollback(b, "Aborted", f"canary of policy settings {r.canary_settings} aborted: "
                 "the TuningPolicy's settings are no longer canaried")  # fmt: skip
    b.set(phase="Succeeded", stable_hash=plan.spec_hash, stable_settings=plan.settings)
    b.emit("SettingsApplied", f"{plan.version} runs the TuningPolicy's settings as they are")


def _start(b: Builder, plan: Plan, now: float) -> None:
    r = b.rollout
    restarted = r.canary_active
    # Only the TuningPolicy's serving settings changed: the stable image runs them as canary.
    policy_only = (plan.version, plan.image) == (r.stable_version, r.stable_image) and (
        plan.settings != r.stable_settings
    )
    what = f"{plan.version} with policy settings {plan.settings}" if policy_only else plan.version
    b.set(
        phase="Progressing",
        canary_version=plan.version,
        canary_image=plan.image,
        canary_hash=plan.spec_hash,
        canary_settings=plan.settings,
        step=0,
        weight=0,
        step_started_at=now,
        last_analysis_at=None,
        nogo_count=0,
        inconclusive_streak=0,
        last_decision=None,
        pause_reason=None,
        promoting=False,
        evaluated=False,
        mirror=0,
        shadowed=False,
        unready_since=None,
    )
    if restarted:
        b.emit("Restarted", f"spec changed mid-rollout: analysing {what} from step 1")
    else:
        b.emit("Started", f"canary of {what} started; waiting for its workload")


def _capacity(b: Builder, obs: Observation) -> None:
    """Hold a canary whose pods are not started yet while the VRAM floor forbids them."""
    r = b.rollout
    waiting = r.weight == 0 and not r.promoting
    if obs.scale_up_blocked and waiting and r.phase == "Progressing":
        b.set(phase="Paused", pause_reason=PauseReason.SCALE_UP_BLOCKED)
        b.emit("ScaleUpBlocked", f"canary pods held: {obs.capacity_message}", True)
    elif not obs.scale_up_blocked and r.pause_reason == PauseReason.SCALE_UP_BLOCKED:
        b.set(phase="Progressing", pause_reason=None, step_started_at=obs.now)
        b.emit("ScaleUpAllowed", f"starting the canary: {obs.capacity_message}")


def _suspension(b: Builder, plan: Plan, now: float) -> None:
    r = b.rollout
    if plan.suspend and r.phase == "Progressing":
        b.set(phase="Paused", pause_reason=PauseReason.SUSPENDED)
        b.emit("Suspended", f"spec.suspend is true; holding at {r.weight}%")
    elif not plan.suspend and r.pause_reason == PauseReason.SUSPENDED:
        b.set(phase="Progressing", pause_reason=None, step_started_at=now, inconclusive_streak=0)
        b.emit("Resumed", "spec.suspend is false again")


def _progress(b: Builder, plan: Plan, obs: Observation) -> None:
    r = b.rollout
    started = r.step_started_at if r.step_started_at is not None else obs.now
    if obs.now - started > plan.progress_deadline:
        where = f"step {r.step + 1} ({r.weight}%)" if r.weight else "waiting for the canary"
        rollback(b, "Failed", f"no progress at {where} within the progress deadline")
        return
    if not r.carrying:
        if not obs.canary_ready:
            return
        if plan.evaluation and not r.evaluated:
            if obs.evaluation is not None:
                judge_evaluation(b, plan, obs.evaluation, obs.now)
            if not b.rollout.evaluated:
                return
        if plan.shadow_percent and not r.shadowed:
            b.set(mirror=plan.shadow_percent, step_started_at=obs.now, last_analysis_at=None)
            b.emit(
                "Shadowing",
                f"canary ready; {plan.shadow_percent}% of stable's requests mirrored to it, "
                "its answers discarded",
            )
            return
        b.set(weight=plan.steps[0], step=0, step_started_at=obs.now, last_analysis_at=None)
        b.emit("Progressing", f"canary ready; step 1: {plan.steps[0]}% of traffic")
        return
    if withdrawn(b, plan, obs) or obs.gate is None or not analysis_due(r, plan, obs.now):
        return
    why = stale(r, plan, obs.gate, obs.now)
    if why:
        b.emit("GateDiscarded", f"{obs.gate.decision} at {r.weight}% not acted on: {why}")
        return
    if obs.gate.decision == "GO" and not obs.canary_ready:
        # Its pods were lost (deleted, crashing, evicted) after the step began: what it
        # served before is no reason to give it more users. A NO-GO still rolls back.
        b.set(last_analysis_at=obs.now, last_decision="GO", inconclusive_streak=0)
        b.emit("GateHeld", f"GO at {r.weight}% not acted on: the canary is not Ready", True)
        return
    judge_gate(b, plan, obs.gate, obs.now)


def _apply_action(b: Builder, plan: Plan, obs: Observation) -> Transition:
    r = b.rollout
    action = obs.action
    if action == Action.ABORT and r.canary_active:
        rollback(b, "Aborted", "aborted by a user")
    elif action == Action.PROMOTE and r.canary_active and not obs.canary_ready:
        # All the traffic would go to a canary that cannot answer: the action waits.
        return b.done(action_consumed=False)
    elif action == Action.PROMOTE and r.canary_active:
        begin_promotion(b, "promoted by a user")
    elif action == Action.PAUSE and r.phase == "Progressing":
        b.set(phase="Paused", pause_reason=PauseReason.USER)
        b.emit("Paused", f"paused by a user at {r.weight}%")
    elif (
        action == Action.RESUME
        and r.phase == "Paused"
        # These lift by themselves: spec.suspend unset, VRAM headroom recovered, the
        # canary Ready again.
        and r.pause_reason
        not in (PauseReason.SUSPENDED, PauseReason.SCALE_UP_BLOCKED, PauseReason.CANARY_UNAVAILABLE)
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
