"""Building blocks shared by the custom resources' models.

Each cross-field rule is written once, as a :class:`Rule` holding both the CEL expression the
apiserver enforces (``x-kubernetes-validations``) and the Python predicate the operator
enforces, so the two can never drift apart silently (the tests run every invalid manifest
through both).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

#: Go's ``time.ParseDuration`` syntax restricted to the units an operator needs.
DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}

#: A DNS-1123 label: what Kubernetes accepts as a name and in label values.
DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"


def parse_duration(value: str) -> float:
    """Seconds in a Go-style duration such as ``1h30m`` or ``90s``."""
    if not re.fullmatch(DURATION_PATTERN, value):
        raise ValueError(f"{value!r} is not a duration such as 30s, 5m or 1h")
    return sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(value))


Duration = Annotated[
    str,
    Field(
        pattern=DURATION_PATTERN,
        max_length=32,
        examples=["30s", "5m", "1h"],
    ),
]


@dataclass(frozen=True)
class Rule:
    """A cross-field rule, enforced by the apiserver (CEL) and by the operator (Python)."""

    cel: str | None  # None: the schema enforces it already (e.g. x-kubernetes-list-type)
    message: str
    check: Callable[[Any], bool]
    field_path: str | None = None

    def as_validation(self) -> dict[str, str]:
        assert self.cel is not None
        validation = {"rule": self.cel, "message": self.message}
        if self.field_path:
            validation["fieldPath"] = self.field_path
        return validation

    def error(self) -> str:
        return f"{self.field_path.lstrip('.')}: {self.message}" if self.field_path else self.message


def rules_schema(schema: dict[str, Any], cls: type[KubeModel]) -> None:
    validations = [rule.as_validation() for rule in cls.rules if rule.cel is not None]
    if validations:
        schema["x-kubernetes-validations"] = validations


def unique(items: list[Any], key: str) -> bool:
    values = [getattr(item, key) for item in items]
    return len(values) == len(set(values))


class KubeModel(BaseModel):
    """camelCase on the wire, snake_case in Python, rules enforced on both sides."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        strict=True,  # like the apiserver: "yes" is not a boolean, "2" is not an integer
        json_schema_extra=rules_schema,
    )

    rules: ClassVar[tuple[Rule, ...]] = ()

    @model_validator(mode="after")
    def _check_rules(self) -> KubeModel:
        for rule in self.rules:
            if not rule.check(self):
                raise ValueError(rule.error())
        return self

    def to_wire(self) -> dict[str, Any]:
        """The object as the Kubernetes API spells it."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


def section(model: type[KubeModel], description: str) -> Any:
    """A nested object that may be omitted; the apiserver then fills in its defaults.

    The schema's default is the fully defaulted object: the apiserver checks a default
    against the CEL rules as written, without defaulting inside it first.
    """
    return Field(
        default_factory=model,
        description=description,
        json_schema_extra={"default": model().to_wire()},
    )


ConditionStatus = Literal["True", "False", "Unknown"]


class Condition(KubeModel):
    """A status condition in the shape of ``metav1.Condition`` (what kstatus reads)."""

    type: str = Field(description="Type of condition, e.g. Ready, Reconciling, Stalled.")
    status: ConditionStatus = Field(description="True, False or Unknown.")
    reason: str = Field(default="", description="One-word CamelCase reason for the last change.")
    message: str = Field(default="", description="Human-readable details of the last change.")
    last_transition_time: str | None = Field(
        default=None,
        description="When the condition last changed status (RFC 3339).",
        json_schema_extra={"format": "date-time"},
    )
    observed_generation: int | None = Field(
        default=None,
        ge=0,
        description="metadata.generation the condition was computed from.",
    )


class LocalObjectReference(KubeModel):
    name: str = Field(
        default="default",
        min_length=1,
        max_length=253,
        description="Name of the referenced object in the same namespace.",
    )
