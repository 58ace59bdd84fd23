"""The two kinds: names, printer columns, and the models of their spec and status."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from .policy import TuningPolicySpec, TuningPolicyStatus
from .release import FragranceReleaseSpec
from .release_status import FragranceReleaseStatus

GROUP = "fragrance.ai"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
CATEGORY = "fragrance"
#: Set by `kubectl fragrance promote|abort|retry`; the operator acts on it once and removes it.
ACTION_ANNOTATION = f"{GROUP}/action"

Column = dict[str, Any]  # an additionalPrinterColumns entry


@dataclass(frozen=True)
class Kind:
    kind: str
    plural: str
    short_name: str
    description: str
    spec: type[BaseModel]
    status: type[BaseModel]
    printer_columns: tuple[Column, ...]

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{GROUP}"


def _condition_column(name: str, condition: str) -> Column:
    return {
        "name": name,
        "type": "string",
        "jsonPath": f'.status.conditions[?(@.type=="{condition}")].status',
    }


_AGE: Column = {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
# Shown by `kubectl get -o wide` only (priority 1).
_ready_message: Column = {
    "name": "Message",
    "type": "string",
    "jsonPath": '.status.conditions[?(@.type=="Ready")].message',
    "priority": 1,
}

FRAGRANCE_RELEASE = Kind(
    kind="FragranceRelease",
    plural="fragrancereleases",
    short_name="frel",
    description=(
        "FragranceRelease rolls a new version of the guarded LLM ensemble out through canary "
        "steps, judges a Prometheus gate at each step, and rolls back by itself on NO-GO."
    ),
    spec=FragranceReleaseSpec,
    status=FragranceReleaseStatus,
    printer_columns=(
        {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
        {"name": "Stable", "type": "string", "jsonPath": ".status.stableVersion"},
        {"name": "Canary", "type": "string", "jsonPath": ".status.canaryVersion"},
        {"name": "Weight", "type": "integer", "jsonPath": ".status.canaryWeight"},
        {"name": "Gate", "type": "string", "jsonPath": ".status.gate.decision"},
        _AGE,
        {"name": "Step", "type": "integer", "jsonPath": ".status.currentStep", "priority": 1},
        _ready_message,
    ),
)

TUNING_POLICY = Kind(
    kind="TuningPolicy",
    plural="tuningpolicies",
    short_name="tpol",
    description=(
        "TuningPolicy carries the serving guards (JSON guard, circuit breakers, cache, mode mix) "
        "and the PPO learning settings into the serving application of the releases using it."
    ),
    spec=TuningPolicySpec,
    status=TuningPolicyStatus,
    printer_columns=(
        _condition_column("Ready", "Ready"),
        _condition_column("Complete", "TuningComplete"),
        _AGE,
        _ready_message,
    ),
)

KINDS = (FRAGRANCE_RELEASE, TUNING_POLICY)
