"""The evaluation before traffic: an evaluation set replayed against canary and stable."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from .base import Duration, KubeModel, Rule
from .modes import Mode

Term = Annotated[str, Field(min_length=1, max_length=40, description="A family or a note.")]


class EvaluationPrompt(KubeModel):
    """One prompt and what a brief that follows it must show."""

    prompt: str = Field(min_length=1, max_length=2000, description="The request sent.")
    mode: Mode | None = Field(
        default=None, description="The mode asked for; the release's distribution when unset."
    )
    families: list[Term] = Field(
        default_factory=list,
        max_length=4,
        description="Families the brief must all name (prompt adherence).",
        json_schema_extra={"default": []},
    )
    notes: list[Term] = Field(
        default_factory=list,
        max_length=12,
        description="Notes of which the brief must name at least one (prompt adherence).",
        json_schema_extra={"default": []},
    )


class ConfigMapKey(KubeModel):
    name: str = Field(min_length=1, max_length=253, description="ConfigMap in the namespace.")
    key: str = Field(
        default="prompts.yaml",
        min_length=1,
        max_length=253,
        description="Key holding a YAML list of prompts, each as in prompts[].",
    )


class EvaluationSpec(KubeModel):
    """Before the first step, the evaluation set is replayed against the canary and the
    stable directly (no user traffic) and scored; a NO-GO rolls back before any user sees
    the canary."""

    rules = (
        Rule(
            cel="!has(self.configMapRef) || !has(self.prompts) || size(self.prompts) == 0",
            message="set prompts or configMapRef, not both",
            check=lambda e: e.config_map_ref is None or not e.prompts,
            field_path=".configMapRef",
        ),
    )

    enabled: bool = Field(default=False, description="Evaluate before the first step.")
    prompts: list[EvaluationPrompt] = Field(
        default_factory=list,
        max_length=200,
        description="The evaluation set; the operator's default set (24 prompts over every "
        "accord and mode) when empty and no configMapRef is set.",
        json_schema_extra={"default": []},
    )
    config_map_ref: ConfigMapKey | None = Field(
        default=None, description="The evaluation set from a ConfigMap instead of prompts."
    )
    min_schema_valid_rate: float = Field(
        default=0.9,
        ge=0,
        le=1,
        description="Least share of the canary's answers that are valid briefs without a "
        "fallback (NO-GO below it).",
    )
    max_mean_retries: float = Field(
        default=1.0,
        ge=0,
        le=10,
        description="Most JSON-guard retries per canary answer, on average (WARNING above).",
    )
    quality_tolerance: float = Field(
        default=0.2,
        ge=0,
        le=1,
        description="How far below stable's the canary's prompt adherence and diversity may "
        "be on the same prompts (NO-GO below it).",
    )
    min_answered: float = Field(
        default=0.8,
        gt=0,
        le=1,
        description="Least share of prompts each track must answer for the scores to count; "
        "fewer makes the evaluation INCONCLUSIVE.",
    )
    timeout: Duration = Field(default="30s", description="Deadline of each request.")
    concurrency: int = Field(default=4, ge=1, le=64, description="Requests in flight per track.")
