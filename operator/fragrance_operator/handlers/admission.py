"""The validating admission webhook for FragranceReleases: reads the cluster, then judges."""

from __future__ import annotations

import asyncio
from typing import Any

import kopf
from pydantic import ValidationError

from fragrance_api.crd import API_VERSION
from fragrance_api.release import FragranceReleaseSpec
from fragrance_operator.adapters.kubernetes import Kube
from fragrance_operator.adapters.prometheus import Prometheus
from fragrance_operator.canary.admission import replicas_raised, review
from fragrance_operator.canary.capacity import Capacity, headroom_query, ray_service


async def handle_validate_release(
    kube: Kube,
    prometheus: Prometheus,
    namespace: str,
    name: str,
    spec: dict[str, Any],
    old: dict[str, Any] | None,
    warnings: list[str],
) -> None:
    """Raise ``kopf.AdmissionError`` to refuse; append to ``warnings`` to warn."""
    try:
        new_spec = FragranceReleaseSpec.model_validate(spec)
        old_spec = FragranceReleaseSpec.model_validate(old["spec"]) if old else None
    except ValidationError:
        return  # the CRD's own schema answers malformed objects with the field and reason
    capacity = None
    if replicas_raised(old_spec, new_spec):
        answer = await asyncio.to_thread(
            prometheus.query, headroom_query(name, namespace, None, ray_service(new_spec))
        )
        headroom = answer.samples[0][1] if answer.samples else None
        capacity = Capacity(headroom, new_spec.scaling.vram_headroom_min)
    policy = await asyncio.to_thread(
        kube.get, API_VERSION, "TuningPolicy", namespace, new_spec.tuning_policy_ref.name
    )
    verdict = review(old_spec, new_spec, namespace, capacity, policy is not None)
    warnings.extend(verdict.warnings)
    if not verdict.allowed:
        raise kopf.AdmissionError(verdict.message, code=403)
