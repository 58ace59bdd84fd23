"""``TuningComplete`` by its 48-hour criteria, as a pure function.

Complete when: the measured mode distribution is within ``maxDeviation`` points of the
target for every mode, the learner has passed ``decaySteps`` with an entropy coefficient
at most 0.006, and it rolled back at most once. Missing data is never complete.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fragrance_api.modes import MODES
from fragrance_api.policy import TuningPolicySpec

ENTROPY_CEILING = 0.006
MAX_ROLLBACKS = 1


@dataclass(frozen=True)
class Training:
    step: int | None = None
    entropy_coef: float | None = None
    reward_mean: float | None = None
    loss: float | None = None
    rollbacks: int | None = None
    last_checkpoint_step: int | None = None


@dataclass(frozen=True)
class TuningVerdict:
    complete: bool
    reasons: list[str] = field(default_factory=list)  # what is not yet met (or what is)

    @property
    def message(self) -> str:
        return "; ".join(self.reasons)


def judge(
    spec: TuningPolicySpec, distribution: dict[str, float] | None, training: Training
) -> TuningVerdict:
    target = spec.traffic_distribution
    missing: list[str] = []
    met: list[str] = []
    if not distribution:
        missing.append("no measured mode distribution yet")
    else:
        gaps = {m: abs(distribution.get(m, 0.0) - getattr(target, m)) for m in MODES}
        worst = max(gaps, key=lambda m: gaps[m])
        line = f"distribution off by {gaps[worst]:.1f} points ({worst}), max {target.max_deviation}"
        (met if gaps[worst] <= target.max_deviation else missing).append(line)
    decay = spec.ppo.entropy_coef.decay_steps
    if training.step is None or training.entropy_coef is None:
        missing.append("no learner progress yet")
    elif training.step < decay:
        missing.append(f"training step {training.step} < decaySteps {decay}")
    elif training.entropy_coef > ENTROPY_CEILING:
        missing.append(f"entropy coefficient {training.entropy_coef:.4f} > {ENTROPY_CEILING}")
    else:
        met.append(
            f"entropy {training.entropy_coef:.4f} <= {ENTROPY_CEILING} at step {training.step}"
        )
    if training.rollbacks is not None and training.rollbacks > MAX_ROLLBACKS:
        missing.append(f"{training.rollbacks} rollbacks > {MAX_ROLLBACKS}")
    elif training.rollbacks is not None:
        met.append(f"{training.rollbacks} rollback(s) <= {MAX_ROLLBACKS}")
    if missing:
        return TuningVerdict(False, missing)
    return TuningVerdict(True, met)


def queries(releases: list[str]) -> dict[str, str]:
    """PromQL for the status, over the stable track of the releases using the policy."""
    names = "|".join(sorted(releases)) or "^$"
    sel = f'release=~"{names}",track="stable"'
    return {
        "distribution": f"avg by (mode) (llm_mode_distribution_percent{{{sel}}})",
        "step": f"max(ppo_training_step{{{sel}}})",
        "entropy": f"max(ppo_entropy_coef{{{sel}}})",
        "reward": f"avg(ppo_reward{{{sel}}})",
        "loss": f"avg(ppo_loss{{{sel}}})",
        "rollbacks": f"max(checkpoint_rollbacks_total{{{sel}}})",
    }
