"""What kopf calls for a FragranceRelease: a tick, a deletion."""

from __future__ import annotations

from typing import Any

import kopf

from fragrance_operator.adapters import metrics
from fragrance_operator.reconcile import release

Index = kopf.Index[tuple[str, str], dict[str, Any]]


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
