"""The autoscaler's part of a tick: read the signal when due, decide, say what changed."""

from __future__ import annotations

import asyncio
from typing import Any

from fragrance_api.base import parse_duration
from fragrance_api.release import FragranceReleaseSpec
from fragrance_api.release_status import FragranceReleaseStatus
from fragrance_operator.adapters.kubernetes import Kube
from fragrance_operator.adapters.prometheus import Prometheus
from fragrance_operator.builders import objects
from fragrance_operator.canary import autoscale
from fragrance_operator.canary.autoscale import Sizing
from fragrance_operator.canary.autoscale_status import (
    autoscaling_body,
    policy_from_spec,
    state_from_status,
)
from fragrance_operator.canary.checks import load_query, load_signal


async def size(
    kube: Kube,
    prometheus: Prometheus,
    raw: dict[str, Any],
    spec: FragranceReleaseSpec,
    previous: FragranceReleaseStatus | None,
    current: int | None,
    due: dict[tuple[str, str], float],
    now: float,
) -> Sizing:
    """``due`` holds when each release's signal was last read (in memory: only pacing)."""
    saved = previous.autoscaling if previous else None
    if not spec.scaling.autoscale:
        return Sizing(spec.workload.replicas, {} if saved is not None else None)
    state = state_from_status(saved, current if current is not None else spec.workload.replicas)
    meta = raw["metadata"]
    key = (meta["namespace"], meta["name"])
    interval = parse_duration(spec.canary.analysis.interval)
    if saved is not None and now - due.get(key, 0.0) < interval:
        return Sizing(state.replicas)
    due[key] = now
    answer = await asyncio.to_thread(prometheus.query, load_query(meta["name"], spec))
    signal = load_signal(spec, list(answer.samples or []), current)
    policy = policy_from_spec(spec)
    decision = autoscale.step(state, policy, signal, now, serving=current)
    limit = None
    if decision.recommended is not None and decision.recommended > state.replicas:
        namespace, name = meta["namespace"], meta["name"]
        limit = await asyncio.to_thread(_gpu_limit, kube, namespace, name, spec)
        decision = autoscale.step(state, policy, signal, now, limit, serving=current)
    unchanged = (
        saved is not None
        and decision.state == state
        and (saved.reason, saved.recommended) == (decision.reason, decision.recommended)
    )
    body = None if unchanged else autoscaling_body(decision, signal, limit, now)
    return Sizing(decision.state.replicas, body, decision)


def _gpu_limit(kube: Kube, namespace: str, release: str, spec: FragranceReleaseSpec) -> int | None:
    nodes = kube.list("v1", "Node")
    pods = kube.list("v1", "Pod", field_selector="status.phase!=Succeeded,status.phase!=Failed")
    mine = objects.labels(release, "stable")
    used = objects.requested_gpus(pods, namespace, mine)
    return autoscale.gpu_limit(
        objects.allocatable_gpus(nodes), used, spec.workload.gpus_per_replica
    )
