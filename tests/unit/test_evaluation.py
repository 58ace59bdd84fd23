"""The evaluation before traffic without a serving: scores, and what the machine does with them."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from fragrance_api.evaluation import EvaluationSpec
from fragrance_api.release_status import FragranceReleaseStatus
from fragrance_operator.canary.clock import evaluation_due
from fragrance_operator.canary.eval_set import ACCORDS, DEFAULT_SET
from fragrance_operator.canary.machine import Gate, PauseReason
from fragrance_operator.canary.quality import Answer, score
from fragrance_operator.canary.status import Evaluated, rollout_from_status, status_body
from tests.unit.canary_scenarios import PLAN, STABLE, run

SPEC = EvaluationSpec(enabled=True)
BUDGETS = {"fast": 2.5, "balanced": 3.2, "creative": 4.5}
FIXED = {"description": "A calm fresh composition.", "notes": ["lavender", "musk"],
         "families": ["fresh"], "intensity": 35, "longevity": "medium"}  # fmt: skip


def _following(index: int) -> Answer:
    """A brief that follows its prompt: the accord's family and two of its notes."""
    item = DEFAULT_SET[index]
    brief = {"description": f"A brief for {item.prompt}.", "notes": item.notes[:2],
             "families": item.families, "intensity": 50, "longevity": "medium"}  # fmt: skip
    return Answer(200, brief, seconds=0.4, mode=item.mode or "")


GOOD = [_following(i) for i in range(len(DEFAULT_SET))]
BLIND = [Answer(200, FIXED, seconds=0.05, mode=item.mode or "") for item in DEFAULT_SET]


def _checks(answers: list[Answer], stable: list[Answer] = GOOD) -> dict[str, str]:
    verdict = score(DEFAULT_SET, answers, stable, SPEC, BUDGETS)
    return {c.name: c.result for c in verdict.checks} | {"decision": verdict.decision}


def test_the_default_set_asks_every_accord_in_every_mode() -> None:
    assert len(DEFAULT_SET) == 3 * len(ACCORDS)
    assert {item.mode for item in DEFAULT_SET} == {"fast", "balanced", "creative"}


def test_a_canary_as_good_as_stable_passes() -> None:
    assert _checks(GOOD)["decision"] == "GO"


def test_a_prompt_blind_canary_is_nogo_on_adherence_and_diversity() -> None:
    verdict = score(DEFAULT_SET, BLIND, GOOD, SPEC, BUDGETS)
    results = {c.name: c for c in verdict.checks}
    assert verdict.decision == "NO-GO"
    assert results["evaluation.schemaValid"].result == "GO", "valid JSON, fast: not the problem"
    diversity = results["evaluation.diversity"]
    assert (diversity.result, diversity.value, diversity.stable_value) == (
        "NO-GO", pytest.approx(1 / 24), 1.0
    )  # fmt: skip
    # Right for the 3 fresh prompts, half right (musk) for the 3 marine ones.
    assert results["evaluation.adherence"].value == pytest.approx((3 + 3 * 0.5) / 24)
    assert "evaluation.adherence" in verdict.summary


def test_fallbacks_and_errors_fail_the_schema_valid_rate() -> None:
    bad = [replace(a, fallback=True) if i % 3 == 0 else a for i, a in enumerate(GOOD)]
    assert _checks(bad)["evaluation.schemaValid"] == "NO-GO"


def test_a_canary_that_cannot_be_reached_is_inconclusive_not_nogo() -> None:
    unreachable = [Answer(0) for _ in DEFAULT_SET]
    assert _checks(unreachable)["decision"] == "INCONCLUSIVE"


def test_without_stables_answers_quality_is_inconclusive() -> None:
    checks = _checks(GOOD, stable=[Answer(0) for _ in DEFAULT_SET])
    assert checks["evaluation.adherence"] == checks["evaluation.diversity"] == "INCONCLUSIVE"


