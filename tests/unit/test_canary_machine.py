"""The canary state machine, without I/O: scenarios and properties over gate sequences."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from fragrance_operator.canary.machine import (
    Action,
    Gate,
    Observation,
    PauseReason,
    Plan,
    Rollout,
    advance,
    analysis_due,
    quiet_until,
    weight_set,
)
from tests.unit.canary_scenarios import PLAN, STABLE, go_through, run, started


def test_first_release_becomes_stable_without_canary_once_its_pods_are_ready() -> None:
    t = advance(Rollout(), PLAN, Observation(now=0))
    assert (t.rollout.phase, t.rollout.stable_version, t.rollout.weight) == ("Progressing", "v2", 0)
    assert [e.reason for e in t.events] == ["Initializing"]
    waiting = advance(t.rollout, PLAN, Observation(now=5, stable_ready=False))
    assert waiting.rollout.phase == "Progressing", "not Succeeded before a pod serves"
    done = advance(waiting.rollout, PLAN, Observation(now=10, stable_ready=True))
    assert done.rollout.phase == "Succeeded"
    assert [e.reason for e in done.events] == ["Initialized"]


def test_a_first_release_edited_before_it_is_ready_deploys_the_edit() -> None:
    first = advance(Rollout(), PLAN, Observation(now=0)).rollout
    edited = replace(PLAN, version="v3", image="serving:v3", spec_hash="h-v3")
    r = advance(first, edited, Observation(now=5)).rollout
    assert (r.phase, r.stable_version, r.canary_version) == ("Progressing", "v3", None)


def test_new_version_waits_for_the_canary_before_traffic() -> None:
    r = run(STABLE, PLAN, 0)
    assert (r.phase, r.canary_version, r.weight) == ("Progressing", "v2", 0)
    assert run(r, PLAN, 10, canary_ready=False).weight == 0
    r = run(r, PLAN, 10, canary_ready=True)
    assert (r.weight, r.step_started_at) == (1, 10)


def test_healthy_canary_walks_every_step_then_promotes() -> None:
    r = started()
    weights = [r.weight]
    now = 0.0
    while r.phase == "Progressing" and now < 2000:
        now += PLAN.analysis_interval
        r = run(r, PLAN, now, canary_ready=True, stable_ready=r.promoting, gate=Gate("GO"))
        weights.append(r.weight)
    assert r.phase == "Succeeded"
    assert r.stable_version == "v2"
    assert r.weight == 0
    assert [w for i, w in enumerate(weights) if i == 0 or w != weights[i - 1]] == [
        1, 5, 25, 100, 0,
    ]  # fmt: skip


def test_step_waits_for_step_interval_even_on_go() -> None:
    r = started()
    r = run(r, PLAN, 30, canary_ready=True, gate=Gate("GO"))
    assert r.weight == 1  # 30 s < stepInterval 60 s
    r = run(r, PLAN, 60, canary_ready=True, gate=Gate("GO"))
    assert r.weight == 5


def test_gate_is_due_only_an_interval_after_the_last() -> None:
    r = started()
    assert not analysis_due(r, PLAN, 29)
    assert analysis_due(r, PLAN, 30)
    r = run(r, PLAN, 30, canary_ready=True, gate=Gate("GO"))
    assert not analysis_due(r, PLAN, 59)


def test_nogo_rolls_back_at_once_with_failure_limit_zero() -> None:
    r = go_through(started(), PLAN, ["GO", "GO", "GO", "GO"])  # at 25%
    assert r.weight == 25
    t = advance(r, PLAN, Observation(now=150, canary_ready=True, gate=Gate("NO-GO", "5xx 3%")))
    assert t.rollout.phase == "RolledBack"
    assert t.rollout.weight == 0
    assert t.rollout.stable_version == "v1"
    assert t.finished is not None
    assert t.finished.outcome == "RolledBack"
    assert "5xx 3%" in t.finished.reason


def test_failure_limit_tolerates_that_many_nogo_per_step() -> None:
    plan = replace(PLAN, failure_limit=1)
    r = go_through(started(plan), plan, ["NO-GO"])
    assert (r.phase, r.nogo_count) == ("Progressing", 1)
    r = go_through(r, plan, ["NO-GO"], start=30)
    assert r.phase == "RolledBack"


def test_inconclusive_pauses_after_the_limit() -> None:
    r = go_through(started(), PLAN, ["INCONCLUSIVE", "INCONCLUSIVE"])
    assert r.phase == "Progressing"
    r = go_through(r, PLAN, ["INCONCLUSIVE"], start=60)
    assert (r.phase, r.pause_reason, r.weight) == ("Paused", PauseReason.INCONCLUSIVE, 1)


def test_inconclusive_rolls_back_when_asked_to() -> None:
    plan = replace(PLAN, on_inconclusive="rollback")
    r = go_through(started(plan), plan, ["INCONCLUSIVE"] * 3)
    assert r.phase == "RolledBack"


def test_warning_holds_the_step_and_then_pauses() -> None:
    plan = replace(PLAN, on_inconclusive="rollback")
    r = go_through(started(plan), plan, ["WARNING", "WARNING"])
    assert (r.phase, r.weight) == ("Progressing", 1)  # held although stepInterval passed
    r = go_through(r, plan, ["WARNING"], start=60)
    assert (r.phase, r.pause_reason) == ("Paused", PauseReason.WARNING)  # never rolled back


def test_go_resets_the_inconclusive_streak() -> None:
    r = go_through(started(), PLAN, ["INCONCLUSIVE", "INCONCLUSIVE", "GO", "INCONCLUSIVE"])
    assert r.phase == "Progressing"


def test_progress_deadline_fails_back_to_stable() -> None:
    r = run(STABLE, PLAN, 0)
    r = run(r, PLAN, 601, canary_ready=False)
    assert (r.phase, r.weight) == ("Failed", 0)


def test_manual_promotion_waits_before_100_and_promote_finishes() -> None:
    plan = replace(PLAN, manual_promotion=True)
    r = go_through(started(plan), plan, ["GO"] * 6)
    assert (r.phase, r.pause_reason, r.weight) == ("Paused", PauseReason.AWAITING_PROMOTION, 25)
    t = advance(r, plan, Observation(now=500, action=Action.PROMOTE))
    assert not t.action_consumed, "the canary is not Ready: 100% would go nowhere"
    assert (t.rollout.promoting, t.rollout.weight) == (False, 25)
    t = advance(r, plan, Observation(now=500, canary_ready=True, action=Action.PROMOTE))
    assert t.action_consumed
    assert (t.rollout.promoting, t.rollout.weight, t.rollout.stable_version) == (True, 100, "v2")
    r = run(t.rollout, plan, 510, stable_ready=True)
    assert (r.phase, r.weight) == ("Succeeded", 0)


def test_promotion_keeps_canary_traffic_until_stable_is_ready() -> None:
    r = go_through(started(), PLAN, ["GO"] * 8)
    assert (r.promoting, r.weight) == (True, 100)
    assert run(r, PLAN, 1000, stable_ready=False).weight == 100
    assert run(r, PLAN, 1000, stable_ready=True).weight == 0


def test_abort_pause_resume_and_retry() -> None:
    r = started()
    paused = run(r, PLAN, 5, action=Action.PAUSE)
    assert (paused.phase, paused.pause_reason) == ("Paused", PauseReason.USER)
    assert run(paused, PLAN, 500, canary_ready=True, gate=Gate("GO")).phase == "Paused"
    resumed = run(paused, PLAN, 10, action=Action.RESUME)
    assert (resumed.phase, resumed.step_started_at) == ("Progressing", 10)
    aborted = advance(resumed, PLAN, Observation(now=20, action=Action.ABORT))
    assert aborted.finished is not None
    assert aborted.finished.outcome == "Aborted"
    assert (aborted.rollout.phase, aborted.rollout.weight) == ("RolledBack", 0)
    assert run(aborted.rollout, PLAN, 30).phase == "RolledBack"  # same spec: stays
    retried = run(aborted.rollout, PLAN, 40, action=Action.RETRY)
    assert (retried.phase, retried.weight, retried.step) == ("Progressing", 0, 0)


def test_meaningless_action_is_consumed_and_reported() -> None:
    t = advance(STABLE, PLAN, Observation(now=0, action=Action.RESUME))
    assert t.action_consumed
    assert t.rollout == STABLE
    assert t.events[0].reason == "ActionIgnored"


def test_suspend_holds_and_unsuspend_resumes() -> None:
    r = started()
    suspended = run(r, replace(PLAN, suspend=True), 10)
    assert (suspended.phase, suspended.pause_reason, suspended.weight) == (
        "Paused", PauseReason.SUSPENDED, 1,
    )  # fmt: skip
    assert run(suspended, PLAN, 20).phase == "Progressing"


def test_spec_change_mid_rollout_restarts_the_analysis() -> None:
    r = go_through(started(), PLAN, ["GO"] * 4)
    assert r.weight == 25
    v3 = replace(PLAN, version="v3", image="serving:v3", spec_hash="h3")
    t = advance(r, v3, Observation(now=300))
    assert (t.rollout.canary_version, t.rollout.step, t.rollout.weight) == ("v3", 0, 0)
    assert t.events[0].reason == "Restarted"


def test_reverting_the_spec_to_stable_rolls_the_canary_back() -> None:
    r = started()
    v1 = replace(PLAN, version="v1", image="serving:v1", spec_hash="h1")
    r = run(r, v1, 10)
    assert (r.phase, r.weight, r.stable_version) == ("RolledBack", 0, "v1")


DECISIONS = st.sampled_from(["GO", "WARNING", "NO-GO", "INCONCLUSIVE"])


@settings(max_examples=300)
@given(
    decisions=st.lists(DECISIONS, max_size=40),
    failure_limit=st.integers(0, 2),
    manual=st.booleans(),
    on_inconclusive=st.sampled_from(["pause", "rollback"]),
)
def test_no_gate_sequence_skips_a_step_or_promotes_past_a_nogo(
    decisions: list[str], failure_limit: int, manual: bool, on_inconclusive: str
) -> None:
    plan = replace(
        PLAN,
        failure_limit=failure_limit,
        manual_promotion=manual,
        on_inconclusive=on_inconclusive,  # type: ignore[arg-type]
    )
    r = started(plan)
    now = 0.0
    for decision in decisions:
        now += plan.step_interval  # every evaluation may also advance
        before = r
        r = run(r, plan, now, canary_ready=True, stable_ready=False, gate=Gate(decision))  # type: ignore[arg-type]
        if r.weight != before.weight:
            if r.weight == 0:
                assert r.phase in ("RolledBack", "Failed")
                assert decision in ("NO-GO", "INCONCLUSIVE")
            else:
                assert decision == "GO", "only a GO moves traffic forward"
                i = plan.steps.index(before.weight)
                assert r.weight == plan.steps[i + 1], "a step was skipped"
        if r.stable_version != before.stable_version:
            assert decision == "GO"
            assert before.weight == 100
            assert not manual
        if decision == "NO-GO" and before.phase == "Progressing":
            assert r.weight <= before.weight
            assert r.stable_version == before.stable_version
        if r.phase != "Progressing":
            break


def promoting(plan: Plan = PLAN) -> Rollout:
    """All steps passed: the canary carries 100% while the stable track is rebuilt."""
    r = go_through(started(plan), plan, ["GO"] * 8)
    assert r.promoting, r
    assert r.weight == 100
    return r


def test_a_new_spec_during_promotion_waits_for_the_stable_track() -> None:
    r = promoting()
    v3 = replace(PLAN, version="v3", image="serving:v3", spec_hash="h3")
    held = run(r, v3, 1000, canary_ready=True, stable_ready=False)
    assert (held.weight, held.promoting, held.canary_version) == (100, True, "v2")
    done = run(held, v3, 1001, canary_ready=True, stable_ready=True)
    assert (done.phase, done.weight, done.stable_version) == ("Succeeded", 0, "v2")
    restarted = run(done, v3, 1002)
    assert (restarted.phase, restarted.canary_version, restarted.weight) == ("Progressing", "v3", 0)


def test_an_abort_during_promotion_waits_unconsumed() -> None:
    r = promoting()
    t = advance(r, PLAN, Observation(now=1000, canary_ready=True, action=Action.ABORT))
    assert (t.rollout.weight, t.rollout.promoting) == (100, True)
    assert not t.action_consumed, "the annotation stays for after the promotion"


EVENTS = st.sampled_from(["tick", "stable-ready", "new-spec", "revert-spec", *Action])


@settings(max_examples=300)
@given(events=st.lists(EVENTS, max_size=30))
def test_traffic_leaves_a_promoting_canary_only_for_a_ready_stable(events: list[object]) -> None:
    """Whatever arrives during a promotion, weight drops below 100 only when the stable track
    is Ready: the canary is what serves until then."""
    plans = {
        "new-spec": replace(PLAN, version="v3", image="serving:v3", spec_hash="h3"),
        "revert-spec": replace(PLAN, version="v1", image="serving:v1", spec_hash="h1"),
    }
    r, plan, now = promoting(), PLAN, 1000.0
    for event in events:
        now += 1
        before = r
        plan = plans.get(str(event), plan)
        stable_ready = event == "stable-ready"
        action = event if isinstance(event, Action) else None
        obs = Observation(now=now, canary_ready=True, stable_ready=stable_ready, action=action)
        r = advance(r, plan, obs).rollout
        if before.promoting and r.weight < 100:
            assert stable_ready, f"{event} moved traffic off the canary during the promotion"


def test_the_step_is_timed_from_when_its_weight_was_written() -> None:
    r = go_through(started(), PLAN, ["GO"])  # 1% since 0, GO at 30
    moved = advance(r, PLAN, Observation(now=60, canary_ready=True, gate=Gate("GO"))).rollout
    assert (moved.weight, moved.weight_set_at) == (5, None)
    assert not analysis_due(moved, PLAN, 200)  # not in the data plane: nothing to judge
    written = weight_set(moved, 75)  # a busy operator wrote it 15 s after deciding
    assert written is not None
    assert weight_set(written, 80) is None  # recorded once
    assert not analysis_due(written, PLAN, 104)
    assert analysis_due(written, PLAN, 105)
    held = run(written, PLAN, 105, canary_ready=True, gate=Gate("GO"))
    assert held.weight == 5  # 30 s of 5% traffic < stepInterval 60 s
    assert run(held, PLAN, 135, canary_ready=True, gate=Gate("GO")).weight == 25


def test_a_go_on_a_canary_that_lost_its_pods_gives_it_no_more_traffic() -> None:
    r = go_through(started(), PLAN, ["GO", "GO"])  # 5% since 60
    assert r.weight == 5
    lost = advance(r, PLAN, Observation(now=150, canary_ready=False, gate=Gate("GO")))
    assert (lost.rollout.weight, lost.rollout.phase) == (5, "Progressing")
    assert [e.reason for e in lost.events] == ["GateHeld"]
    assert lost.rollout.last_analysis_at == 150  # judged again a window later, not each tick
    assert not analysis_due(lost.rollout, PLAN, 160)
    back = run(lost.rollout, PLAN, 180, canary_ready=True, gate=Gate("GO"))
    assert back.weight == 25
    # What it served still counts against it: a NO-GO rolls it back, Ready or not.
    nogo = advance(r, PLAN, Observation(now=150, canary_ready=False, gate=Gate("NO-GO")))
    assert nogo.rollout.phase == "RolledBack"


def test_a_gate_that_saw_the_previous_weight_or_is_old_decides_nothing() -> None:
    r = replace(started(), weight_set_at=10)  # 1% written at 10
    before = advance(r, PLAN, Observation(now=45, gate=Gate("NO-GO", evaluated_at=35)))
    assert before.rollout.phase == "Progressing"
    assert before.rollout.last_analysis_at is None
    assert [e.reason for e in before.events] == ["GateDiscarded"]
    assert "before this step's weight" in before.events[0].message
    old = advance(r, PLAN, Observation(now=90, gate=Gate("NO-GO", evaluated_at=50)))
    assert [e.reason for e in old.events] == ["GateDiscarded"]
    # A slow answer is not an old one: the age counts from when the answers came back.
    slow = Gate("NO-GO", evaluated_at=50, took=20)
    assert advance(r, PLAN, Observation(now=90, gate=slow)).rollout.phase == "RolledBack"
    fresh = advance(r, PLAN, Observation(now=45, gate=Gate("NO-GO", evaluated_at=44)))
    assert fresh.rollout.phase == "RolledBack"


def test_a_release_is_left_alone_only_while_nothing_can_change_by_itself() -> None:
    assert quiet_until(STABLE, PLAN, 100, resync=10) == 110  # at rest: resync only
    waiting = run(STABLE, PLAN, 0)  # the canary's pods are starting: watch readiness
    assert quiet_until(waiting, PLAN, 5, resync=10) == 5
    r = started()  # 1% written at 0: the next gate is due at 30
    assert quiet_until(r, PLAN, 25, resync=10) == 30
    assert quiet_until(r, PLAN, 5, resync=10) == 15
    unwritten = replace(r, weight_set_at=None)
    assert quiet_until(unwritten, PLAN, 5, resync=10) == 5
    promoting = replace(r, promoting=True, weight=100)
    assert quiet_until(promoting, PLAN, 5, resync=10) == 5
    held = replace(r, phase="Paused", pause_reason=PauseReason.SCALE_UP_BLOCKED, weight=0)
    assert quiet_until(held, PLAN, 5, resync=10) == 5  # headroom can come back any time


def test_after_a_resume_the_next_window_starts_at_the_resume() -> None:
    r = go_through(started(), PLAN, ["GO"])  # judged at 30
    paused = run(r, PLAN, 40, action=Action.PAUSE)
    resumed = run(paused, PLAN, 100, action=Action.RESUME)
    assert not analysis_due(resumed, PLAN, 129)  # no window spans the pause
    assert analysis_due(resumed, PLAN, 130)
    assert quiet_until(resumed, PLAN, 101, resync=60) == 130
