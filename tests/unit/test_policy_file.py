"""The serving follows the operator's policy file: changes applied, bad content ignored."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fragrance_serving.settings import from_policy, parse_policy
from tests.helpers import wait_for


def test_changes_are_applied_and_a_bad_file_keeps_the_running_settings(tmp_path: Path) -> None:
    from fragrance_serving.policy_file import follow

    applied: list[int] = []

    def apply(config: dict[str, Any]) -> None:
        settings = from_policy(parse_policy(config["policy"]))  # validates, names the field
        applied.append(settings.guard.max_retries)

    path = tmp_path / "policy.json"
    stop = follow(apply, str(path), interval=0.05)
    assert stop is not None
    try:
        path.write_text(json.dumps({"jsonGuard": {"maxRetries": 2}}))
        wait_for(lambda: applied == [2], "the first policy applied", timeout=5)
        path.write_text(json.dumps({"jsonGuard": {"maxRetries": "many"}}))
        path.write_text("{not json")
        path.write_text(json.dumps({"jsonGuard": {"maxRetries": 4}}))
        wait_for(lambda: applied[-1] == 4, "the corrected policy applied", timeout=5)
        assert all(value in (2, 4) for value in applied)
    finally:
        stop.set()


def test_no_file_configured_follows_nothing(monkeypatch: Any) -> None:
    from fragrance_serving.policy_file import follow

    monkeypatch.delenv("FRAGRANCE_POLICY_FILE", raising=False)
    assert follow(lambda _: None) is None
