"""One reconcile tick of a FragranceRelease: observe → decide → persist → converge.

Status is written first (guarded by resourceVersion, so a stale view or a second operator
loses with a 409 and retries next tick), then the world is converged to it. A crash between
the two is repaired by the next tick's converge: nothing is skipped or repeated.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import kopf
import structlog
from pydantic import ValidationError

from fragrance_api.crd import ACTION_ANNOTATION, API_VERSION
from fragrance_api.policy import TuningPolicySpec, canaried_settings
from fragrance_api.release import FragranceReleaseSpec
from fragrance_api.release_status import FragranceReleaseStatus
from fragrance_operator.adapters import crash_points, metrics
from fragrance_operator.canary import status as codec
from fragrance_operator.canary.machine import Rollout, quiet_until, weight_set
from fragrance_operator.drivers.deployments import DeploymentDriver
from fragrance_operator.drivers.ray_serve import NO_RAY
from fragrance_operator.drivers.traffic import TrafficWriter
from fragrance_operator.reconcile.announce import announce
from fragrance_operator.reconcile.context import Context, Watched
from fragrance_operator.reconcile.converge import converge
from fragrance_operator.reconcile.decide import decide, parse_action
from fragrance_operator.reconcile.observe import Traffic, Workloads, observe
from fragrance_operator.reconcile.persist import persist

UNWATCHED = Watched()  # everything read from the API
# A release at rest is converged (drift repaired) at least this often.
QUIET_RESYNC = 10.0
log = structlog.get_logger("fragrance.release")


async def tick(ctx: Context, body: kopf.Body, watched: Watched = UNWATCHED) -> None:
    """``body`` is kopf's view (for Events), kept current by its watch."""
    if _nothing_to_do(ctx, body):
        return
    # A bounded number of ticks past this point: under load every release's tick would
    # otherwise hold its parsed release while queueing for the apiserver.
    async with ctx.admitted:
        if not _nothing_to_do(ctx, body):  # the view may have moved while waiting
            await _reconcile(ctx, body, watched)


def _nothing_to_do(ctx: Context, body: kopf.Body) -> bool:
    """Checked before anything is copied or parsed: most ticks of a release at rest end
    here."""
    key = (body.metadata.namespace or "", body.metadata.name or "")
    seen_version = body.metadata.get("resourceVersion")
    quiet = ctx.quiet.get(key)
    if quiet is not None and quiet[0] == seen_version and time.time() < quiet[1]:
        return True
    # A view older than this operator's own last write: deciding on it would judge the gate
    # again and lose the write to a 409. Under load the watch lags the writes by seconds, and
    # ticks on such views once wasted five of six gate evaluations (200 releases).
    return seen_version in ctx.superseded.get(key, ())


