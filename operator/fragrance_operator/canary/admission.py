"""What the validating admission webhook says about a FragranceRelease (pure).

The CRD schema and CEL rules refuse what they can on their own; this needs the cluster's
state: an edit raising the GPU worker's replicas is refused while VRAM headroom is under the
floor (the message states both), and a TuningPolicy reference that does not resolve is a
warning, not a refusal (GitOps tools may apply the policy a moment later).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fragrance_api.release import FragranceReleaseSpec
from fragrance_operator.canary.capacity import Capacity


@dataclass(frozen=True)
class Review:
    allowed: bool
    message: str = ""
    warnings: list[str] = field(default_factory=list)


def replicas_raised(old: FragranceReleaseSpec | None, new: FragranceReleaseSpec) -> bool:
    return (
        old is not None
        and new.workload.gpus_per_replica > 0
        and new.workload.replicas > old.workload.replicas
    )


def review(
    old: FragranceReleaseSpec | None,
    new: FragranceReleaseSpec,
    namespace: str,
    capacity: Capacity | None,
    policy_found: bool,
) -> Review:
    warnings = []
    if not policy_found:
        warnings.append(
            f"spec.tuningPolicyRef: TuningPolicy {new.tuning_policy_ref.name} not found in "
            f"{namespace}; the release runs with default guards until it exists"
        )
    if replicas_raised(old, new) and capacity is not None and capacity.blocked:
        assert old is not None
        message = (
            f"spec.workload.replicas: raising {old.workload.replicas} -> {new.workload.replicas} "
            f"is refused: {capacity.message} (scale-down is always allowed)"
        )
        return Review(False, message, warnings)
    return Review(True, "", warnings)
