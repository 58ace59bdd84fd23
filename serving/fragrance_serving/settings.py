"""The TuningPolicy's serving fields as the guards' settings (the policy model is reused)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from fragrance_api.modes import Mode
from fragrance_api.policy import TuningPolicySpec
from fragrance_serving.guards.breaker import BreakerSettings
from fragrance_serving.guards.json_guard import GuardSettings


@dataclass(frozen=True)
class ServingSettings:
    weights: dict[Mode, int]
    max_deviation: float
    guard: GuardSettings
    breaker: BreakerSettings
    breaker_overrides: dict[str, BreakerSettings] = field(default_factory=dict)
    auto_downshift: bool = True
    cache_enabled: bool = True
    cache_size: int = 1000
    cache_ttl: float = 600
    cache_cleanup: float = 60

    def breaker_for(self, model: str) -> BreakerSettings:
        return self.breaker_overrides.get(model, self.breaker)


def from_policy(policy: TuningPolicySpec) -> ServingSettings:
    d, g, b, c = (
        policy.traffic_distribution,
        policy.json_guard,
        policy.circuit_breaker,
        policy.cache,
    )
    breaker = BreakerSettings(
        failure_threshold=b.failure_threshold,
        success_threshold=b.success_threshold,
        timeout_seconds=b.timeout_seconds,
        half_open_requests=b.half_open_requests,
        window_size=b.window_size,
        minimum_calls=b.minimum_calls,
        enabled=b.enabled,
    )
    # A per-model override replaces only the fields it sets.
    overrides = {
        name: replace(breaker, **override.model_dump(exclude_none=True))
        for name, override in b.models.items()
    }
    return ServingSettings(
        weights={"fast": d.fast, "balanced": d.balanced, "creative": d.creative},
        max_deviation=d.max_deviation,
        guard=GuardSettings(
            enabled=g.enabled,
            max_retries=g.max_retries,
            backoff_base=g.backoff_base,
            jitter=g.jitter,
            fallback_enabled=g.fallback_enabled,
            strict_schema=g.strict_schema,
            max_answer_chars=g.max_answer_chars,
        ),
        breaker=breaker,
        breaker_overrides=overrides,
        auto_downshift=b.auto_downshift,
        cache_enabled=c.enabled,
        cache_size=c.max_size,
        cache_ttl=c.ttl_seconds,
        cache_cleanup=c.cleanup_interval_seconds,
    )


def parse_policy(raw: dict[str, object] | None) -> TuningPolicySpec:
    """A TuningPolicy spec (camelCase, as in the CRD); ValidationError names the field."""
    return TuningPolicySpec.model_validate(raw or {})