async def _reconcile(ctx: Context, body: kopf.Body, watched: Watched) -> None:
    """observe -> decide -> persist -> converge, on a plain copy (``raw``) of the view."""
    key = (body.metadata.namespace or "", body.metadata.name or "")
    raw: dict[str, Any] = {field: body[field] for field in body}
    meta = raw["metadata"]
    name, namespace = meta["name"], meta["namespace"]
    bound = log.bind(release=name, namespace=namespace)
    try:
        spec = FragranceReleaseSpec.model_validate(raw["spec"])
        previous = (
            FragranceReleaseStatus.model_validate(raw["status"]) if raw.get("status") else None
        )
    except ValidationError as error:
        kopf.warn(body, reason="InvalidSpec", message=str(error)[:1000])
        return
    policy = await _policy(ctx, namespace, spec, watched)
    drivers = _drivers(ctx, spec, watched, policy)
    if drivers is None:
        kopf.warn(body, reason="TrafficNotSet", message=NO_RAY)
        return
    workloads, traffic = drivers
    rollout = codec.rollout_from_status(previous)
    plan = codec.plan_from_spec(spec, canaried_settings(policy))
    raw_action = (meta.get("annotations") or {}).get(ACTION_ANNOTATION)
    seen = await observe(
        ctx, raw, spec, previous, rollout, plan, parse_action(raw_action), workloads, traffic
    )
    if seen.verdict is not None:
        verdict = seen.verdict
        bound.info("gate", step=rollout.step, decision=verdict.decision, why=verdict.summary)
    decision = decide(rollout, plan, previous, meta.get("generation", 0), raw_action, seen)
    version = await persist(ctx, body, raw, decision, bound)
    if version is None:
        return
    if version != meta["resourceVersion"]:
        ctx.superseded[key] = {meta["resourceVersion"]}
    if decision.status is not None:
        crash_points.reached("after-status-write", *(e.reason for e in decision.events))
        if seen.capacity is not None and seen.capacity.blocked:
            crash_points.reached("vram-hold")
    new = decision.rollout
    metrics.observe(namespace, name, new)
    capacity = seen.capacity
    metrics.SCALE_UP_BLOCKED.labels(namespace, name).set(1 if capacity and capacity.blocked else 0)
    if capacity is not None and capacity.headroom is not None:
        metrics.VRAM_HEADROOM.labels(namespace, name).set(capacity.headroom)
    metrics.DESIRED_REPLICAS.labels(namespace, name).set(seen.sizing.replicas)
    moved = seen.verdict is not None and new.weight != rollout.weight
    status_version: str = version

    def converge_and_stamp() -> tuple[bool, str | None, Rollout]:
        # One thread hop for both: under load each hop waits in the executor's queue, and
        # the stamp is when the step's time starts.
        in_place = converge(
            body,
            raw,
            spec,
            new,
            workloads,
            traffic,
            bound,
            seen.decided_at if moved else None,
            capacity,
            seen.sizing.replicas,
        )
        written_at = time.time()
        confirmed = weight_set(new, written_at) if in_place else None
        if confirmed is None:
            return in_place, status_version, new
        # Guarded by the version just written: a step that moved meanwhile is not restamped.
        stamp = {"weightSetAt": codec.timestamp(written_at)}
        stamped = ctx.kube.patch_release_status(namespace, name, stamp, status_version)
        return True, stamped, confirmed

    in_place, version, new = await asyncio.to_thread(converge_and_stamp)
    if version is not None and version != status_version:
        ctx.superseded[key] = {meta["resourceVersion"], status_version}
    announce(ctx, raw, spec, plan, rollout, decision, seen, previous)
    if in_place and version is not None and not spec.scaling.autoscale and raw_action is None:
        until = quiet_until(new, plan, time.time(), QUIET_RESYNC)
        ctx.quiet[(namespace, name)] = (version, until)


async def _policy(
    ctx: Context, namespace: str, spec: FragranceReleaseSpec, watched: Watched
) -> TuningPolicySpec | None:
    """The release's TuningPolicy (None: none, or one the apiserver should not have let in)."""
    name = spec.tuning_policy_ref.name
    if watched.policies is not None:
        found = watched.policies(namespace, name)
    else:
        got = await asyncio.to_thread(ctx.kube.get, API_VERSION, "TuningPolicy", namespace, name)
        found = (got or {}).get("spec") if got is not None else None
    if found is None:
        return None
    try:
        return TuningPolicySpec.model_validate(found)
    except ValidationError:
        return None


def _drivers(
    ctx: Context, spec: FragranceReleaseSpec, watched: Watched, policy: TuningPolicySpec | None
) -> tuple[Workloads, Traffic] | None:
    """The release's workload driver and traffic provider; None: rayServe is not configured."""
    if spec.traffic.provider == "rayServe":
        if ctx.ray is None or not ctx.ray.configured(spec):
            return None
        ray = ctx.ray.bound(policy)
        return ray, ray
    workloads = DeploymentDriver(
        ctx.kube, ctx.written, watched.deployments, policy, watched.services
    )
    return workloads, TrafficWriter(ctx.kube, ctx.written, watched.routes)
