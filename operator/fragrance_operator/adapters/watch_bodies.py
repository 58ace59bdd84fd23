"""Watched objects reach kopf without their ``metadata.managedFields``.

kopf keeps each FragranceRelease's latest body for the release's loop, as parsed JSON: about
47 KB a release in Python, of which managedFields (the field owners of kubectl, kopf and the
operator's status writes) are 24 KB, some 24 MB at a thousand releases. Nothing in the
operator or in kopf reads them, and the apiserver cannot leave them out of a watch.

kopf has no hook before it keeps a body, so its watch stream is wrapped where its queueing
looks it up at each call (``kopf._cogs.clients.watching.infinite_watch``). That is a private
name: :func:`install` fails at the operator's start, not silently, if a kopf release moves
it, and ``tests/unit/test_watch_bodies.py`` runs the wrapped stream through kopf's own
queueing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from kopf._cogs.clients import watching

_WRAPPED = "_fragrance_slim"


def slim(event: Any) -> Any:
    """The watch event with its object's managedFields dropped (in place: it is kopf's own
    freshly parsed dict); bookmarks and errors pass as they are."""
    if isinstance(event, dict):
        meta = (event.get("object") or {}).get("metadata")
        if isinstance(meta, dict):
            meta.pop("managedFields", None)
    return event


def install() -> None:
    """Wrap kopf's watch stream once per process (kopf's watchers start after this)."""
    original: Callable[..., AsyncIterator[Any]] = watching.infinite_watch
    if getattr(original, _WRAPPED, False):
        return

    async def infinite_watch(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        async for event in original(*args, **kwargs):
            yield slim(event)

    setattr(infinite_watch, _WRAPPED, True)
    watching.infinite_watch = infinite_watch
