"""The operator's settings: read from the environment, bad values named."""

from __future__ import annotations

import os

import pytest
from pydantic import ValidationError

from fragrance_operator.settings import OperatorSettings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Other tests in this process set FRAGRANCE_* for the operators they start."""
    for name in os.environ:
        if name.startswith("FRAGRANCE_") or name == "POD_NAMESPACE":
            monkeypatch.delenv(name)


def test_defaults_and_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert OperatorSettings().policy_interval == 10.0  # 5 ticks of 2 s
    monkeypatch.setenv("FRAGRANCE_TICK", "0.5")
    monkeypatch.setenv("POD_NAMESPACE", "ops")
    settings = OperatorSettings()
    assert (settings.tick, settings.policy_interval) == (0.5, 2.5)
    assert settings.lease_namespace == "ops"
    monkeypatch.setenv("FRAGRANCE_LEASE_NAMESPACE", "leases")
    assert OperatorSettings().lease_namespace == "leases"


def test_a_bad_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRAGRANCE_TICK", "0")
    with pytest.raises(ValidationError, match="tick"):
        OperatorSettings()


def test_a_webhook_needs_its_certificate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRAGRANCE_WEBHOOK_PORT", "9443")
    with pytest.raises(ValidationError, match="FRAGRANCE_WEBHOOK_CERT"):
        OperatorSettings()
