"""The shadow phase, pure: mirrored requests before the first step, judged like a step."""

from __future__ import annotations

from dataclasses import replace

from fragrance_operator.canary.machine import Gate, Rollout, analysis_due
from tests.unit.canary_scenarios import PLAN, STABLE, run

SHADOW = replace(PLAN, shadow_percent=20, shadow_duration=90)


def _shadowing() -> Rollout:
    r = run(STABLE, SHADOW, 0)
    return run(r, SHADOW, 0, canary_ready=True)


def test_a_ready_canary_is_first_mirrored_to_with_no_user_traffic() -> None:
    r = _shadowing()
    assert (r.weight, r.mirror, r.shadowed) == (0, 20, False)
    assert analysis_due(r, SHADOW, 30), "the gate judges the shadow phase on its own series"


def test_the_shadow_phase_lasts_its_duration_then_step_one_starts() -> None:
    r = _shadowing()
    r = run(r, SHADOW, 30, canary_ready=True, gate=Gate("GO"))
    r = run(r, SHADOW, 60, canary_ready=True, gate=Gate("GO"))
    assert (r.weight, r.mirror) == (0, 20), "not before shadow.duration"
    r = run(r, SHADOW, 90, canary_ready=True, gate=Gate("GO"))
    assert (r.weight, r.mirror, r.shadowed, r.step) == (1, 0, True, 0)


def test_a_nogo_in_the_shadow_phase_rolls_back_and_stops_the_mirror() -> None:
    r = run(_shadowing(), SHADOW, 30, canary_ready=True, gate=Gate("NO-GO", "errorRate5xx 0.4"))
    assert (r.phase, r.weight, r.mirror) == ("RolledBack", 0, 0)


def test_the_evaluation_comes_before_the_shadow_phase() -> None:
    both = replace(SHADOW, evaluation=True)
    r = run(run(STABLE, both, 0), both, 5, canary_ready=True)
    assert (r.mirror, r.weight) == (0, 0)
    r = run(r, both, 10, canary_ready=True, evaluation=Gate("GO"))
    assert (r.evaluated, r.mirror, r.weight) == (True, 20, 0)
