"""The ConfigMap that keeps a release's decision records (``kubectl fragrance history``)."""

from __future__ import annotations

import json
from typing import Any

from .objects import owned_config_map

DATA_KEY = "decisions.json"


def decision_log_name(release: str) -> str:
    return f"{release}-decisions"


def decision_log_config_map(release: dict[str, Any], log: dict[str, Any]) -> dict[str, Any]:
    name = release["metadata"]["name"]
    managed = {
        "app.kubernetes.io/managed-by": "fragrance-operator",
        "app.kubernetes.io/component": "decision-log",
        "release": name,
    }
    text = json.dumps(log, separators=(",", ":"))
    return owned_config_map(release, decision_log_name(name), managed, {DATA_KEY: text})


def read_decision_log(config_map: dict[str, Any] | None) -> dict[str, Any]:
    """The log a ConfigMap holds; an empty one when absent or unreadable (it is rebuilt)."""
    text = ((config_map or {}).get("data") or {}).get(DATA_KEY)
    try:
        log = json.loads(text) if text else {}
    except json.JSONDecodeError:
        return {"rollouts": []}
    return log if isinstance(log.get("rollouts"), list) else {"rollouts": []}
