"""A canary that loses its pods under traffic: its share back to stable after one analysis
interval, the step's weight again once it is Ready, rolled back if it never is."""

from __future__ import annotations

from fragrance_operator.canary.clock import quiet_until
from fragrance_operator.canary.machine import Action, Gate, Observation, PauseReason, advance
from tests.unit.canary_scenarios import PLAN, go_through, run, started

AT_5 = go_through(started(), PLAN, ["GO", "GO"])  # 5% since 60, analysis interval 30


def test_a_blip_shorter_than_an_analysis_interval_moves_no_traffic() -> None:
    assert AT_5.weight == 5
    blip = run(AT_5, PLAN, 70, canary_ready=False)
    assert (blip.weight, blip.phase, blip.unready_since) == (5, "Progressing", 70)
    assert quiet_until(blip, PLAN, 70, 10) == 70, "ticks every second while it is not Ready"
    again = run(blip, PLAN, 99, canary_ready=False)
    assert again.weight == 5
    ready = run(again, PLAN, 100, canary_ready=True)
    assert (ready.weight, ready.unready_since) == (5, None)


def test_a_canary_without_pods_for_an_interval_loses_its_share_until_it_is_ready() -> None:
    lost = run(AT_5, PLAN, 70, canary_ready=False)
    t = advance(lost, PLAN, Observation(now=100, canary_ready=False, gate=Gate("GO")))
    withdrawn = t.rollout
    assert (withdrawn.weight, withdrawn.phase) == (0, "Paused")
    assert withdrawn.pause_reason == PauseReason.CANARY_UNAVAILABLE
    assert withdrawn.step == 1, "the step it reached is kept"
    assert [e.reason for e in t.events] == ["CanaryUnavailable"]
    assert "5% of traffic goes to stable" in t.events[0].message
    # A user's resume does not put users back on it; it lifts by itself.
    resumed = advance(withdrawn, PLAN, Observation(now=110, action=Action.RESUME)).rollout
    assert resumed.weight == 0
    still = run(withdrawn, PLAN, 200, canary_ready=False)
    assert (still.weight, still.phase) == (0, "Paused")
    back = advance(still, PLAN, Observation(now=210, canary_ready=True))
    assert (back.rollout.weight, back.rollout.phase, back.rollout.step) == (5, "Progressing", 1)
    assert [e.reason for e in back.events] == ["CanaryAvailable"]
    # The step starts over from its weight: no GO of the time without pods moves it.
    restored = run(back.rollout, PLAN, 210, canary_ready=True)
    assert run(restored, PLAN, 240, canary_ready=True, gate=Gate("GO")).weight == 5
    assert run(restored, PLAN, 270, canary_ready=True, gate=Gate("GO")).weight == 25


def test_a_canary_never_ready_again_is_rolled_back_at_the_progress_deadline() -> None:
    withdrawn = run(run(AT_5, PLAN, 70, canary_ready=False), PLAN, 100, canary_ready=False)
    assert run(withdrawn, PLAN, 70 + PLAN.progress_deadline, canary_ready=False).phase == "Paused"
    t = advance(withdrawn, PLAN, Observation(now=71 + PLAN.progress_deadline))
    assert (t.rollout.phase, t.rollout.weight) == ("Failed", 0)
    assert t.finished is not None
    assert "not Ready again within the progress deadline" in t.finished.reason


def test_a_no_go_before_the_share_is_withdrawn_still_rolls_back() -> None:
    lost = run(AT_5, PLAN, 70, canary_ready=False)
    nogo = advance(lost, PLAN, Observation(now=90, canary_ready=False, gate=Gate("NO-GO")))
    assert nogo.rollout.phase == "RolledBack"
    assert nogo.rollout.unready_since is None
