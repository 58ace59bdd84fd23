"""A result at a step or before the first: the gate's, judged against the step's clock, and
the evaluation's before any traffic."""

from __future__ import annotations

from fragrance_operator.canary.clock import step_clock
from fragrance_operator.canary.rollout import Gate, PauseReason, Plan, Rollout
from fragrance_operator.canary.transitions import Builder, begin_promotion, rollback


def stale(r: Rollout, plan: Plan, gate: Gate, now: float) -> str:
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


def judge_evaluation(b: Builder, plan: Plan, result: Gate, now: float) -> None:
    r = b.rollout
    detail = f": {result.summary}" if result.summary else ""
    b.set(last_analysis_at=now)
    if result.decision == "NO-GO":
        rollback(b, "RolledBack", f"evaluation NO-GO before any traffic{detail}")
    elif result.decision == "INCONCLUSIVE":
        streak = r.inconclusive_streak + 1
        b.set(inconclusive_streak=streak)
        if streak < plan.inconclusive_limit:
            b.emit("EvaluationInconclusive", f"evaluation INCONCLUSIVE{detail}", True)
        elif plan.on_inconclusive == "rollback":
            rollback(b, "RolledBack", f"evaluation INCONCLUSIVE {streak} times in a row{detail}")
        else:
            b.set(phase="Paused", pause_reason=PauseReason.INCONCLUSIVE)
            b.emit("Paused", f"evaluation INCONCLUSIVE {streak} times in a row{detail}", True)
    else:
        # A WARNING starts the steps too: the gates under live traffic judge from here.
        b.set(evaluated=True, inconclusive_streak=0)
        reason = "Evaluated" if result.decision == "GO" else "EvaluationWarning"
        warning = result.decision == "WARNING"
        b.emit(reason, f"evaluation {result.decision} before any traffic{detail}", warning)


def judge_gate(b: Builder, plan: Plan, gate: Gate, now: float) -> None:
    r = b.rollout
    b.set(last_analysis_at=now, last_decision=gate.decision)
    detail = f": {gate.summary}" if gate.summary else ""
    if gate.decision == "NO-GO":
        count = r.nogo_count + 1
        b.set(nogo_count=count, inconclusive_streak=0)
        if count > plan.failure_limit:
            rollback(b, "RolledBack", f"gate NO-GO {_where(r)}{detail}")
        else:
            b.emit("GateNoGo", f"NO-GO {count} of {plan.failure_limit} tolerated{detail}", True)
        return
    if gate.decision in ("INCONCLUSIVE", "WARNING"):
        streak = r.inconclusive_streak + 1
        b.set(inconclusive_streak=streak)
        if streak < plan.inconclusive_limit:
            b.emit(f"Gate{gate.decision.title()}", f"{gate.decision} {_where(r)}{detail}", True)
        elif gate.decision == "INCONCLUSIVE" and plan.on_inconclusive == "rollback":
            rollback(b, "RolledBack", f"gate INCONCLUSIVE {streak} times in a row{detail}")
        else:
            reason = (
                PauseReason.INCONCLUSIVE if gate.decision == "INCONCLUSIVE" else PauseReason.WARNING
            )
            b.set(phase="Paused", pause_reason=reason)
            b.emit("Paused", f"gate {gate.decision} {streak} times in a row{detail}", True)
        return
    b.set(inconclusive_streak=0)
    clock = step_clock(r)
    least = plan.shadow_duration if r.mirror else plan.step_interval
    if clock is None or now - clock < least:
        return
    if r.mirror:
        b.set(
            mirror=0,
            shadowed=True,
            weight=plan.steps[0],
            step=0,
            step_started_at=now,
            last_analysis_at=None,
            nogo_count=0,
        )
        b.emit("Progressing", f"shadow phase passed; step 1: {plan.steps[0]}% of traffic")
    elif r.step + 1 >= len(plan.steps):
        begin_promotion(b, "all steps passed their gates")
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


def _where(r: Rollout) -> str:
    return "in the shadow phase" if r.mirror else f"at {r.weight}%"
