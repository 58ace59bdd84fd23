"""A release's loop (the kopf daemon) ticks while it leads, and not once the release is
being deleted: its objects go with it, and a namespace being deleted refuses writes."""

from __future__ import annotations

import asyncio
from typing import Any

import kopf
import pytest
from kopf._cogs.aiokits import aioenums

from fragrance_operator.handlers import release as handler
from fragrance_operator.reconcile import release as reconcile_release


def _ticks(monkeypatch: pytest.MonkeyPatch, metadata: dict[str, Any]) -> int:
    ticked: list[str] = []

    async def tick(ctx: Any, body: kopf.Body, watched: Any) -> None:
        ticked.append(body.metadata.name or "")

    monkeypatch.setattr(reconcile_release, "tick", tick)
    raw: Any = {"metadata": {"name": "r", "namespace": "ns", **metadata}}
    body = kopf.Body(raw)
    beats = 0

    class Elector:  # counts the loop's beats: each asks first whether it leads
        @property
        def is_leader(self) -> bool:
            nonlocal beats
            beats += 1
            return True

    memo = kopf.Memo(elector=Elector(), context=None)
    setter: aioenums.FlagSetter[kopf.DaemonStoppingReason] = aioenums.FlagSetter()
    index: Any = {}

    async def run() -> None:
        loop = asyncio.create_task(
            handler.handle_run_release(
                body, memo, aioenums.AsyncFlagWaiter(setter), 0.01, index, index, index, index
            )
        )
        async with asyncio.timeout(5):
            while beats < 5:
                await asyncio.sleep(0.01)
        setter.set(kopf.DaemonStoppingReason.OPERATOR_EXITING)
        await asyncio.wait_for(loop, timeout=5)

    asyncio.run(run())
    return len(ticked)


def test_a_release_ticks_while_it_lives(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _ticks(monkeypatch, {}) >= 5  # one per beat


def test_a_release_being_deleted_is_not_ticked(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _ticks(monkeypatch, {"deletionTimestamp": "2026-12-04T10:27:04Z"}) == 0  # of 5 beats
