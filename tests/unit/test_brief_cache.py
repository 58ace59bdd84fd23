"""The LRU+TTL cache with an injected clock: an expired entry is never served."""

from __future__ import annotations

from fragrance_serving.guards.cache import BriefCache


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_hit_after_put_with_normalised_prompt_and_mode_in_the_key() -> None:
    cache = BriefCache(10, 600, Clock())
    cache.put("Fresh  Citrus ", "fast", "A")
    assert cache.get("fresh citrus", "fast") == "A"
    assert cache.get("fresh citrus", "balanced") is None
    assert cache.hit_rate("fast") == 1.0
    assert cache.hit_rate("balanced") == 0.0


def test_an_expired_entry_is_never_served_and_cleanup_sweeps_it() -> None:
    clock = Clock()
    cache = BriefCache(10, 600, clock)
    cache.put("p", "fast", "A")
    clock.now = 599.9
    assert cache.get("p", "fast") == "A"
    clock.now = 600.0
    assert cache.get("p", "fast") is None
    cache.put("q", "fast", "B")
    clock.now = 1300
    assert cache.cleanup() == 1
    assert cache.stats()["size"] == 0


def test_least_recently_used_goes_first() -> None:
    cache = BriefCache(2, 600, Clock())
    cache.put("a", "fast", 1)
    cache.put("b", "fast", 2)
    assert cache.get("a", "fast") == 1
    cache.put("c", "fast", 3)
    assert cache.get("b", "fast") is None
    assert cache.get("a", "fast") == 1


def test_a_new_ttl_empties_the_cache_a_new_size_keeps_recent_entries() -> None:
    cache = BriefCache(3, 600, Clock())
    for key in "abc":
        cache.put(key, "fast", key)
    cache.resize(2, 600)
    assert cache.get("a", "fast") is None
    assert cache.get("c", "fast") == "c"
    cache.resize(2, 60)
    assert cache.get("c", "fast") is None
    assert cache.ttl == 60


def test_disabled_cache_never_hits() -> None:
    cache = BriefCache(10, 600, Clock(), enabled=False)
    cache.put("p", "fast", "A")
    assert cache.get("p", "fast") is None
