"""One reconcile tick of a FragranceRelease: observe, decide, persist, converge.

Status is written first (guarded by resourceVersion, so a stale view or a second operator
loses with a 409 and retries next tick), then the world is converged to it. A crash between
the two is repaired by the next tick's converge: nothing is skipped or repeated.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import kopf
import structlog
from pydantic import ValidationError

from fragrance_api.release import FragranceReleaseSpec
from fragrance_api.release_status import FragranceReleaseStatus
from fragrance_operator import metrics
from fragrance_operator.adapters.kubernetes import Kube
from fragrance_operator.adapters.prometheus import Prometheus
from fragrance_operator.canary import status as codec
from fragrance_operator.canary.capacity import Capacity, headroom_query
from fragrance_operator.canary.machine import (
    Action,
    Gate,
    Observation,
    Rollout,
    Transition,
    advance,
    analysis_due,
    quiet_until,
    weight_set,
)
from fragrance_operator.drivers import (
    DeploymentDriver,
    DeploymentLookup,
    TrafficError,
    TrafficWriter,
    WrittenCache,
)
from fragrance_operator.evaluation import evaluate
from fragrance_operator.handlers.autoscaling import Sizing, size
from fragrance_operator.ray_driver import RayServeDriver

ACTION_ANNOTATION = "fragrance.ai/action"
# A release at rest is converged (drift repaired) at least this often.
QUIET_RESYNC = 10.0
NO_RAY = "the rayServe provider needs FRAGRANCE_RAY_DASHBOARD_URL (the Serve REST API)"
log = structlog.get_logger("fragrance.release")


@dataclass
class Context:
    kube: Kube
    prometheus: Prometheus
    written: WrittenCache = field(default_factory=WrittenCache)
    ray: RayServeDriver | None = None  # the rayServe provider, when configured
    autoscale_due: dict[tuple[str, str], float] = field(default_factory=dict)
    # (resourceVersion, until): a release left as it was needs no tick before ``until``.
    quiet: dict[tuple[str, str], tuple[str, float]] = field(default_factory=dict)

    def forget(self, key: tuple[str, str]) -> None:
        self.autoscale_due.pop(key, None)
        self.quiet.pop(key, None)


def _action(raw: dict[str, Any]) -> Action | None:
    value = (raw["metadata"].get("annotations") or {}).get(ACTION_ANNOTATION)
    if not value:
        return None
    try:
        return Action(value.strip().lower())
    except ValueError:
        return None


async def reconcile(ctx: Context, body: kopf.Body, lookup: DeploymentLookup | None = None) -> None:
    """One tick. ``body`` is kopf's view (for Events); ``raw`` the plain object."""
    # Checked before anything is copied or parsed: most ticks of a release at rest end here.
    quiet = ctx.quiet.get((body.metadata.namespace or "", body.metadata.name or ""))
    if (
        quiet is not None
        and quiet[0] == body.metadata.get("resourceVersion")
        and time.time() < quiet[1]
    ):
        return
    raw: dict[str, Any] = {key: body[key] for key in body}
    meta = raw["metadata"]
    name, namespace, generation = meta["name"], meta["namespace"], meta.get("generation", 0)
    bound = log.bind(release=name, namespace=namespace)
    try:
        spec = FragranceReleaseSpec.model_validate(raw["spec"])
        previous = (
            FragranceReleaseStatus.model_validate(raw["status"]) if raw.get("status") else None
        )
    except ValidationError as error:
        kopf.warn(body, reason="InvalidSpec", message=str(error)[:1000])
        return
    rollout = codec.rollout_from_status(previous)
    plan = codec.plan_from_spec(spec)
    workloads: DeploymentDriver | RayServeDriver
    traffic: TrafficWriter | RayServeDriver
    if spec.traffic.provider == "rayServe":
        if ctx.ray is None:
            kopf.warn(body, reason="TrafficNotSet", message=NO_RAY)
            return
        workloads = traffic = ctx.ray
    else:
        workloads = DeploymentDriver(ctx.kube, ctx.written, lookup)
        traffic = TrafficWriter(ctx.kube, ctx.written)
    now = time.time()

    raw_action = (meta.get("annotations") or {}).get(ACTION_ANNOTATION)
    action = _action(raw)
    canary_ready, stable_ready = await asyncio.gather(
        asyncio.to_thread(workloads.ready, raw, "canary", rollout.canary_image),
        asyncio.to_thread(workloads.ready, raw, "stable", rollout.stable_image),
    )
    current = await asyncio.to_thread(workloads.replicas, raw, "stable")
    sizing = await size(
        ctx.kube, ctx.prometheus, raw, spec, previous, current, ctx.autoscale_due, now
    )
    capacity = await _capacity(ctx, raw, spec, rollout, plan.spec_hash, current, sizing.replicas)
    if canary_ready and rollout.canary_active and rollout.weight == 0:
        # Before the first traffic: a missing HTTPRoute/Ingress holds the canary at 0%.
        canary_ready = await asyncio.to_thread(traffic.available, raw, spec)
    verdict, gate = None, None
    if action is None and analysis_due(rollout, plan, now):
        evaluation = await asyncio.to_thread(evaluate, ctx.prometheus, name, namespace, spec)
        metrics.GATE_SECONDS.observe(evaluation.seconds)
        verdict = evaluation.verdict
        gate = Gate(verdict.decision, verdict.summary, evaluation.at, evaluation.seconds)
        bound.info("gate", step=rollout.step, decision=verdict.decision, s=evaluation.seconds)
    decided = time.perf_counter()
    # Decided now, not when the tick began: the reads above may have waited for a thread.
    now = time.time()
    observation = Observation(
        now,
        canary_ready,
        stable_ready,
        gate,
        action,
        scale_up_blocked=capacity is not None and capacity.blocked,
        capacity_message=capacity.message if capacity else "",
    )
    transition = advance(rollout, plan, observation)
    new = transition.rollout
    before = _condition(previous, "ScaleUpBlocked")
    blocked_before = before[0] == "True"
    blocked_now = capacity is not None and capacity.blocked
    reason_now = capacity.reason if capacity else "NoScaleUpPending"
    changed = (
        new != rollout
        or verdict is not None
        or previous is None
        or previous.observed_generation != generation
        or (before[1] or "NoScaleUpPending") != reason_now
        or sizing.body is not None
    )
    version = meta["resourceVersion"]
    if changed:
        body_status = codec.status_body(
            new,
            generation=generation,
            now=now,
            previous=previous,
            verdict=verdict,
            finished=transition.finished,
            capacity=capacity,
        )
        if sizing.body is not None:
            body_status["autoscaling"] = sizing.body or None
        written = await asyncio.to_thread(
            ctx.kube.patch_release_status, namespace, name, body_status, meta["resourceVersion"]
        )
        if written is None:
            bound.info("stale view; retrying next tick", step=rollout.step)
            return
        version = written
        _announce(body, namespace, name, transition, bound)
        if sizing.step is not None and sizing.step.scaled:
            metrics.TRANSITIONS.labels(namespace, name, sizing.step.reason).inc()
            kopf.info(body, reason=sizing.step.reason, message=sizing.step.message)
        if blocked_before != blocked_now and capacity is not None:
            reason = "ScaleUpBlocked" if blocked_now else "ScaleUpAllowed"
            post = kopf.warn if blocked_now else kopf.info
            post(body, reason=reason, message=capacity.message)
    if raw_action is not None and (transition.action_consumed or action is None):
        if action is None:
            kopf.warn(body, reason="UnknownAction", message=f"unknown action {raw_action!r}")
        await asyncio.to_thread(
            ctx.kube.merge_patch,
            raw["apiVersion"],
            "FragranceRelease",
            namespace,
            name,
            {"metadata": {"annotations": {ACTION_ANNOTATION: None}}},
        )
    metrics.observe(namespace, name, new)
    metrics.SCALE_UP_BLOCKED.labels(namespace, name).set(1 if blocked_now else 0)
    if capacity is not None and capacity.headroom is not None:
        metrics.VRAM_HEADROOM.labels(namespace, name).set(capacity.headroom)
    # Timed from the gate's decision to the weight written (the benchmark's figure).
    since = decided if verdict is not None and new.weight != rollout.weight else None
    metrics.DESIRED_REPLICAS.labels(namespace, name).set(sizing.replicas)
    in_place = await asyncio.to_thread(
        _converge, body, raw, spec, new, workloads, traffic, bound, since, capacity, sizing
    )
    written_at = time.time()
    confirmed = weight_set(new, written_at) if in_place else None
    if confirmed is not None:
        # Guarded by the version just written: a step that moved meanwhile is not restamped.
        stamp = {"weightSetAt": codec.timestamp(written_at)}
        version = await asyncio.to_thread(
            ctx.kube.patch_release_status, namespace, name, stamp, version
        )
        new = confirmed
    if in_place and version is not None and not spec.scaling.autoscale and action is None:
        until = quiet_until(new, plan, time.time(), QUIET_RESYNC)
        ctx.quiet[(namespace, name)] = (version, until)


