"""Mode assignment converges to the traffic distribution; downshift order."""

from __future__ import annotations

from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from fragrance_serving.routing import ModeRouter, downshift_path


def test_sixty_thirty_ten_exactly_over_each_hundred() -> None:
    router = ModeRouter({"fast": 60, "balanced": 30, "creative": 10})
    for _ in range(3):
        counts = Counter(router.choose() for _ in range(100))
        assert counts == {"fast": 60, "balanced": 30, "creative": 10}


@given(
    st.tuples(st.integers(0, 100), st.integers(0, 100), st.integers(0, 100)).filter(
        lambda t: sum(t) > 0
    )
)
def test_property_measured_distribution_converges(weights: tuple[int, int, int]) -> None:
    target = dict(zip(("fast", "balanced", "creative"), weights, strict=True))
    router = ModeRouter(target, window=1000)  # type: ignore[arg-type]
    for _ in range(1000):
        router.served(router.choose())
    assert router.deviation() < 0.5


def test_caller_mode_and_forced_mode_win() -> None:
    router = ModeRouter({"fast": 100, "balanced": 0, "creative": 0})
    assert router.choose("creative") == "creative"
    router.forced = "balanced"
    assert router.choose() == "balanced"
    assert router.choose("creative") == "creative"


def test_deviation_is_measured_against_the_target() -> None:
    router = ModeRouter({"fast": 60, "balanced": 30, "creative": 10})
    for _ in range(10):
        router.served("creative")
    assert router.measured()["creative"] == 100.0
    assert router.deviation() == 90.0


def test_downshift_goes_creative_balanced_fast() -> None:
    assert downshift_path("creative") == ["creative", "balanced", "fast"]
    assert downshift_path("fast") == ["fast"]
