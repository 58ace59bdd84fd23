"""Write a decision: the status (guarded by resourceVersion), its events, the annotation."""

from __future__ import annotations

import asyncio
from typing import Any

import kopf

from fragrance_api.crd import ACTION_ANNOTATION
from fragrance_operator.adapters import crash_points, metrics
from fragrance_operator.canary.machine import Event
from fragrance_operator.reconcile.context import Context
from fragrance_operator.reconcile.decide import Decision


async def persist(
    ctx: Context, body: kopf.Body, raw: dict[str, Any], decision: Decision, bound: Any
) -> str | None:
    """The resourceVersion now; None when our view was stale (a 409: the next tick retries,
    and nothing of this decision is posted or cleared)."""
    meta = raw["metadata"]
    name, namespace = meta["name"], meta["namespace"]
    version: str = meta["resourceVersion"]
    if decision.status is not None:
        written = await asyncio.to_thread(
            ctx.kube.patch_release_status, namespace, name, decision.status, version
        )
        if written is None:
            bound.info("stale view; retrying next tick", step=decision.rollout.step)
            return None
        version = written
    for event in decision.events:
        metrics.TRANSITIONS.labels(namespace, name, event.reason).inc()
        r = decision.rollout
        bound.info("transition", reason=event.reason, step=r.step, weight=r.weight)
        _post(body, event)
    for event in decision.notices:
        _post(body, event)
    if decision.clear_action:
        if decision.action_consumed:
            crash_points.reached("consuming-action")
        await asyncio.to_thread(
            ctx.kube.merge_patch,
            raw["apiVersion"],
            "FragranceRelease",
            namespace,
            name,
            {"metadata": {"annotations": {ACTION_ANNOTATION: None}}},
        )
    return version


def _post(body: kopf.Body, event: Event) -> None:
    post = kopf.warn if event.warning else kopf.info
    post(body, reason=event.reason, message=event.message)
