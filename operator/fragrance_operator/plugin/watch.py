"""``kubectl fragrance status NAME --watch``: the rollout redrawn on each change, like
``kubectl argo rollouts get rollout --watch``.

On a terminal each change redraws the screen in place; piped, each change prints a new
block, so a log keeps every state the rollout passed through.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import click

from fragrance_api.crd import API_VERSION
from fragrance_operator.plugin.views import status_lines

CLEAR = "\x1b[H\x1b[2J"  # cursor home, erase the screen
WATCH_SECONDS = 300  # one watch request; re-opened until the timeout (the apiserver ends it)


def follow(kube: Any, release: dict[str, Any], timeout: float) -> None:
    meta = release["metadata"]
    deadline = time.monotonic() + timeout if timeout > 0 else None
    shown: list[str] | None = None
    shown = _draw(release, shown)
    try:
        while deadline is None or time.monotonic() < deadline:
            left = WATCH_SECONDS if deadline is None else max(1, int(deadline - time.monotonic()))
            for obj in kube.watch(
                API_VERSION, "FragranceRelease", meta["namespace"], meta["name"], left
            ):
                shown = _draw(obj, shown)
                if deadline is not None and time.monotonic() >= deadline:
                    return
    except KeyboardInterrupt:
        return


def _draw(release: dict[str, Any], shown: list[str] | None) -> list[str]:
    """Draw only when what is shown changed (a status write that moved nothing is skipped)."""
    lines = status_lines(release)
    if lines == shown:
        return lines
    stamp = time.strftime("%H:%M:%S")
    header = f"every change - ctrl-c to stop - updated {stamp}"
    if sys.stdout.isatty():
        click.echo(CLEAR + header + "\n\n" + "\n".join(lines), nl=True)
    else:
        click.echo(("\n" if shown is not None else "") + header + "\n" + "\n".join(lines))
    return lines
