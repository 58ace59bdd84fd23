"""What the operator skips writing again, and when it writes anyway."""

from __future__ import annotations

import pytest

from fragrance_operator.drivers import written
from fragrance_operator.drivers.written import WATCH_LAG_SECONDS, WrittenCache


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(written.time, "monotonic", fake)
    return fake


def test_a_write_is_repeated_between_one_and_two_resyncs_later(clock: Clock) -> None:
    cache = WrittenCache(resync=100)
    keys = [("Service", "ns", f"r{i}-stable") for i in range(200)]
    for key in keys:
        cache.remember(key, {"spec": 1})
    assert all(cache.fresh(key, {"spec": 1}) for key in keys)
    assert not any(cache.fresh(key, {"spec": 2}) for key in keys)  # a change: written now
    clock.now += 99
    assert all(cache.fresh(key, {"spec": 1}) for key in keys)
    clock.now += 50
    due_halfway = [key for key in keys if not cache.fresh(key, {"spec": 1})]
    # Spread, so that objects written together are not all written again together.
    assert len(keys) * 0.3 < len(due_halfway) < len(keys) * 0.7
    clock.now += 51
    assert not any(cache.fresh(key, {"spec": 1}) for key in keys)


def test_a_deletion_is_not_repeated(clock: Clock) -> None:
    cache = WrittenCache(resync=100)
    key = ("ConfigMap", "ns", "r-stable-policy")
    cache.remember(key, None)
    clock.now += 10_000
    assert cache.fresh(key, None)
    assert not cache.fresh(key, {"data": 1})


def test_an_object_the_watch_does_not_show_is_missing_once_the_watch_had_time(
    clock: Clock,
) -> None:
    cache = WrittenCache()
    key = ("Service", "ns", "r-stable")
    assert not cache.missing(key, watched=False)  # never written here: not ours to repair
    cache.remember(key, {"spec": 1})
    assert not cache.missing(key, watched=False)  # the watch has not shown it yet
    clock.now += WATCH_LAG_SECONDS
    assert cache.missing(key, watched=False)
    assert not cache.missing(key, watched=True)


def test_a_new_leader_writes_everything_again(clock: Clock) -> None:
    cache = WrittenCache()
    key = ("Service", "ns", "r-stable")
    cache.remember(key, {"spec": 1})
    cache.clear()
    assert not cache.fresh(key, {"spec": 1})
