"""``TuningPolicy``: serving guards and PPO learning settings."""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any, Literal

from pydantic import Field

from .base import Condition, KubeModel, Rule, section


class TrafficDistribution(KubeModel):
    rules = (
        Rule(
            cel="self.fast + self.balanced + self.creative == 100",
            message="fast + balanced + creative must sum to 100",
            check=lambda d: d.fast + d.balanced + d.creative == 100,
        ),
    )

    fast: int = Field(default=60, ge=0, le=100, description="Percent of requests in fast mode.")
    balanced: int = Field(
        default=30, ge=0, le=100, description="Percent of requests in balanced mode."
    )
    creative: int = Field(
        default=10, ge=0, le=100, description="Percent of requests in creative mode."
    )
    max_deviation: float = Field(
        default=5,
        ge=0,
        le=100,
        description="Largest tolerated gap, in percentage points, between measured and target.",
    )


class JSONGuard(KubeModel):
    enabled: bool = Field(default=True, description="Validate every brief against its schema.")
    max_retries: int = Field(
        default=3, ge=0, le=10, description="Times the model is asked again after a bad answer."
    )
    backoff_base: float = Field(
        default=1.0, gt=0, le=60, description="First retry delay in seconds; doubles each retry."
    )
    jitter: float = Field(
        default=0.5, ge=0, le=60, description="Random extra delay, up to this many seconds."
    )
    fallback_enabled: bool = Field(
        default=True, description="After the last retry, answer a fallback brief (error: true)."
    )
    strict_schema: bool = Field(
        default=True,
        description="Accept only an exact brief: no unknown or missing fields, notes or "
        'families; no type coercion (true, "60" or 60.0 is not an integer); no blank '
        "string; no control or Unicode format character (NUL, bidi overrides, zero-width).",
    )
    max_answer_chars: int = Field(
        default=8192,
        ge=256,
        le=1_000_000,
        description="An answer longer than this is refused before it is parsed.",
    )


class BreakerOverride(KubeModel):
    """Settings of one model's breaker; unset fields keep the policy-wide value."""

    failure_threshold: float | None = Field(
        default=None, gt=0, le=1, description="Failure rate that opens this model's breaker."
    )
    success_threshold: int | None = Field(
        default=None, ge=1, le=1000, description="Successes in half-open that close it."
    )
    timeout_seconds: int | None = Field(
        default=None, ge=1, le=86_400, description="Seconds open before trying half-open."
    )
    half_open_requests: int | None = Field(
        default=None, ge=1, le=1000, description="Trial calls admitted while half-open."
    )


class CircuitBreaker(KubeModel):
    rules = (
        Rule(
            cel="self.minimumCalls <= self.windowSize",
            message="minimumCalls must not be greater than windowSize",
            check=lambda b: b.minimum_calls <= b.window_size,
            field_path=".minimumCalls",
        ),
    )

    enabled: bool = Field(default=True, description="Guard every model with a circuit breaker.")
    failure_threshold: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="Failure rate over the window (0..1] that opens the breaker.",
    )
    success_threshold: int = Field(
        default=5, ge=1, le=1000, description="Successes in half-open that close the breaker."
    )
    timeout_seconds: int = Field(
        default=60, ge=1, le=86_400, description="Seconds open before trying half-open."
    )
    half_open_requests: int = Field(
        default=3, ge=1, le=1000, description="Trial calls admitted at a time while half-open."
    )
    # 100 calls, as resilience4j: over a 20-call window a model failing a steady 17% of
    # calls reaches 50% by chance (1 run in 7 of 750 calls, simulated), and an open breaker
    # on the cheapest mode's model fails every request for timeoutSeconds.
    window_size: int = Field(
        default=100, ge=1, le=10_000, description="Calls in the sliding window the rate is over."
    )
    minimum_calls: int = Field(
        default=20, ge=1, le=10_000, description="Calls needed in the window before it can open."
    )
    auto_downshift: bool = Field(
        default=True,
        description="When a breaker is open, downshift creative -> balanced -> fast.",
    )
    models: dict[str, BreakerOverride] = Field(
        default_factory=dict,
        max_length=8,
        description="Per-model overrides, keyed by model name.",
        json_schema_extra={"default": {}},
    )


