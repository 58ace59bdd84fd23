"""``spec.workload``: the serving pods, as a pod template the user owns.

The operator fills in only the serving container (the one named ``serving``, added when the
template has none): its image, args, ports, probes, the GPU limit and the mounts of what it
writes (the app's config, the live TuningPolicy, a checkpoint folder). Every other field of
the pod and of its containers is the user's, passed through as written: tolerations,
nodeSelector, affinity, resources, serviceAccountName, imagePullSecrets, env, volumes, ….
The schema declares only the fields the rules below read; the apiserver keeps the rest
(``x-kubernetes-preserve-unknown-fields``) and checks them when the operator writes the
Deployment, whose error then shows in the release's status.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import ConfigDict, Field

from .base import DNS_LABEL_PATTERN, KubeModel, Rule, rules_schema

SERVING_CONTAINER = "serving"
GPU = "nvidia.com/gpu"
#: The operator's own volumes in the pod; the template may not use these names.
RESERVED_VOLUMES = ("fragrance-app", "fragrance-policy", "fragrance-checkpoints")
#: The selector labels of the tracks' Deployments.
SELECTOR_LABELS = ("release", "track")
#: Where the serving app looks for trained weights: mount them here through the template.
MODELS_DIR = "/models"


def _open_schema(schema: dict[str, Any], cls: type[KubeModel]) -> None:
    rules_schema(schema, cls)
    schema.pop("additionalProperties", None)  # not allowed beside properties in a CRD
    schema["x-kubernetes-preserve-unknown-fields"] = True


class _Open(KubeModel):
    """A Kubernetes object whose other fields are kept as written."""

    model_config = ConfigDict(extra="allow", json_schema_extra=_open_schema)


Quantity = Annotated[
    int | str,
    # In json_schema_extra: pydantic drops a description on a union inside a mapping.
    Field(
        json_schema_extra={
            "x-kubernetes-int-or-string": True,
            "description": "A Kubernetes quantity, e.g. 500m, 2Gi or 1.",
        }
    ),
]


class ContainerResources(_Open):
    """A container's resources."""

    limits: dict[str, Quantity] | None = Field(
        default=None, max_length=32, description="Most of each resource the container may use."
    )
    requests: dict[str, Quantity] | None = Field(
        default=None, max_length=32, description="Resources the scheduler reserves for it."
    )


class ContainerTemplate(_Open):
    """A Kubernetes Container; the fields not listed here are kept as written."""

    name: str = Field(
        min_length=1,
        max_length=63,
        pattern=DNS_LABEL_PATTERN,
        description="Container name; the one named serving is the operator's to complete.",
    )
    image: str | None = Field(
        default=None, max_length=1024, description="Image (unset on serving: spec.image)."
    )
    resources: ContainerResources | None = Field(
        default=None, description="CPU, memory and other resources (not nvidia.com/gpu on serving)."
    )


class VolumeTemplate(_Open):
    """A Kubernetes Volume."""

    name: str = Field(
        min_length=1, max_length=63, description="Volume name (not one of the operator's)."
    )


class PodSpecTemplate(_Open):
    """A Kubernetes PodSpec; the fields not listed here are kept as written."""

    containers: list[ContainerTemplate] | None = Field(
        default=None,
        max_length=16,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
        description="The pod's containers: serving (completed by the operator) and yours.",
    )
    volumes: list[VolumeTemplate] | None = Field(
        default=None, max_length=64, description="The pod's volumes besides the operator's."
    )


class PodMetadataTemplate(KubeModel):
    """The serving pods' labels and annotations."""

    labels: dict[str, Annotated[str, Field(max_length=63, description="A label value.")]] | None = (
        Field(default=None, max_length=64, description="Labels added to the serving pods.")
    )
    annotations: (
        dict[str, Annotated[str, Field(max_length=4096, description="An annotation value.")]] | None
    ) = Field(default=None, max_length=64, description="Annotations added to the serving pods.")


def _serving(template: PodTemplate) -> list[ContainerTemplate]:
    return [c for c in template.spec.containers or [] if c.name == SERVING_CONTAINER]


def _gpu_free(c: ContainerTemplate) -> bool:
    r = c.resources
    return r is None or all(GPU not in (part or {}) for part in (r.limits, r.requests))


class PodTemplate(KubeModel):
    """The serving pods' template (a Kubernetes PodTemplateSpec)."""

    rules = (
        Rule(
            cel="!has(self.metadata) || !has(self.metadata.labels) || "
            "!('release' in self.metadata.labels || 'track' in self.metadata.labels)",
            message="release and track are the operator's selector labels",
            check=lambda t: (
                not (t.metadata and set(SELECTOR_LABELS) & set(t.metadata.labels or {}))
            ),
            field_path=".metadata.labels",
        ),
        Rule(
            cel="!has(self.spec.containers) || self.spec.containers.all(c, "
            "c.name != 'serving' || !has(c.image))",
            message="the serving container's image is spec.image; leave it unset here",
            check=lambda t: all(c.image is None for c in _serving(t)),
            field_path=".spec.containers",
        ),
        Rule(
            cel="!has(self.spec.containers) || self.spec.containers.all(c, "
            "c.name != 'serving' || !has(c.resources) || "
            "((!has(c.resources.limits) || !('nvidia.com/gpu' in c.resources.limits)) && "
            "(!has(c.resources.requests) || !('nvidia.com/gpu' in c.resources.requests))))",
            message="the serving container's nvidia.com/gpu is workload.gpusPerReplica; "
            "leave it unset here",
            check=lambda t: all(_gpu_free(c) for c in _serving(t)),
            field_path=".spec.containers",
        ),
        Rule(
            cel="!has(self.spec.volumes) || self.spec.volumes.all(v, "
            "!(v.name in ['fragrance-app', 'fragrance-policy', 'fragrance-checkpoints']))",
            message="fragrance-app, fragrance-policy and fragrance-checkpoints are the "
            "operator's volumes",
            check=lambda t: not {v.name for v in t.spec.volumes or []} & set(RESERVED_VOLUMES),
            field_path=".spec.volumes",
        ),
    )

    metadata: PodMetadataTemplate | None = Field(
        default=None, description="Labels and annotations of the serving pods."
    )
    spec: PodSpecTemplate = Field(
        default_factory=PodSpecTemplate,
        description="A Kubernetes PodSpec. The operator owns, on the container named "
        "serving (added when absent): image (spec.image), args, ports, readinessProbe, "
        "livenessProbe, the nvidia.com/gpu limit (workload.gpusPerReplica) and the mounts "
        "of its volumes fragrance-app, fragrance-policy and fragrance-checkpoints. "
        f"Everything else is yours; mount the trained weights at {MODELS_DIR}.",
    )
