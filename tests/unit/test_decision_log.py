"""Decision records are queued off the tick: a release's changes stay in order, those that
arrive while its write is in flight go in one write, and one that fails is carried by the
next. The apiserver is a double here (the cluster tests read the ConfigMaps it writes)."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from kubernetes.client.exceptions import ApiException

from fragrance_operator.builders.records import DATA_KEY
from fragrance_operator.drivers.records import DecisionLog, Log

RELEASE = {"metadata": {"namespace": "ns", "name": "chat", "uid": "u1"}}


class ConfigMapsDouble:
    """Records each apply; the first one waits for ``go`` and can be made to fail."""

    def __init__(self, fail_first: bool = False) -> None:
        self.applied: list[list[str]] = []
        self.started, self.go = threading.Event(), threading.Event()
        self.fail_first = fail_first

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        return None

    def apply(self, obj: dict[str, Any]) -> None:
        first = not self.started.is_set()
        self.started.set()
        assert self.go.wait(10)
        if first and self.fail_first:
            raise ApiException(status=500, reason="etcd timeout")
        self.applied.append(json.loads(obj["data"][DATA_KEY])["rollouts"])


def _add(entry: str) -> Any:
    def change(log: Log) -> Log:
        return {"rollouts": [*log.get("rollouts", []), entry]}

    return change


def _written(kube: ConfigMapsDouble, changes: list[str]) -> DecisionLog:
    records = DecisionLog(kube, ThreadPoolExecutor(max_workers=4))  # type: ignore[arg-type]
    records.submit(RELEASE, [_add(changes[0])])
    assert kube.started.wait(10)
    for entry in changes[1:]:  # while the first write is in flight
        records.submit(RELEASE, [_add(entry)])
    kube.go.set()
    records.writes.shutdown(wait=True)
    return records


def test_changes_queued_behind_a_write_go_in_one_write_in_order() -> None:
    kube = ConfigMapsDouble()
    _written(kube, ["a", "b", "c"])
    assert kube.applied == [["a"], ["a", "b", "c"]]


def test_a_failed_write_is_carried_by_the_next() -> None:
    kube = ConfigMapsDouble(fail_first=True)
    _written(kube, ["a", "b"])
    assert kube.applied == [["a", "b"]]
