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
    follower = follow(apply, str(path), interval=0.05)
    assert follower is not None
    try:
        assert not follower.active, "no file yet: the user_config says the policy"
        path.write_text(json.dumps({"jsonGuard": {"maxRetries": 2}}))
        wait_for(lambda: applied == [2], "the first policy applied", timeout=5)
        assert follower.active
        path.write_text(json.dumps({"jsonGuard": {"maxRetries": "many"}}))
        path.write_text("{not json")
        path.write_text(json.dumps({"jsonGuard": {"maxRetries": 4}}))
        wait_for(lambda: applied[-1] == 4, "the corrected policy applied", timeout=5)
        assert all(value in (2, 4) for value in applied)
    finally:
        follower.stop.set()


def test_no_file_configured_follows_nothing(monkeypatch: Any) -> None:
    from fragrance_serving.policy_file import follow

    monkeypatch.delenv("FRAGRANCE_POLICY_FILE", raising=False)
    assert follow(lambda _: None) is None


def test_once_the_file_is_read_a_user_configs_policy_does_not_undo_it(tmp_path: Path) -> None:
    """Serve applies a replica's user_config after its __init__: in a pod with the operator's
    file that would put the defaults back over the file's settings."""
    from fragrance_serving.policy_file import apply_unless_followed, follow

    applied: list[Any] = []
    apply_unless_followed(None, applied.append, {"policy": None})  # no file configured
    assert applied == [{"policy": None}]
    path = tmp_path / "policy.json"
    follower = follow(applied.append, str(path), interval=0.05)
    assert follower is not None
    try:
        apply_unless_followed(follower, applied.append, {"policy": {"from": "user_config"}})
        assert applied[-1] == {"policy": {"from": "user_config"}}, "no file yet: it applies"
        path.write_text(json.dumps({"from": "file"}))
        wait_for(lambda: applied[-1] == {"policy": {"from": "file"}}, "the file applied", 5)
        apply_unless_followed(follower, applied.append, {"policy": None})
        assert applied[-1] == {"policy": {"from": "file"}}
    finally:
        follower.stop.set()