def test_slow_answers_and_many_retries_warn() -> None:
    slow = [replace(a, seconds=9.0, retries=2) for a in GOOD]
    checks = _checks(slow)
    assert checks["evaluation.latencyP95/creative"] == checks["evaluation.retries"] == "WARNING"
    assert checks["decision"] == "WARNING"


EVAL_PLAN = replace(PLAN, evaluation=True)


def test_no_traffic_before_the_evaluation_then_step_one_on_go() -> None:
    r = run(STABLE, EVAL_PLAN, 0)
    r = run(r, EVAL_PLAN, 5, canary_ready=True)
    assert (r.weight, r.evaluated) == (0, False)
    assert evaluation_due(r, EVAL_PLAN, 5)
    r = run(r, EVAL_PLAN, 10, canary_ready=True, evaluation=Gate("GO"))
    assert (r.weight, r.evaluated, r.phase) == (1, True, "Progressing")
    assert not evaluation_due(r, EVAL_PLAN, 100)


def test_a_nogo_evaluation_rolls_back_before_any_traffic() -> None:
    r = run(STABLE, EVAL_PLAN, 0)
    r = run(r, EVAL_PLAN, 10, canary_ready=True, evaluation=Gate("NO-GO", "diversity 0.04"))
    assert (r.phase, r.weight) == ("RolledBack", 0)


def test_an_inconclusive_evaluation_is_retried_then_pauses() -> None:
    r = run(STABLE, EVAL_PLAN, 0)
    now = 0.0
    for _ in range(EVAL_PLAN.inconclusive_limit):
        now += EVAL_PLAN.analysis_interval
        assert evaluation_due(r, EVAL_PLAN, now)
        r = run(r, EVAL_PLAN, now, canary_ready=True, evaluation=Gate("INCONCLUSIVE"))
        assert r.weight == 0
        assert not evaluation_due(r, EVAL_PLAN, now + 1), "not again before an interval"
    assert (r.phase, r.pause_reason) == ("Paused", PauseReason.INCONCLUSIVE)


def test_the_evaluation_survives_a_restart_through_status_and_a_new_canary_clears_it() -> None:
    r = run(STABLE, EVAL_PLAN, 0)
    r = run(r, EVAL_PLAN, 10, canary_ready=True, evaluation=Gate("GO"))
    verdict = score(DEFAULT_SET, GOOD, GOOD, SPEC, BUDGETS)
    body = status_body(r, generation=1, now=10, previous=None,
                       evaluation=Evaluated("v2", verdict, 12.5))  # fmt: skip
    status = FragranceReleaseStatus.model_validate(json.loads(json.dumps(body)))
    assert status.evaluation is not None
    assert status.evaluation.seconds == 12.5
    assert rollout_from_status(status).evaluated
    v3 = replace(EVAL_PLAN, version="v3", image="serving:v3", spec_hash="h3")
    restarted = run(r, v3, 20)
    cleared = status_body(restarted, generation=2, now=20, previous=status)
    assert cleared["evaluation"] is None


def _astray(index: int) -> Answer:
    """A valid, distinct brief that ignores its prompt."""
    brief = {"description": f"Something else, number {index}.", "notes": ["oud"],
             "families": ["leather"], "intensity": 50, "longevity": "long"}  # fmt: skip
    return Answer(200, brief, seconds=0.4, mode=DEFAULT_SET[index].mode or "")


def test_adherence_fails_only_when_worse_than_stable_beyond_chance() -> None:
    # One small model against itself in a demo run: 0.21 against 0.44 on 24 prompts.
    stable = [_following(i) if i % 24 < 10 else _astray(i) for i in range(24)]
    canary = [_following(i) if i % 24 < 5 else _astray(i) for i in range(24)]
    assert _checks(canary, stable)["evaluation.adherence"] == "GO"
    assert _checks([_astray(i) for i in range(24)])["evaluation.adherence"] == "NO-GO"
