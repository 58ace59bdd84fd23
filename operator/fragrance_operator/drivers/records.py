"""Keeps each release's decision records in its ``<name>-decisions`` ConfigMap.

The log is read once per release (after a restart, from the ConfigMap) and then kept here,
compressed: as dicts a rollout judged three times took 19.5 KB, compressed 0.75 KB, and five
rollouts are kept per release (a thousand releases: about 100 MB against 4). Each tick's
changes are one server-side apply of the whole ConfigMap (bounded well under 1 MiB).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable, Sequence
from typing import Any, cast

from fragrance_operator.adapters.kubernetes import Kube
from fragrance_operator.builders.records import (
    decision_log_config_map,
    decision_log_name,
    read_decision_log,
)

Log = dict[str, Any]


class DecisionLog:
    def __init__(self, kube: Kube) -> None:
        self.kube = kube
        self._logs: dict[tuple[str, str, str], bytes] = {}  # (namespace, name, uid)

    def update(self, release: dict[str, Any], changes: Sequence[Callable[[Log], Log]]) -> None:
        """``changes`` applied in order, then written once."""
        if not changes:
            return
        meta = release["metadata"]
        key = (meta["namespace"], meta["name"], meta.get("uid", ""))
        kept = self._logs.get(key)
        if kept is None:
            found = self.kube.get("v1", "ConfigMap", key[0], decision_log_name(key[1]))
            log = read_decision_log(found)
        else:
            log = cast(Log, json.loads(zlib.decompress(kept)))
        for change in changes:
            log = change(log)
        self.kube.apply(decision_log_config_map(release, log))
        self._logs[key] = zlib.compress(json.dumps(log, separators=(",", ":")).encode())

    def forget(self, namespace: str, name: str) -> None:
        for key in [k for k in self._logs if k[:2] == (namespace, name)]:
            del self._logs[key]
