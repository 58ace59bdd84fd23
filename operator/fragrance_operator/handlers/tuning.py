"""What kopf calls for a TuningPolicy: a tick."""

from __future__ import annotations

import kopf

from fragrance_operator.reconcile import policy


async def handle_tick_policy(body: kopf.Body, memo: kopf.Memo) -> None:
    if not memo.elector.is_leader:
        return
    await policy.reconcile(memo.context.kube, memo.context.prometheus, body)
