"""The canary part of a ``FragranceRelease``: the steps, and the gate judged at each."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from .base import (
    Duration,
    KubeModel,
    Rule,
    parse_duration,
    section,
    unique,
)
from .evaluation import EvaluationSpec

BUILTIN_CHECKS = (
    "errorRate5xx",
    "errorRate4xx",
    "latencyP95",
    "schemaFailureRate",
    "jsonFallbackRate",
    "circuitBreakers",
    "llmHealth",
    "vramHeadroom",
    "rlLossRunaway",
    "cacheHitRate",
)
#: The built-in checks that may be compared with the stable track.
COMPARABLE_CHECKS = (
    "errorRate5xx",
    "errorRate4xx",
    "latencyP95",
    "schemaFailureRate",
    "jsonFallbackRate",
    "upstreamErrorRate",
    "cacheHitRate",
)


def _cel_list(names: tuple[str, ...]) -> str:
    return "[" + ", ".join(f"'{name}'" for name in names) + "]"


_BUILTIN_CEL_LIST = _cel_list(BUILTIN_CHECKS)


class LatencyThresholds(KubeModel):
    fast: float | None = Field(default=None, gt=0, description="p95 budget in seconds (2.5).")
    balanced: float | None = Field(default=None, gt=0, description="p95 budget in seconds (3.2).")
    creative: float | None = Field(default=None, gt=0, description="p95 budget in seconds (4.5).")


class Thresholds(KubeModel):
    """Overrides of the built-in gate checks; an unset field keeps the default in brackets."""

    error_rate5xx: float | None = Field(
        default=None,
        alias="errorRate5xx",
        ge=0,
        le=1,
        description="Highest canary 5xx share, 0..1 (0.01).",
    )
    error_rate4xx: float | None = Field(
        default=None,
        alias="errorRate4xx",
        ge=0,
        le=1,
        description="Highest canary 4xx share, 0..1 (0.05).",
    )
    latency_p95: LatencyThresholds | None = Field(
        default=None, description="p95 latency budget per mode, in seconds."
    )
    schema_failure_rate: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="Highest share of outputs failing the JSON schema after all retries (0).",
    )
    json_fallback_rate: float | None = Field(
        default=None, ge=0, le=1, description="Highest share of fallback answers (0.01)."
    )
    vram_headroom: float | None = Field(
        default=None, ge=0, le=1, description="Lowest free/total VRAM on serving GPUs (0.20)."
    )
    rl_loss_runaway: float | None = Field(
        default=None,
        gt=1,
        le=100,
        description="PPO loss must stay below this multiple of its recent mean (2.0).",
    )
    cache_hit_rate: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="Lowest cache hit rate for the fast and balanced modes (0.60).",
    )
    upstream_error_rate: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="Highest share of model calls with no usable answer (5xx, timeout, "
        "connection, 429), retries included (0.10). Retries and downshifts hide these from "
        "users; this check does not.",
    )


class MetricCheck(KubeModel):
    """An extra gate check: a PromQL query and the bounds its value must keep."""

    rules = (
        Rule(
            cel="has(self.min) || has(self.max)",
            message="a metric check needs min or max",
            check=lambda m: m.min is not None or m.max is not None,
        ),
        Rule(
            cel="!has(self.min) || !has(self.max) || self.min <= self.max",
            message="min must not be greater than max",
            check=lambda m: m.min is None or m.max is None or m.min <= m.max,
            field_path=".min",
        ),
    )

    name: str = Field(
        min_length=1,
        max_length=63,
        pattern=r"^[a-zA-Z][a-zA-Z0-9_-]*$",
        description="Name of the check as shown in status.gate.checks.",
    )
    query: str = Field(
        min_length=1,
        max_length=4096,
        description="PromQL returning one value; ${release} and ${track} are substituted.",
    )
    min: float | None = Field(default=None, description="The check fails below this value.")
    max: float | None = Field(default=None, description="The check fails above this value.")
    severity: Literal["NO-GO", "WARNING"] = Field(
        default="NO-GO", description="Decision when the check fails: NO-GO or WARNING."
    )


class StableComparison(KubeModel):
    """One check judged against the stable track in the same window."""

    rules = (
        Rule(
            cel="has(self.relative) || has(self.absolute)",
            message="a comparison needs relative or absolute (the margin the canary may be "
            "worse than stable by)",
            check=lambda c: c.relative is not None or c.absolute is not None,
        ),
    )

    check: str = Field(
        min_length=1,
        max_length=63,
        description="The check to compare: " + ", ".join(COMPARABLE_CHECKS) + ", or the "
        "name of one of metrics[].",
    )
    relative: float | None = Field(
        default=None,
        ge=0,
        le=10,
        description="How much worse than stable the canary may be, as a share of stable's "
        "value: 0.2 lets a p95 be 20% above stable's.",
    )
    absolute: float | None = Field(
        default=None,
        ge=0,
        description="How much worse than stable the canary may be, in the check's unit (for "
        "a rate, 0.01 is one point); added to relative.",
    )
    confidence: float = Field(
        default=0.95,
        ge=0.5,
        lt=1,
        description="For rates, the confidence of the two-proportion test: the canary fails "
        "when it is worse than stable beyond the margin at this confidence, passes when it "
        "is not, and is INCONCLUSIVE when its requests cannot tell.",
    )
    severity: Literal["NO-GO", "WARNING"] | None = Field(
        default=None,
        description="Decision when the canary is worse than stable; the check's own by default.",
    )


class AnalysisSpec(KubeModel):
    rules = (
        Rule(
            cel=None,  # x-kubernetes-list-type: map
            message="metric names must be unique",
            check=lambda a: unique(a.metrics, "name"),
            field_path=".metrics",
        ),
        Rule(
            cel=f"!has(self.metrics) || self.metrics.all(m, !(m.name in {_BUILTIN_CEL_LIST}))",
            message="metrics must not reuse the name of a built-in check; use thresholds "
            "to change a built-in check",
            check=lambda a: all(m.name not in BUILTIN_CHECKS for m in a.metrics),
            field_path=".metrics",
        ),
        Rule(
            cel="!has(self.compareWithStable) || self.compareWithStable.all(c, c.check in "
            f"{_cel_list(COMPARABLE_CHECKS)} || "
            "(has(self.metrics) && self.metrics.exists(m, m.name == c.check)))",
            message="compareWithStable may name only "
            + ", ".join(COMPARABLE_CHECKS)
            + " or one of metrics[]",
            check=lambda a: all(
                c.check in COMPARABLE_CHECKS or c.check in {m.name for m in a.metrics}
                for c in a.compare_with_stable
            ),
            field_path=".compareWithStable",
        ),
        Rule(
            cel=None,  # x-kubernetes-list-type: map
            message="compareWithStable may name a check once",
            check=lambda a: unique(a.compare_with_stable, "check"),
            field_path=".compareWithStable",
        ),
    )

    interval: Duration = Field(default="1m", description="Time between gate evaluations.")
    failure_limit: int = Field(
        default=0,
        ge=0,
        le=100,
        description="NO-GO results tolerated at a step; the next one rolls back.",
    )
    inconclusive_limit: int = Field(
        default=3,
        ge=1,
        le=100,
        description="INCONCLUSIVE (or WARNING) results in a row before onInconclusive acts.",
    )
    on_inconclusive: Literal["pause", "rollback"] = Field(
        default="pause", description="What happens after inconclusiveLimit: pause or rollback."
    )
    min_requests: int = Field(
        default=20,
        ge=0,
        le=1_000_000,
        description="Fewer canary requests than this in a window makes the gate INCONCLUSIVE, "
        "and each check over requests INCONCLUSIVE rather than GO or NO-GO (a 5xx or model "
        "error rate of at least 0.5 still acts from 5 requests).",
    )
    min_requests_per_mode: int = Field(
        default=10,
        ge=1,
        le=1_000_000,
        description="Fewer requests of a mode than this in a window make that mode's latency "
        "INCONCLUSIVE: a p95 of a handful of requests is its one slowest request.",
    )
    thresholds: Thresholds = section(Thresholds, "Overrides of the built-in checks.")
    metrics: list[MetricCheck] = Field(
        default_factory=list,
        max_length=20,
        description="Extra PromQL checks, evaluated with the built-in ones.",
        json_schema_extra={
            "default": [],
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["name"],
        },
    )
    compare_with_stable: list[StableComparison] = Field(
        default_factory=list,
        max_length=20,
        description="Checks also judged against the stable track in the same window, on top "
        "of their fixed thresholds: e.g. latencyP95 no more than 20% above stable's.",
        json_schema_extra={
            "default": [],
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["check"],
        },
    )


class ShadowSpec(KubeModel):
    """A phase before the first step in which the canary answers mirrored requests only."""

    percent: int = Field(
        default=0,
        ge=0,
        le=100,
        description="Share of stable's requests also sent to the canary, whose answers are "
        "discarded: users only ever get stable's. 0: no shadow phase.",
    )
    duration: Duration = Field(
        default="5m",
        description="Least time in the shadow phase; the gate judges it on the canary's own "
        "series as it judges a step.",
    )


class CanarySpec(KubeModel):
    rules = (
        Rule(
            cel="self.steps.isSorted()",
            message="steps must be strictly increasing",
            check=lambda c: all(a < b for a, b in zip(c.steps, c.steps[1:], strict=False)),
            field_path=".steps",
        ),
        Rule(
            cel="self.steps[size(self.steps) - 1] == 100",
            message="the last step must be 100",
            check=lambda c: c.steps[-1] == 100,
            field_path=".steps",
        ),
        Rule(
            cel="duration(self.stepInterval) >= duration(self.analysis.interval)",
            message="stepInterval must be at least analysis.interval",
            check=lambda c: parse_duration(c.step_interval) >= parse_duration(c.analysis.interval),
            field_path=".stepInterval",
        ),
        Rule(
            cel="duration(self.progressDeadline) > duration(self.stepInterval)",
            message="progressDeadline must be longer than stepInterval",
            check=lambda c: parse_duration(c.progress_deadline) > parse_duration(c.step_interval),
            field_path=".progressDeadline",
        ),
        Rule(
            cel="duration(self.shadow.duration) >= duration(self.analysis.interval)",
            message="shadow.duration must be at least analysis.interval",
            check=lambda c: (
                parse_duration(c.shadow.duration) >= parse_duration(c.analysis.interval)
            ),
            field_path=".shadow.duration",
        ),
    )

    steps: list[Annotated[int, Field(ge=1, le=100, description="Canary weight in percent.")]] = (
        Field(
            default_factory=lambda: [1, 5, 25, 100],
            min_length=1,
            max_length=20,
            description="Canary traffic weights in percent, strictly increasing, ending at 100.",
            json_schema_extra={
                "default": [1, 5, 25, 100],
                "x-kubernetes-list-type": "set",
            },
        )
    )
    step_interval: Duration = Field(default="5m", description="Least time spent at a step.")
    progress_deadline: Duration = Field(
        default="1h",
        description="A step that has not advanced within this time is Stalled.",
    )
    manual_promotion: bool = Field(
        default=False, description="When true, wait for a promote action before going to 100%."
    )
    analysis: AnalysisSpec = section(AnalysisSpec, "How and how often the gate is judged.")
    shadow: ShadowSpec = section(
        ShadowSpec, "Mirrored requests before the first step (rayServe provider)."
    )
    evaluation: EvaluationSpec = section(
        EvaluationSpec, "An evaluation set replayed against canary and stable before any traffic."
    )