def _condition(status: FragranceReleaseStatus | None, kind: str) -> tuple[str, str]:
    """(status, reason) of a condition, empty strings when absent."""
    for condition in status.conditions if status else []:
        if condition.type == kind:
            return condition.status, condition.reason
    return "", ""


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
        ctx.prometheus.query, headroom_query(meta["name"], meta["namespace"])
    )
    headroom = answer.samples[0][1] if answer.samples else None
    return Capacity(headroom, spec.scaling.vram_headroom_min)


def _announce(
    body: kopf.Body, namespace: str, name: str, transition: Transition, bound: Any
) -> None:
    new = transition.rollout
    for event in transition.events:
        metrics.TRANSITIONS.labels(namespace, name, event.reason).inc()
        bound.info("transition", reason=event.reason, step=new.step, weight=new.weight)
        if event.warning:
            kopf.warn(body, reason=event.reason, message=event.message)
        else:
            kopf.info(body, reason=event.reason, message=event.message)


def _converge(
    body: kopf.Body,
    raw: dict[str, Any],
    spec: FragranceReleaseSpec,
    r: Rollout,
    workloads: DeploymentDriver | RayServeDriver,
    traffic: TrafficWriter | RayServeDriver,
    bound: Any,
    decided: float | None,
    capacity: Capacity | None,
    sizing: Sizing,
) -> bool:
    """Converge the world to ``r``; True when the data plane carries ``r.weight``."""
    # Traffic first: weight 0 must land before the canary goes away.
    in_place = True
    try:
        traffic.set_weight(raw, spec, r.weight)
        if decided is not None:
            cause = "rollback" if r.weight == 0 else "advance"
            metrics.WEIGHT_CHANGE_SECONDS.labels(cause).observe(time.perf_counter() - decided)
    except TrafficError as error:
        in_place = False
        kopf.warn(body, reason="TrafficNotSet", message=str(error))
        bound.warning("traffic not set", error=str(error))
    workloads.converge(raw, spec, r, capacity, sizing.replicas)
    return in_place
