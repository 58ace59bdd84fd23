"""What kopf calls for a FragranceRelease: its reconcile loop, a deletion."""

from __future__ import annotations

from typing import Any

import kopf
import structlog

from fragrance_operator.adapters import metrics
from fragrance_operator.reconcile import release

Index = kopf.Index[tuple[str, str], dict[str, Any]]
log = structlog.get_logger("fragrance.release")


async def handle_run_release(
    body: kopf.Body,
    memo: kopf.Memo,
    stopped: kopf.DaemonStopped,
    managed_deployments: Index,
    tuning_policies: Index,
    tick: float,
) -> None:
    """Tick the release every ``tick`` seconds until kopf stops its daemon.

    One loop per release instead of a kopf timer: a timer goes through kopf's handler
    machinery at every beat (a quarter of the operator's time at rest with 1,000 releases),
    while most beats of a release at rest end at ``release.tick``'s first comparison. kopf
    keeps ``body`` current from its watch.
    """
    while not stopped:
        try:
            await handle_tick_release(body, memo, managed_deployments, tuning_policies)
        except Exception:  # a 429, a timeout: retried at the next tick, never the loop's end
            log.exception(
                "tick raised; retrying at the next tick",
                release=body.metadata.name,
                namespace=body.metadata.namespace,
            )
        await stopped.wait(tick)


async def handle_tick_release(
    body: kopf.Body, memo: kopf.Memo, managed_deployments: Index, tuning_policies: Index
) -> None:
    if not memo.elector.is_leader:  # a standby replica only watches
        return

    def lookup(namespace: str, name: str) -> dict[str, Any] | None:
        return next(iter(managed_deployments.get((namespace, name), [])), None)

    def policies(namespace: str, name: str) -> dict[str, Any] | None:
        return next(iter(tuning_policies.get((namespace, name), [])), None)

    try:
        await release.tick(memo.context, body, lookup, policies)
    except Exception:
        metrics.RECONCILE_ERRORS.labels(body.metadata.namespace, body.metadata.name).inc()
        raise


def handle_delete_release(body: kopf.Body, memo: kopf.Memo) -> None:
    key = (body.metadata.namespace or "", body.metadata.name or "")
    metrics.forget(*key)
    if (context := memo.get("context")) is not None:
        context.forget(key)
