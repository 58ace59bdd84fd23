"""Where a release announces its transitions: webhooks (CloudEvents-shaped JSON) and
Slack-compatible incoming webhooks, each URL read from a Secret."""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import Field

from .base import DNS_LABEL_PATTERN, KubeModel, Rule

Trigger = Literal[
    "started",
    "stepAdvanced",
    "paused",
    "rolledBack",
    "promoted",
    "failed",
    "scaleUpBlocked",
]
TRIGGERS: tuple[Trigger, ...] = get_args(Trigger)
TriggerItem = Annotated[Trigger, Field(description="A transition of the rollout.")]


class SecretKeyRef(KubeModel):
    name: str = Field(
        min_length=1, max_length=253, description="Secret in the release's namespace."
    )
    key: str = Field(
        default="url", min_length=1, max_length=253, description="Key holding the URL."
    )


class NotificationTarget(KubeModel):
    """One receiver, and the transitions it is sent."""

    rules = (
        Rule(
            cel="self.triggers.all(t, self.triggers.filter(u, u == t).size() == 1)",
            message="each trigger may be listed once",
            check=lambda t: len(set(t.triggers)) == len(t.triggers),
            field_path=".triggers",
        ),
    )

    name: str = Field(
        min_length=1,
        max_length=63,
        pattern=DNS_LABEL_PATTERN,
        description="Names the target in metrics, events and the NotificationsDelivered condition.",
    )
    type: Literal["webhook", "slack"] = Field(
        description="webhook: a CloudEvents 1.0 JSON body (structured mode); slack: an "
        "incoming-webhook body ({text, blocks})."
    )
    secret_ref: SecretKeyRef = Field(
        description="The URL, from a Secret (URLs of chat webhooks are credentials)."
    )
    # Not "on": YAML 1.1 (kubectl's, Argo CD's, Flux's) reads a bare `on` key as `true`.
    triggers: list[TriggerItem] = Field(
        default_factory=lambda: list(TRIGGERS),
        min_length=1,
        max_length=len(TRIGGERS),
        description="Transitions sent to this target; all of them when unset.",
        json_schema_extra={"default": list(TRIGGERS)},
    )
