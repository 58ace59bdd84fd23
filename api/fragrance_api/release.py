"""``FragranceRelease``: a canary release of the guarded LLM ensemble."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import (
    DNS_LABEL_PATTERN,
    Duration,
    KubeModel,
    LocalObjectReference,
    Rule,
    parse_duration,
    section,
    unique,
)
from .canary import CanarySpec
from .modes import Mode
from .notifications import NotificationTarget
from .release_status import FragranceReleaseStatus
from .workload import PodTemplate

Backend = Literal["openai", "torch"]


class FaultInjection(KubeModel):
    """Make a model fail on purpose, to rehearse a bad release (off by default)."""

    error_rate: float = Field(
        default=0, ge=0, le=1, description="Fraction of calls that fail like a 5xx."
    )
    garbage_rate: float = Field(
        default=0, ge=0, le=1, description="Fraction of answers that are not JSON."
    )
    delay_seconds: float = Field(
        default=0, ge=0, le=300, description="Latency added to every call, in seconds."
    )
    prompt_blind: bool = Field(
        default=False,
        description="Answer one fixed, valid brief whatever the prompt: fast, valid JSON, and "
        "useless (what only an evaluation of quality catches).",
    )


class ModelSpec(KubeModel):
    """One model of the ensemble and the mode it serves."""

    rules = (
        Rule(
            cel="self.backend != 'openai' || has(self.endpoint)",
            message="endpoint is required when backend is openai",
            check=lambda m: m.backend != "openai" or m.endpoint is not None,
            field_path=".endpoint",
        ),
    )

    name: str = Field(
        min_length=1,
        max_length=63,
        pattern=DNS_LABEL_PATTERN,
        description="Model name, unique in the release (e.g. llama, mistral, qwen).",
    )
    mode: Mode = Field(description="Serving mode this model answers: fast, balanced or creative.")
    backend: Backend = Field(
        default="torch",
        description=(
            "openai: any OpenAI-compatible chat-completions server such as vLLM (needs "
            "endpoint); torch: a small model trained by the project, loaded in-process."
        ),
    )
    endpoint: str | None = Field(
        default=None,
        max_length=2048,
        pattern=r"^https?://[^\s]+$",
        description="Base URL of the OpenAI-compatible API, e.g. http://llama:8000/v1.",
    )
    vram_gib: float = Field(
        default=0,
        alias="vramGiB",
        ge=0,
        le=1024,
        description="GPU memory the model needs, in GiB; used for capacity decisions.",
    )
    gpus: float = Field(
        default=0,
        ge=0,
        le=8,
        description="GPUs (a fraction shares one) each Ray Serve replica of this model "
        "takes: its ray_actor_options.num_gpus, for the rayServe provider.",
    )
    faults: FaultInjection | None = Field(
        default=None, description="Fault injection for rehearsals; unset in production."
    )


class WorkloadSpec(KubeModel):
    replicas: int = Field(
        default=2, ge=0, le=1000, description="Replicas of the GPU worker (worker-llm)."
    )
    gpus_per_replica: int = Field(
        default=1, ge=0, le=16, description="nvidia.com/gpu requested by each replica."
    )
    learner_gpus: float = Field(
        default=0,
        alias="learnerGpus",
        ge=0,
        le=8,
        description="GPUs (a fraction shares one) the PPO worker's replica takes: its "
        "ray_actor_options.num_gpus, for the rayServe provider.",
    )
    template: PodTemplate | None = Field(
        default=None,
        description="The serving pods' template for the Deployment workloads (gatewayAPI and "
        "nginx providers): placement, resources, identity, extra containers and volumes.",
    )


class GatewayAPITraffic(KubeModel):
    http_route: str = Field(
        alias="httpRoute",
        min_length=1,
        max_length=253,
        description="Name of the Gateway API HTTPRoute whose backendRef weights are shifted.",
    )


class NginxTraffic(KubeModel):
    ingress: str = Field(
        min_length=1,
        max_length=253,
        description="Name of the stable Ingress; a canary Ingress is created beside it.",
    )


class RayServeTraffic(KubeModel):
    router_application: str = Field(
        default="router",
        min_length=1,
        max_length=63,
        description="Ray Serve application that splits traffic between stable and canary.",
    )
    ray_service: str | None = Field(
        default=None,
        alias="rayService",
        min_length=1,
        max_length=253,
        pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
        description=(
            "KubeRay RayService (same namespace) whose serveConfigV2 the operator writes; "
            "unset: the Ray cluster of the operator's FRAGRANCE_RAY_DASHBOARD_URL."
        ),
    )


class TrafficSpec(KubeModel):
    rules = (
        Rule(
            cel="self.provider != 'gatewayAPI' || has(self.gatewayAPI)",
            message="gatewayAPI.httpRoute is required when provider is gatewayAPI",
            check=lambda t: t.provider != "gatewayAPI" or t.gateway_api is not None,
            field_path=".gatewayAPI",
        ),
        Rule(
            cel="self.provider != 'nginx' || has(self.nginx)",
            message="nginx.ingress is required when provider is nginx",
            check=lambda t: t.provider != "nginx" or t.nginx is not None,
            field_path=".nginx",
        ),
    )

    provider: Literal["gatewayAPI", "nginx", "rayServe"] = Field(
        default="gatewayAPI",
        description="How traffic is split: gatewayAPI (HTTPRoute), nginx (canary Ingress) or "
        "rayServe (a router Serve application).",
    )
    gateway_api: GatewayAPITraffic | None = Field(
        default=None, alias="gatewayAPI", description="Settings of the gatewayAPI provider."
    )
    nginx: NginxTraffic | None = Field(default=None, description="Settings of the nginx provider.")
    ray_serve: RayServeTraffic | None = Field(
        default=None, alias="rayServe", description="Settings of the rayServe provider."
    )


class ScalingSpec(KubeModel):
    rules = (
        Rule(
            cel="self.minReplicas <= self.maxReplicas",
            message="minReplicas must not be greater than maxReplicas",
            check=lambda s: s.min_replicas <= s.max_replicas,
            field_path=".minReplicas",
        ),
        Rule(
            cel="duration(self.scaleUpAfter) <= duration('4m')",
            message="must be at most 4m, so a sustained breach scales up within 5 minutes",
            check=lambda s: parse_duration(s.scale_up_after) <= 240,
            field_path=".scaleUpAfter",
        ),
    )

    min_replicas: int = Field(default=1, ge=0, le=1000, description="Fewest GPU worker replicas.")
    max_replicas: int = Field(default=8, ge=1, le=1000, description="Most GPU worker replicas.")
    vram_headroom_min: float = Field(
        default=0.20,
        ge=0,
        le=1,
        description="Scale-up is refused while free/total VRAM is below this fraction.",
    )
    scale_down_cooldown: Duration = Field(
        default="10m",
        description="A scale-down needs the signal low for this long and no scale-up within it.",
    )
    autoscale: bool = Field(
        default=False,
        description="When true, the operator sizes the stable GPU worker between minReplicas "
        "and maxReplicas from `metric`; workload.replicas is then only the starting size.",
    )
    metric: Literal["requestsPerReplica", "latencyBudget"] = Field(
        default="requestsPerReplica",
        description="Load signal: requests per second per stable replica "
        "(http_requests_total), or the highest per-mode p95 as a fraction of its budget "
        "(http_request_duration_seconds).",
    )
    target_requests_per_replica: float = Field(
        default=5.0, gt=0, le=100000, description="Per-replica request rate to hold."
    )
    target_latency_ratio: float = Field(
        default=0.8, gt=0, le=10, description="p95/budget to hold, for metric latencyBudget."
    )
    scale_up_after: Duration = Field(
        default="1m", description="How long a breach must last before a scale-up (at most 4m)."
    )


class FragranceReleaseSpec(KubeModel):
    """The release to roll out: what, where the traffic goes, and how carefully."""

    rules = (
        Rule(
            cel=None,  # x-kubernetes-list-type: map
            message="model names must be unique",
            check=lambda s: unique(s.models, "name"),
            field_path=".models",
        ),
        Rule(
            cel=None,  # x-kubernetes-list-type: map
            message="notification target names must be unique",
            check=lambda s: unique(s.notifications, "name"),
            field_path=".notifications",
        ),
        Rule(
            cel="self.models.all(m, self.models.filter(n, n.mode == m.mode).size() == 1)",
            message="each mode may be served by one model at most",
            check=lambda s: len({m.mode for m in s.models}) == len(s.models),
            field_path=".models",
        ),
        Rule(
            cel="self.workload.replicas >= self.scaling.minReplicas && "
            "self.workload.replicas <= self.scaling.maxReplicas",
            message="workload.replicas must lie between scaling.minReplicas and "
            "scaling.maxReplicas",
            check=lambda s: s.scaling.min_replicas <= s.workload.replicas <= s.scaling.max_replicas,
            field_path=".workload.replicas",
        ),
        Rule(
            cel="self.canary.shadow.percent == 0 || self.traffic.provider == 'rayServe'",
            message="a shadow phase needs the rayServe provider (its router mirrors requests)",
            check=lambda s: s.canary.shadow.percent == 0 or s.traffic.provider == "rayServe",
            field_path=".canary.shadow.percent",
        ),
    )

    version: str = Field(
        min_length=1,
        max_length=63,
        pattern=r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$",
        description="The version being rolled out (a valid label value, e.g. v0.2.0).",
    )
    image: str = Field(
        min_length=1,
        max_length=1024,
        pattern=r"^[^\s]+$",
        description="Container image of the serving application for this version.",
    )
    tuning_policy_ref: LocalObjectReference = section(
        LocalObjectReference, "TuningPolicy whose guard and learning settings this release uses."
    )
    models: list[ModelSpec] = Field(
        min_length=1,
        max_length=8,
        description="The ensemble's models: names unique, one model per mode at most.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
    workload: WorkloadSpec = section(WorkloadSpec, "The GPU worker (worker-llm).")
    traffic: TrafficSpec = Field(description="How traffic is split between stable and canary.")
    canary: CanarySpec = section(CanarySpec, "Steps, timing and gate of the canary.")
    scaling: ScalingSpec = section(ScalingSpec, "Autoscaling bounds and the VRAM headroom rule.")
    suspend: bool = Field(
        default=False, description="When true, the rollout holds where it is until unset."
    )
    notifications: list[NotificationTarget] = Field(
        default_factory=list,
        max_length=8,
        description="Where the rollout's transitions are announced; delivery is retried with "
        "backoff and never delays or fails the rollout.",
        json_schema_extra={
            "default": [],
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["name"],
        },
    )


class FragranceRelease(KubeModel):
    spec: FragranceReleaseSpec = Field(description="The release to roll out.")
    status: FragranceReleaseStatus | None = Field(
        default=None, description="What the operator observed and did."
    )
