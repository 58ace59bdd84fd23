"""Follow a TuningPolicy written to a file (the operator's ConfigMap, mounted in the pod).

Kubelet swaps a ConfigMap volume's files in place; the content is read every ``interval``
seconds and, when it changed, handed to ``apply`` as ``{"policy": ...}`` (the shape of the
Ray Serve ``user_config``). A file that does not parse or validate is reported and ignored:
the running settings stay. Once the file has been read it is the policy's source: a
replica then ignores the policy in its ``user_config`` (see :attr:`Follower.active`).
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


class Follower:
    """A thread that applies the file each time it changes, until :attr:`stop` is set."""

    def __init__(self, path: Path, apply: Callable[[dict[str, Any]], None], interval: float):
        self.path, self.apply, self.interval = path, apply, interval
        self.stop = threading.Event()
        #: The file exists (the operator wrote a policy for this pod): it, not the
        #: user_config, says the policy. A KubeRay pod of the same image never has one.
        self.active = False
        self.lock = threading.Lock()  # an apply from the user_config is not interleaved
        threading.Thread(target=self._loop, daemon=True, name="policy-file").start()

    def _loop(self) -> None:
        seen: str | None = None
        while True:
            try:
                text = self.path.read_text()
            except OSError:
                text = None  # not mounted yet: the policy may not exist
            if text is not None and text != seen:
                seen = text
                with self.lock:
                    self.active = True
                    try:
                        self.apply({"policy": json.loads(text)})
                        log.info("applied TuningPolicy from %s", self.path)
                    except (ValueError, TypeError) as error:
                        log.warning("ignored %s: %s (the running settings stay)", self.path, error)
            if self.stop.wait(self.interval):
                return


def apply_unless_followed(
    follower: Follower | None, apply: Callable[[dict[str, Any]], None], config: dict[str, Any]
) -> None:
    """Apply a user_config's policy, unless the pod's policy file says the policy."""
    if follower is None:
        apply(config)
        return
    with follower.lock:
        if not follower.active:
            apply(config)


def follow(
    apply: Callable[[dict[str, Any]], None], path: str | None = None, interval: float = 2.0
) -> Follower | None:
    """Start following ``path`` (default: $FRAGRANCE_POLICY_FILE)."""
    target = path or os.environ.get(ENV)
    return Follower(Path(target), apply, interval) if target else None
