"""What kopf calls for a FragranceRelease: its reconcile loop, which forgets the release
when it is deleted.

No kopf change handler (on.delete, on.update) is registered for releases: with one, kopf
patches each release's annotations at every spec change (its diff base), a write that
can make the tick's status write of the new spec lose to a 409, and kopf computes a diff
at every status event."""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Any

import kopf
import structlog

from fragrance_operator.adapters import metrics
from fragrance_operator.reconcile import release
from fragrance_operator.reconcile.context import Watched

Index = kopf.Index[tuple[str, str], dict[str, Any]]
log = structlog.get_logger("fragrance.release")


async def handle_run_release(
    body: kopf.Body,
    memo: kopf.Memo,
    stopped: kopf.DaemonStopped,
    tick: float,
    deployments: Index,
    policies: Index,
    routes: Index,
    services: Index,
) -> None:
    """Tick the release every ``tick`` seconds until kopf stops its daemon.

    One loop per release instead of a kopf timer: a timer goes through kopf's handler
    machinery at every beat (a quarter of the operator's time at rest with 1,000 releases),
    while most beats of a release at rest end at ``release.tick``'s first comparison. kopf
    keeps ``body`` and the indexes current from its watches.
    """
    watched = Watched(_first(deployments), _first(policies), _first(routes), _first(services))
    while not stopped:
        # A release being deleted takes its objects with it (owner references): a tick
        # would only write into a namespace that refuses them. An operator started while a
        # namespace of a thousand releases was terminating ticked each of them (875 ticks
        # raised 403s, 579 MiB RSS) before kopf let their loops go.
        if memo.elector.is_leader and not body.metadata.deletion_timestamp:
            try:
                await release.tick(memo.context, body, watched)
            except Exception as error:  # a 429, a timeout: retried at the next tick
                metrics.RECONCILE_ERRORS.labels(body.metadata.namespace, body.metadata.name).inc()
                # One line, not a rendered traceback with its locals (whole releases): those
                # took longer than a tick each, on the loop every release shares, for every
                # release of a namespace being deleted.
                log.warning(
                    "tick raised; retrying at the next tick",
                    release=body.metadata.name,
                    namespace=body.metadata.namespace,
                    error=f"{type(error).__name__}: {error}"[:500],
                    at=_where(error),
                )
        await stopped.wait(tick)
    if stopped.reason is not None and kopf.DaemonStoppingReason.RESOURCE_DELETED in stopped.reason:
        _forget(body, memo)


def _where(error: BaseException) -> str:
    """The innermost line of the operator's own code the error passed through."""
    frames = traceback.extract_tb(error.__traceback__)
    ours = [f for f in frames if "fragrance_operator" in f.filename] or frames
    return f"{ours[-1].filename}:{ours[-1].lineno}" if ours else ""


def _first(index: Index) -> Callable[[str, str], dict[str, Any] | None]:
    def lookup(namespace: str, name: str) -> dict[str, Any] | None:
        return next(iter(index.get((namespace, name), [])), None)

    return lookup


def _forget(body: kopf.Body, memo: kopf.Memo) -> None:
    key = (body.metadata.namespace or "", body.metadata.name or "")
    metrics.forget(*key)
    if (context := memo.get("context")) is not None:
        context.forget(key)
