"""The status the operator writes: a new canary does not show the last one's gate."""

from __future__ import annotations

from fragrance_api.release_status import FragranceReleaseStatus
from fragrance_operator.canary.capacity import Capacity
from fragrance_operator.canary.gate import CheckResult, Verdict
from fragrance_operator.canary.machine import Finished, Rollout
from fragrance_operator.canary.status import status_body

PREVIOUS = FragranceReleaseStatus.model_validate(
    {
        "phase": "Succeeded",
        "stableVersion": "v2",
        "canaryVersion": "v2",
        "gate": {"decision": "GO", "evaluatedAt": "2026-11-23T10:00:00.000Z", "checks": []},
    }
)


def body(rollout: Rollout) -> dict[str, object]:
    return status_body(rollout, generation=3, now=1_800_000_000.0, previous=PREVIOUS)


def test_a_new_canary_clears_the_previous_gate() -> None:
    new = body(Rollout(phase="Progressing", stable_version="v2", canary_version="v3"))
    assert "gate" in new
    assert new["gate"] is None  # a merge patch's null deletes it


def test_the_finished_rollouts_gate_stays_to_explain_it() -> None:
    assert "gate" not in body(Rollout(phase="Succeeded", stable_version="v2"))
    same_canary = Rollout(phase="Progressing", stable_version="v1", canary_version="v2")
    assert "gate" not in body(same_canary)


def test_every_field_written_is_one_the_status_model_knows() -> None:
    verdict = Verdict(
        "NO-GO",
        (CheckResult("errorRate", "NO-GO", 0.2, 0.05, "0.2 > 0.05"),),
        120.0,
        "errorRate 0.2 NO-GO",
    )
    done = Finished("v3", "RolledBack", "gate NO-GO")
    rollout = Rollout(phase="RolledBack", stable_version="v2", canary_version="v3")
    written = status_body(
        rollout, generation=4, now=1_800_000_000.0, previous=PREVIOUS, verdict=verdict,
        finished=done, capacity=Capacity(0.5, 0.2),
    )  # fmt: skip
    status = FragranceReleaseStatus.model_validate(written)
    assert status.gate is not None
    assert status.gate.checks[0].threshold == 0.05
    assert status.history[-1].outcome == "RolledBack"
