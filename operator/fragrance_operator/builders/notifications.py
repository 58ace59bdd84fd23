"""What a release announces, built as pure data: which transition is which trigger, the
notice with the numbers behind it, and the bodies a webhook and a Slack-compatible receiver
are sent."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from fragrance_api.crd import GROUP, VERSION
from fragrance_api.notifications import Trigger
from fragrance_operator.canary.rollout import Event, Rollout

# Event reasons (the canary machine's transitions) → the trigger a user subscribes to.
TRIGGER_OF: dict[str, Trigger] = {
    "Started": "started",
    "Restarted": "started",
    "Progressing": "stepAdvanced",
    "StepAdvanced": "stepAdvanced",
    "AwaitingPromotion": "paused",
    "Paused": "paused",
    "RolledBack": "rolledBack",
    "Aborted": "rolledBack",
    "Promoted": "promoted",
    "Failed": "failed",
    "ScaleUpBlocked": "scaleUpBlocked",
    "CanaryUnavailable": "paused",
}
# A check worth naming in a notice: what decided, not the checks that passed quietly.
DECIDING = ("NO-GO", "WARNING", "INCONCLUSIVE")


@dataclass(frozen=True)
class Notice:
    """One transition of one release, with what a person needs to act on it."""

    namespace: str
    release: str
    uid: str
    trigger: Trigger
    reason: str
    message: str
    version: str  # the version the transition is about (the canary's, or the one finished)
    stable_version: str
    step: int
    weight: int
    at: str  # RFC 3339
    decision: str | None = None  # the gate's decision behind it, when a gate decided
    checks: tuple[dict[str, Any], ...] = field(default_factory=tuple)

    @property
    def id(self) -> str:
        """Stable across retries: a receiver can drop a duplicate delivery."""
        key = f"{self.uid}/{self.reason}/{self.version}/{self.step}/{self.at}"
        return hashlib.sha256(key.encode()).hexdigest()[:32]


def deciding_checks(checks: list[dict[str, Any]]) -> tuple[dict[str, Any], ...]:
    """The checks that decided (all of them when every one passed), as numbers."""
    chosen = [c for c in checks if c.get("result") in DECIDING] or checks
    keys = ("name", "value", "threshold", "stableValue", "sample", "result", "message")
    return tuple({k: c[k] for k in keys if c.get(k) is not None} for c in chosen)


def build_notices(
    meta: dict[str, Any],
    events: tuple[Event, ...],
    before: Rollout,
    after: Rollout,
    *,
    at: str,
    decision: str | None,
    checks: list[dict[str, Any]],
) -> list[Notice]:
    """The notices of one tick's transitions. A rollback or failure is reported at the step
    and weight where it happened, not at the 0% it leaves behind."""
    notices = []
    for event in events:
        trigger = TRIGGER_OF.get(event.reason)
        if trigger is None:
            continue
        where = before if trigger in ("rolledBack", "failed") else after
        notices.append(
            Notice(
                namespace=meta["namespace"],
                release=meta["name"],
                uid=meta.get("uid", ""),
                trigger=trigger,
                reason=event.reason,
                message=event.message,
                version=after.canary_version or before.canary_version or "",
                stable_version=after.stable_version or "",
                step=where.step,
                weight=where.weight,
                at=at,
                decision=decision,
                checks=deciding_checks(checks),
            )
        )
    return notices


def build_cloud_event(notice: Notice) -> dict[str, Any]:
    """A CloudEvents 1.0 event in structured mode (``application/cloudevents+json``)."""
    return {
        "specversion": "1.0",
        "id": notice.id,
        "source": f"/apis/{GROUP}/{VERSION}/namespaces/{notice.namespace}"
        f"/fragrancereleases/{notice.release}",
        "type": f"ai.fragrance.release.{notice.trigger}",
        "subject": notice.release,
        "time": notice.at,
        "datacontenttype": "application/json",
        "data": {
            "namespace": notice.namespace,
            "release": notice.release,
            "reason": notice.reason,
            "message": notice.message,
            "version": notice.version,
            "stableVersion": notice.stable_version,
            "step": notice.step,
            "weight": notice.weight,
            "decision": notice.decision,
            "checks": list(notice.checks),
        },
    }


_ICON = {"rolledBack": ":rotating_light:", "failed": ":x:", "promoted": ":white_check_mark:"}


def build_slack_message(notice: Notice) -> dict[str, Any]:
    """An incoming-webhook body: ``text`` for notifications and clients without blocks."""
    icon = _ICON.get(notice.trigger, ":arrow_forward:")
    head = (
        f"{icon} {notice.namespace}/{notice.release} {notice.version}: {notice.reason} "
        f"(step {notice.step}, {notice.weight}% canary)"
    )
    lines = [f"• {_check_line(c)}" for c in notice.checks]
    text = "\n".join([head, notice.message, *lines])
    return {
        "text": text,
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}],
    }


def _check_line(check: dict[str, Any]) -> str:
    parts = [f"{check['name']} {check.get('result', '')}: {_num(check.get('value'))}"]
    if check.get("threshold") is not None:
        parts.append(f"threshold {_num(check['threshold'])}")
    if check.get("stableValue") is not None:
        parts.append(f"stable {_num(check['stableValue'])}")
    if check.get("sample") is not None:
        parts.append(f"n={_num(check['sample'])}")
    return ", ".join(parts)


def _num(value: Any) -> str:
    return (
        "no data" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)
    )