class Cache(KubeModel):
    rules = (
        Rule(
            cel="self.cleanupIntervalSeconds <= self.ttlSeconds",
            message="cleanupIntervalSeconds must not be greater than ttlSeconds",
            check=lambda c: c.cleanup_interval_seconds <= c.ttl_seconds,
            field_path=".cleanupIntervalSeconds",
        ),
    )

    enabled: bool = Field(default=True, description="Cache briefs by normalised request and mode.")
    max_size: int = Field(
        default=1000, ge=1, le=1_000_000, description="Entries kept; least recently used go first."
    )
    ttl_seconds: int = Field(
        default=600, ge=1, le=604_800, description="An entry older than this is never served."
    )
    cleanup_interval_seconds: int = Field(
        default=60, ge=1, le=86_400, description="Seconds between sweeps of expired entries."
    )


class EntropySchedule(KubeModel):
    rules = (
        Rule(
            cel="self.final <= self.initial",
            message="final must not be greater than initial",
            check=lambda e: e.final <= e.initial,
            field_path=".final",
        ),
    )

    initial: float = Field(default=0.02, ge=0, le=1, description="Entropy coefficient at step 0.")
    final: float = Field(
        default=0.005, ge=0, le=1, description="Entropy coefficient after decaySteps."
    )
    decay_steps: int = Field(
        default=10_000, ge=1, le=100_000_000, description="Steps from initial to final."
    )
    strategy: Literal["linear", "exponential", "cosine"] = Field(
        default="linear", description="Shape of the decay."
    )


class PPO(KubeModel):
    entropy_coef: EntropySchedule = section(EntropySchedule, "Entropy bonus schedule.")
    learning_rate: float = Field(default=5.0e-5, gt=0, le=1, description="Optimizer learning rate.")
    clip_epsilon: float = Field(default=0.2, gt=0, le=1, description="PPO ratio clipping range.")
    feedback_batch: int = Field(
        default=64,
        ge=8,
        le=4096,
        description="Rated briefs per PPO iteration on real feedback. Until the first batch "
        "is rated the learner warms up on its simulated rater; from then on it learns from "
        "ratings alone.",
    )


class RewardNormalization(KubeModel):
    enabled: bool = Field(default=True, description="Normalise rewards over a rolling window.")
    window_size: int = Field(
        default=1000, ge=1, le=1_000_000, description="Rewards in the rolling window."
    )
    clip: float = Field(
        default=1.0, gt=0, le=100, description="Normalised rewards are clipped to [-clip, clip]."
    )


class CheckpointRollback(KubeModel):
    enabled: bool = Field(default=True, description="Roll back to the last good checkpoint.")
    loss_spike_factor: float = Field(
        default=2.0,
        gt=1,
        le=100,
        description="Roll back when loss exceeds this multiple of its recent mean.",
    )
    reward_drop_threshold: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="Roll back when mean reward drops by this fraction against the checkpoint.",
    )


class Checkpoint(KubeModel):
    save_every: int = Field(
        default=500, ge=1, le=10_000_000, description="Training steps between checkpoints."
    )
    keep: int = Field(default=10, ge=1, le=1000, description="Checkpoints kept on disk.")
    rollback: CheckpointRollback = section(CheckpointRollback, "Automatic rollback rules.")


class TuningPolicySpec(KubeModel):
    """Serving guards and learning settings. A change to the serving settings is rolled out
    to each release that uses them through its canary (``rollout: canary``)."""

    rollout: Literal["canary", "immediate"] = Field(
        default="canary",
        description="How a change to the serving settings (trafficDistribution, jsonGuard, "
        "circuitBreaker, cache) reaches each release that uses them: canary (the release's "
        "canary track gets them with the stable image, the release's steps and gate decide, "
        "a promotion gives them to stable, a NO-GO leaves stable as it was) or immediate "
        "(both tracks at once, live). The learning settings always apply at once.",
    )
    traffic_distribution: TrafficDistribution = section(
        TrafficDistribution, "Target share of requests per mode when the caller names none."
    )
    json_guard: JSONGuard = section(JSONGuard, "The JSON hard guard on model output.")
    circuit_breaker: CircuitBreaker = section(CircuitBreaker, "Per-model circuit breakers.")
    cache: Cache = section(Cache, "The LRU+TTL brief cache.")
    ppo: PPO = section(PPO, "PPO learning settings.")
    reward_normalization: RewardNormalization = section(
        RewardNormalization, "Rolling reward normalisation."
    )
    checkpoint: Checkpoint = section(Checkpoint, "Learner checkpoints and automatic rollback.")


