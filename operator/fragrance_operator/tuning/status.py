"""The TuningPolicy status body: where it is applied, what was measured, the verdict."""

from __future__ import annotations

from typing import Any

from fragrance_api.policy import TuningPolicyStatus
from fragrance_operator.canary.status import checked, condition
from fragrance_operator.tuning.verdict import Training, TuningVerdict


def status_body(
    *,
    generation: int,
    now: float,
    previous_conditions: list[dict[str, Any]],
    applied_to: list[str],
    rollouts: list[dict[str, Any]],
    distribution: dict[str, float] | None,
    training: Training,
    verdict: TuningVerdict,
) -> dict[str, Any]:
    old = {c.get("type", ""): c for c in previous_conditions}
    applied = (
        f"used by {len(applied_to)} release(s): {', '.join(applied_to)}"
        if applied_to
        else "no FragranceRelease references this policy yet"
    )
    reason = "Complete" if verdict.complete else "InProgress"
    body = {
        "observedGeneration": generation,
        "appliedTo": applied_to,
        "rollouts": rollouts,
        "distribution": distribution,
        "training": {
            "step": training.step or 0,
            "entropyCoef": training.entropy_coef,
            "rewardMean": training.reward_mean,
            "loss": training.loss,
            "rollbacks": training.rollbacks or 0,
            "lastCheckpointStep": training.last_checkpoint_step,
        },
        "conditions": [
            condition("Ready", True, "Reconciled", applied, generation, now, old),
            condition("Applied", bool(applied_to), "Applied" if applied_to else "NoReleases",
                      applied, generation, now, old),
            condition("TuningComplete", verdict.complete, reason, verdict.message,
                      generation, now, old),
        ],
    }  # fmt: skip
    return checked(TuningPolicyStatus, body)
