"""TuningComplete by its 48-hour criteria, without I/O."""

from __future__ import annotations

from fragrance_api.policy import TuningPolicySpec
from fragrance_operator.tuning.status import status_body
from fragrance_operator.tuning.verdict import Training, judge, queries

SPEC = TuningPolicySpec.model_validate({})
ON_TARGET = {"fast": 58.0, "balanced": 32.0, "creative": 10.0}
DONE = Training(step=10_000, entropy_coef=0.005, rollbacks=1)


def test_complete_when_every_criterion_holds() -> None:
    verdict = judge(SPEC, ON_TARGET, DONE)
    assert verdict.complete
    assert "entropy 0.0050 <= 0.006 at step 10000" in verdict.message


def test_each_criterion_can_withhold_it() -> None:
    off = {"fast": 50.0, "balanced": 40.0, "creative": 10.0}
    cases = {
        "distribution off by 10.0 points": judge(SPEC, off, DONE),
        "training step 9999 < decaySteps 10000": judge(
            SPEC, ON_TARGET, Training(step=9_999, entropy_coef=0.005, rollbacks=0)
        ),
        "entropy coefficient 0.0070 > 0.006": judge(
            SPEC, ON_TARGET, Training(step=20_000, entropy_coef=0.007, rollbacks=0)
        ),
        "2 rollbacks > 1": judge(SPEC, ON_TARGET, Training(10_000, 0.005, rollbacks=2)),
        "no measured mode distribution yet": judge(SPEC, None, DONE),
        "no learner progress yet": judge(SPEC, ON_TARGET, Training()),
    }
    for reason, verdict in cases.items():
        assert not verdict.complete
        assert reason in verdict.message, (reason, verdict.message)


def test_status_body_and_queries() -> None:
    verdict = judge(SPEC, ON_TARGET, DONE)
    body = status_body(
        generation=3, now=0.0, previous_conditions=[], applied_to=["a", "b"], rollouts=[],
        distribution=ON_TARGET, training=DONE, verdict=verdict,
    )  # fmt: skip
    conditions = {c["type"]: c for c in body["conditions"]}
    assert conditions["TuningComplete"]["status"] == "True"
    assert conditions["Applied"]["message"] == "used by 2 release(s): a, b"
    assert body["training"]["rollbacks"] == 1
    assert 'release=~"a|b",track="stable"' in queries(["b", "a"])["step"]
