"""API models of the fragrance.ai/v1alpha1 custom resources: the single source of truth."""

from .crd import API_VERSION, GROUP, KINDS, VERSION
from .policy import TuningPolicy, TuningPolicySpec, TuningPolicyStatus
from .release import FragranceRelease, FragranceReleaseSpec
from .release_status import FragranceReleaseStatus

__all__ = [
    "API_VERSION",
    "GROUP",
    "KINDS",
    "VERSION",
    "FragranceRelease",
    "FragranceReleaseSpec",
    "FragranceReleaseStatus",
    "TuningPolicy",
    "TuningPolicySpec",
    "TuningPolicyStatus",
]
