"""Where each release that uses a TuningPolicy stands with its serving settings: pure, from
the releases' status (what their tracks run) and the policy's settings now."""

from __future__ import annotations

from typing import Any


def release_rollouts(
    settings: str, immediate: bool, releases: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """One ``status.rollouts`` entry per release, by name."""
    return [_entry(settings, immediate, r) for r in sorted(releases, key=_name)]


def _name(release: dict[str, Any]) -> str:
    return str(release["metadata"]["name"])


def _entry(settings: str, immediate: bool, release: dict[str, Any]) -> dict[str, Any]:
    status = release.get("status") or {}
    entry: dict[str, Any] = {"release": _name(release), "settings": settings}
    if immediate:
        return {**entry, "state": "Serving", "message": "applied to both tracks at once"}
    if status.get("stablePolicy") == settings and not status.get("promoting"):
        return {**entry, "state": "Serving", "message": "the stable track runs them"}
    if status.get("canaryPolicy") == settings:
        phase = status.get("phase")
        if phase in ("Progressing", "Paused"):
            weight = int(status.get("canaryWeight") or 0)
            step = status.get("currentStep") or 0
            where = "promoting" if status.get("promoting") else f"step {step}, {weight}%"
            return {**entry, "state": "RollingOut", "weight": weight, "message": where}
        if phase in ("RolledBack", "Failed"):
            last = (status.get("history") or [{}])[-1]
            return {**entry, "state": "RolledBack", "message": str(last.get("reason") or phase)}
    return {**entry, "state": "Pending", "message": "waiting for the release's next tick"}
