"""Leader election's decision, without I/O."""

from __future__ import annotations

from fragrance_operator.adapters.leadership import LeaseView, next_step


def test_free_or_missing_lease_is_acquired() -> None:
    assert next_step(None, "me", 100) == "acquire"
    assert next_step(LeaseView(None, None, 15), "me", 100) == "acquire"


def test_own_lease_is_renewed_even_late() -> None:
    assert next_step(LeaseView("me", 0, 15), "me", 100) == "renew"


def test_someone_elses_live_lease_is_respected() -> None:
    assert next_step(LeaseView("other", 90, 15), "me", 100) == "standby"
    assert next_step(LeaseView("other", 85, 15), "me", 100) == "standby"


def test_expired_lease_is_taken_over() -> None:
    assert next_step(LeaseView("other", 84.9, 15), "me", 100) == "acquire"
    assert next_step(LeaseView("other", None, 15), "me", 100) == "acquire"
