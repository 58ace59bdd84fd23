"""Follow a TuningPolicy written to a file (the operator's ConfigMap, mounted in the pod).

Kubelet swaps a ConfigMap volume's files in place; the content is read every ``interval``
seconds and, when it changed, handed to ``apply`` as ``{"policy": ...}`` (the shape of the
Ray Serve ``user_config``). A file that does not parse or validate is reported and ignored:
the running settings stay.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger("fragrance.serving.policy")
ENV = "FRAGRANCE_POLICY_FILE"


def follow(
    apply: Callable[[dict[str, Any]], None], path: str | None = None, interval: float = 2.0
) -> threading.Event | None:
    """Start following ``path`` (default: $FRAGRANCE_POLICY_FILE); returns a stop event."""
    target = path or os.environ.get(ENV)
    if not target:
        return None
    stop = threading.Event()
    threading.Thread(
        target=_loop, args=(Path(target), apply, interval, stop), daemon=True, name="policy-file"
    ).start()
    return stop


def _loop(
    path: Path, apply: Callable[[dict[str, Any]], None], interval: float, stop: threading.Event
) -> None:
    seen: str | None = None
    while True:
        try:
            text = path.read_text()
        except OSError:
            text = None  # not mounted yet: the policy may not exist
        if text is not None and text != seen:
            seen = text
            try:
                apply({"policy": json.loads(text)})
                log.info("applied TuningPolicy from %s", path)
            except (ValueError, TypeError) as error:
                log.warning("ignored %s: %s (the running settings stay)", path, error)
        if stop.wait(interval):
            return