#: The sections a serving replica applies; a change to them is what a policy rollout carries.
SERVING_SECTIONS = ("trafficDistribution", "jsonGuard", "circuitBreaker", "cache")


def serving_settings(spec: TuningPolicySpec) -> dict[str, Any]:
    wire = spec.to_wire()
    return {key: wire[key] for key in SERVING_SECTIONS}


def settings_digest(spec: TuningPolicySpec) -> str:
    """A short name for the serving settings: equal settings, equal digest."""
    text = json.dumps(serving_settings(spec), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def canaried_settings(policy: TuningPolicySpec | None) -> str | None:
    """The digest of the policy's serving settings when a change to them goes through each
    release's canary; None when they are pushed at once (or there is no policy)."""
    if policy is None or policy.rollout == "immediate":
        return None
    return settings_digest(policy)


class MeasuredDistribution(KubeModel):
    fast: float = Field(default=0, ge=0, le=100, description="Measured percent in fast mode.")
    balanced: float = Field(default=0, ge=0, le=100, description="Measured percent, balanced.")
    creative: float = Field(default=0, ge=0, le=100, description="Measured percent, creative.")


class TrainingProgress(KubeModel):
    step: int = Field(default=0, ge=0, description="PPO training step.")
    entropy_coef: float | None = Field(default=None, description="Current entropy coefficient.")
    reward_mean: float | None = Field(default=None, description="Mean reward, recent window.")
    loss: float | None = Field(default=None, description="Last PPO loss.")
    rollbacks: int = Field(default=0, ge=0, description="Checkpoint rollbacks so far.")
    last_checkpoint_step: int | None = Field(
        default=None, ge=0, description="Step of the newest good checkpoint."
    )


class ReleaseRollout(KubeModel):
    """Where one release that uses the policy stands with its current serving settings."""

    release: str = Field(description="The FragranceRelease.")
    settings: str = Field(description="Digest of the policy's serving settings now.")
    state: Literal["Serving", "RollingOut", "RolledBack", "Pending"] = Field(
        description="Serving: its stable track runs these settings; RollingOut: its canary "
        "does, at weight; RolledBack: their canary ended without a promotion (stable kept "
        "the settings before); Pending: not started yet."
    )
    weight: int = Field(default=0, ge=0, le=100, description="The canary's share (RollingOut).")
    message: str = Field(default="", description="The step, or why the rollout ended.")


class TuningPolicyStatus(KubeModel):
    """Where the settings are applied and how the learner is doing."""

    observed_generation: int = Field(
        default=0, ge=0, description="metadata.generation last acted upon."
    )
    conditions: list[Condition] = Field(
        default_factory=list,
        description="Ready, Applied, TuningComplete.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    applied_to: list[Annotated[str, Field(description="A FragranceRelease name.")]] = Field(
        default_factory=list, description="FragranceReleases that run with these settings."
    )
    rollouts: list[ReleaseRollout] = Field(
        default_factory=list,
        description="Per release using the policy: the current serving settings' rollout.",
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["release"],
        },
    )
    distribution: MeasuredDistribution | None = Field(
        default=None, description="Measured share of requests per mode."
    )
    training: TrainingProgress | None = Field(default=None, description="Learner progress.")


class TuningPolicy(KubeModel):
    spec: TuningPolicySpec = section(TuningPolicySpec, "Guard and learning settings.")
    status: TuningPolicyStatus | None = Field(
        default=None, description="What the operator observed and did."
    )
