"""The operator's wrap of kopf's watch stream, run through kopf's own queueing: the bodies
kopf hands on (and keeps for a release's loop) carry no managedFields, and nothing else is
lost. Fails when a kopf release stops looking the stream up where the wrap puts it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import kopf
import pytest
from kopf._cogs.clients import watching
from kopf._cogs.structs.references import Resource
from kopf._core.reactor import queueing

from fragrance_operator.adapters import watch_bodies


def _release(name: str, version: str) -> dict[str, Any]:
    return {
        "apiVersion": "fragrance.ai/v1alpha1",
        "kind": "FragranceRelease",
        "metadata": {
            "name": name,
            "namespace": "ns",
            "uid": f"uid-{name}",
            "resourceVersion": version,
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"},
            "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}],
        },
        "spec": {"model": "m"},
        "status": {"phase": "Progressing"},
    }


def test_kopf_hands_on_watched_bodies_without_managed_fields(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sent = [
        {"type": None, "object": _release("a", "1")},
        watching.Bookmark.LISTED,
        {"type": "MODIFIED", "object": _release("a", "2")},
        {"type": "ADDED", "object": _release("b", "3")},
    ]

    async def stream(**_: Any) -> AsyncIterator[Any]:
        for event in sent:
            yield event

    monkeypatch.setattr(watching, "infinite_watch", stream)
    watch_bodies.install()
    watch_bodies.install()  # once per process, however often the operator starts
    seen: list[dict[str, Any]] = []

    async def processor(*, raw_event: Any, **_: Any) -> str | None:
        seen.append(raw_event)
        return None  # nothing patched

    async def run() -> None:
        await queueing.watcher(
            namespace=None,
            settings=kopf.OperatorSettings(),
            resource=Resource("fragrance.ai", "v1alpha1", "fragrancereleases"),
            processor=processor,
        )

    asyncio.run(asyncio.wait_for(run(), timeout=10))
    # kopf's workers run per object, and may merge an object's events: its latest counts.
    latest = {
        e["object"]["metadata"]["name"]: e["object"]["metadata"]["resourceVersion"] for e in seen
    }
    assert latest == {"a": "2", "b": "3"}
    for event in seen:
        meta = event["object"]["metadata"]
        assert "managedFields" not in meta
        assert meta["annotations"]
        assert meta["uid"]
        assert event["object"]["spec"] == {"model": "m"}
        assert event["object"]["status"] == {"phase": "Progressing"}
