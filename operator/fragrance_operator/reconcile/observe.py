"""The reads of one tick: readiness, replicas, the autoscaler's signal, VRAM headroom and,
when a step is due, the gate. Everything the decision needs, and nothing written."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fragrance_api.release import FragranceReleaseSpec
from fragrance_api.release_status import FragranceReleaseStatus
from fragrance_operator.adapters import metrics
from fragrance_operator.canary.capacity import Capacity, headroom_query, ray_service
from fragrance_operator.canary.clock import evaluation_due
from fragrance_operator.canary.machine import Action, Gate, Plan, Rollout, analysis_due
from fragrance_operator.drivers.deployments import DeploymentDriver
from fragrance_operator.drivers.ray_serve import RayServeDriver
from fragrance_operator.drivers.traffic import TrafficWriter
from fragrance_operator.reconcile.context import Context
from fragrance_operator.reconcile.decide import Observed
from fragrance_operator.reconcile.evaluate import evaluate
from fragrance_operator.reconcile.pretraffic import evaluate_before_traffic
from fragrance_operator.reconcile.sizing import size

Workloads = DeploymentDriver | RayServeDriver
Traffic = TrafficWriter | RayServeDriver


async def observe(
    ctx: Context,
    raw: dict[str, Any],
    spec: FragranceReleaseSpec,
    previous: FragranceReleaseStatus | None,
    rollout: Rollout,
    plan: Plan,
    action: Action | None,
    workloads: Workloads,
    traffic: Traffic,
) -> Observed:
    meta = raw["metadata"]
    name, namespace = meta["name"], meta["namespace"]
    began = time.time()
    canary_ready, stable_ready = await asyncio.gather(
        asyncio.to_thread(
            workloads.ready, raw, "canary", rollout.canary_image, rollout.canary_settings
        ),
        asyncio.to_thread(
            workloads.ready, raw, "stable", rollout.stable_image, rollout.stable_settings
        ),
    )
    serving = await asyncio.to_thread(workloads.serving, raw)
    if serving is not None and not serving.ready:
        canary_ready = False  # the platform cannot take a canary now: hold it where it is
    current = await asyncio.to_thread(workloads.replicas, raw, "stable")
    sizing = await size(
        ctx.kube, ctx.prometheus, raw, spec, previous, current, ctx.autoscale_due, began
    )
    capacity = await _capacity(ctx, raw, spec, rollout, plan.spec_hash, current, sizing.replicas)
    if canary_ready and rollout.canary_active and rollout.weight == 0:
        # Before the first traffic: a missing HTTPRoute/Ingress holds the canary at 0%.
        canary_ready = await asyncio.to_thread(traffic.available, raw, spec)
    evaluated = None
    if action is None and canary_ready and evaluation_due(rollout, plan, began):
        evaluated = await asyncio.to_thread(
            evaluate_before_traffic, ctx.kube, raw, spec, workloads, rollout.canary_version or ""
        )
    verdict, gate = None, None
    if action is None and analysis_due(rollout, plan, began):
        evaluation = await asyncio.get_running_loop().run_in_executor(
            ctx.gates, evaluate, ctx.prometheus, name, namespace, spec
        )
        metrics.GATE_SECONDS.observe(evaluation.seconds)
        metrics.GATE_CHECKS.verdicts[namespace, name] = evaluation.verdict
        verdict = evaluation.verdict
        gate = Gate(verdict.decision, verdict.summary, evaluation.at, evaluation.seconds)
    # Observed now, not when the tick began: the reads above may have waited for a thread.
    return Observed(
        time.time(),
        canary_ready,
        stable_ready,
        sizing,
        capacity,
        verdict,
        gate,
        time.perf_counter(),
        serving,
        evaluated,
        ctx.notifier.delivery(namespace, name) if spec.notifications else None,
    )


async def _capacity(
    ctx: Context,
    raw: dict[str, Any],
    spec: FragranceReleaseSpec,
    rollout: Rollout,
    spec_hash: str,
    current: int | None,
    desired: int,
) -> Capacity | None:
    """VRAM headroom, read only when a GPU scale-up is waiting (None: none is)."""
    if not spec.workload.gpus_per_replica or rollout.stable_version is None:
        return None
    if rollout.promoting:
        return None
    canary_to_start = (rollout.canary_active and rollout.weight == 0) or spec_hash not in (
        rollout.canary_hash,
        rollout.stable_hash,
    )
    stable_to_grow = current is not None and desired > current
    if not (canary_to_start or stable_to_grow):
        return None
    meta = raw["metadata"]
    answer = await asyncio.to_thread(
        ctx.prometheus.query,
        headroom_query(meta["name"], meta["namespace"], None, ray_service(spec)),
    )
    headroom = answer.samples[0][1] if answer.samples else None
    return Capacity(headroom, spec.scaling.vram_headroom_min)
