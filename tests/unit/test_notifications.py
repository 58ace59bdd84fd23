"""Notifications and decision records: what is announced and kept, and how delivery behaves
against a real HTTP receiver (the apiserver's Secret read is a named double here; the
cluster test reads a real Secret under the chart's RBAC)."""

from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import replace
from typing import Any

from fragrance_api.notifications import NotificationTarget
from fragrance_api.release_status import FragranceReleaseStatus
from fragrance_operator.adapters.notifier import Attempts, Notifier
from fragrance_operator.builders.notifications import (
    build_cloud_event,
    build_notices,
    build_slack_message,
)
from fragrance_operator.canary import records
from fragrance_operator.canary import status as codec
from fragrance_operator.canary.autoscale import Sizing
from fragrance_operator.canary.delivery import Delivery
from fragrance_operator.canary.gate import CheckResult, Verdict
from fragrance_operator.canary.machine import Event
from fragrance_operator.plugin.views import history_lines
from fragrance_operator.reconcile.decide import Observed, decide
from tests.unit.canary_scenarios import PLAN, started
from tests.webhook_receiver import Receiver

META = {"namespace": "shop", "name": "brief-api", "uid": "u-1"}
CHECKS = [
    {"name": "errorRate5xx", "value": 0.3, "threshold": 0.05, "sample": 120.0, "result": "NO-GO",
     "message": "0.3 > 0.05"},
    {"name": "latencyP95/fast", "value": 0.4, "threshold": 2.0, "result": "GO", "message": ""},
]  # fmt: skip
VERDICT = Verdict(
    "NO-GO",
    (
        CheckResult("errorRate5xx", "NO-GO", 0.3, 0.05, "0.3 > 0.05", 120.0),
        CheckResult("latencyP95/fast", "GO", 0.4, 2.0, "0.4 <= 2", 40.0, 0.38),
    ),
    120.0,
    "errorRate5xx 0.3 > 0.05",
)


def test_a_rollback_is_announced_where_it_happened_with_the_deciding_checks() -> None:
    before = replace(started(), step=1, weight=5)
    after = replace(before, phase="RolledBack", weight=0)
    events = (
        Event("GateNoGo", "NO-GO 1 of 0 tolerated", True),  # no trigger: not announced
        Event("RolledBack", "NO-GO at 5%: errorRate5xx 0.3 > 0.05", True),
    )
    [notice] = build_notices(
        META, events, before, after, at="2026-12-03T04:00:00Z", decision="NO-GO", checks=CHECKS
    )
    assert (notice.trigger, notice.step, notice.weight) == ("rolledBack", 1, 5)
    assert notice.version == "v2"
    assert [c["name"] for c in notice.checks] == ["errorRate5xx"], "only what decided"
    event = build_cloud_event(notice)
    assert event["specversion"] == "1.0"
    assert event["type"] == "ai.fragrance.release.rolledBack"
    assert (
        event["source"] == "/apis/fragrance.ai/v1alpha1/namespaces/shop/fragrancereleases/brief-api"
    )
    assert event["data"]["checks"][0] == {k: v for k, v in CHECKS[0].items()}
    assert event["id"] == build_cloud_event(notice)["id"], "stable across retries"
    text = build_slack_message(notice)["text"]
    assert "shop/brief-api v2: RolledBack (step 1, 5% canary)" in text
    assert "errorRate5xx NO-GO: 0.3, threshold 0.05, n=120" in text


def test_a_step_advance_reports_the_new_weight_and_every_check_when_all_passed() -> None:
    before = replace(started(), step=0, weight=1)
    after = replace(before, step=1, weight=5)
    go = [dict(c, result="GO") for c in CHECKS]
    [notice] = build_notices(
        META, (Event("StepAdvanced", "gate GO; step 2: 5%"),), before, after,
        at="t", decision="GO", checks=go,
    )  # fmt: skip
    assert (notice.trigger, notice.weight) == ("stepAdvanced", 5)
    assert len(notice.checks) == 2


def test_decision_records_are_kept_per_rollout_and_bounded() -> None:
    judged = replace(started(), step=1, weight=5)
    record = records.decision_record("gate", judged, VERDICT, at="t1", window=10, applied=())
    assert record["checks"][1] == {
        "name": "latencyP95/fast", "value": 0.4, "threshold": 2.0, "stableValue": 0.38,
        "sample": 40.0, "result": "GO",
    }  # fmt: skip
    assert record["checks"][0]["message"] == "0.3 > 0.05"
    log: records.Log = {}
    for i in range(records.DECISIONS_KEPT + 5):
        log = records.with_decision(log, "v2", f"t{i}", dict(record, at=f"t{i}"))
    [rollout] = log["rollouts"]
    assert len(rollout["decisions"]) == records.DECISIONS_KEPT
    assert rollout["decisions"][-1]["at"] == f"t{records.DECISIONS_KEPT + 4}", "the newest kept"
    log = records.with_outcome(log, "v2", "RolledBack", "NO-GO at 5%", "t9")
    log = records.with_decision(log, "v2", "t10", record)  # v2 again: a new rollout
    log = records.with_decision(log, "v3", "t11", record)
    assert [(r["version"], r.get("outcome")) for r in log["rollouts"]] == [
        ("v2", "RolledBack"), ("v2", None), ("v3", None),
    ]  # fmt: skip
    for i in range(10):
        log = records.with_outcome(log, f"v{10 + i}", "Succeeded", "promoted", "t")
    assert len(log["rollouts"]) == records.ROLLOUTS_KEPT
    assert len(json.dumps(log)) < 900_000


def test_history_prints_every_decision_with_its_numbers() -> None:
    judged = replace(started(), step=1, weight=5)
    record = records.decision_record(
        "gate", judged, VERDICT, at="12:00:10", window=10, applied=("RolledBack",)
    )
    log = records.with_decision({}, "v2", "12:00:00", record)
    log = records.with_outcome(log, "v2", "RolledBack", "NO-GO at 5%", "12:00:11")
    text = "\n".join(history_lines(log))
    assert "v2: RolledBack (started 12:00:00, finished 12:00:11) - NO-GO at 5%" in text
    assert "12:00:10  gate step 2 at 5%, 10s window: NO-GO -> RolledBack" in text
    assert "errorRate5xx" in text
    assert "0.3" in text
    assert "0.05" in text
    assert "120" in text
    assert history_lines(log, "v9") == ["no decisions recorded for v9"]


def test_a_failing_delivery_becomes_a_false_condition() -> None:
    r = started()
    previous = FragranceReleaseStatus.model_validate(
        codec.status_body(r, generation=1, now=0, previous=None)
    )
    failing = Delivery(False, "DeliveryFailed", "chat: Promoted not delivered: HTTP 404")
    seen = Observed(100, True, True, Sizing(1), None, delivery=failing)
    d = decide(r, PLAN, previous, 1, None, seen)
    assert d.status is not None
    [condition] = [c for c in d.status["conditions"] if c["type"] == "NotificationsDelivered"]
    assert (condition["status"], condition["reason"]) == ("False", "DeliveryFailed")


class SecretsDouble:
    """Stands in for the apiserver's Secret read (the cluster test uses a real one)."""

    def __init__(self, urls: dict[str, str]) -> None:
        self.urls = urls

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        url = self.urls.get(name)
        return None if url is None else {"data": {"url": base64.b64encode(url.encode()).decode()}}


def _notice() -> Any:
    before = replace(started(), step=2, weight=25)
    events = (Event("Promoted", "v2 is stable; canary removed"),)
    after = replace(before, phase="Succeeded", weight=0)
    return build_notices(META, events, before, after, at="t", decision="GO", checks=CHECKS)[0]


def _target(name: str, kind: str = "webhook") -> NotificationTarget:
    return NotificationTarget.model_validate(
        {"name": name, "type": kind, "secretRef": {"name": name}}
    )


async def _until(condition: Any, seconds: float = 10) -> None:
    async with asyncio.timeout(seconds):
        while not condition():
            await asyncio.sleep(0.01)


def test_a_5xx_is_retried_a_4xx_is_not_and_a_dead_receiver_blocks_nothing() -> None:
    asyncio.run(_retries())


async def _retries() -> None:
    flaky, broken = Receiver([503, 503]), Receiver([404])
    urls = {"flaky": flaky.url, "broken": broken.url, "dead": "http://127.0.0.1:9/x"}
    notifier = Notifier(SecretsDouble(urls), Attempts(attempts=3, backoff=0.01))  # type: ignore[arg-type]
    targets = [_target("flaky"), _target("broken", "slack"), _target("dead")]
    notifier.send(_notice(), targets)
    assert flaky.bodies == broken.bodies == [], "send only queues: nothing was sent yet"
    await _until(notifier.idle)
    assert len(flaky.bodies) == 3, "two 503s retried, the third attempt delivered"
    assert flaky.bodies[-1]["type"] == "application/cloudevents+json"
    assert flaky.bodies[-1]["body"]["data"]["version"] == "v2"
    assert len(broken.bodies) == 1, "a 404 is not retried"
    assert "text" in broken.bodies[0]["body"]
    delivery = notifier.delivery("shop", "brief-api")
    assert delivery is not None
    assert not delivery.delivered
    assert "broken: Promoted not delivered: HTTP 404" in delivery.message
    assert "dead: Promoted not delivered: ConnectError" in delivery.message
    assert "127.0.0.1:9" not in delivery.message, "the URL is a credential"
    await notifier.close()


def test_a_target_receives_only_its_triggers() -> None:
    asyncio.run(_triggers())


async def _triggers() -> None:
    receiver = Receiver([])
    notifier = Notifier(SecretsDouble({"chat": receiver.url}), Attempts(backoff=0.01))  # type: ignore[arg-type]
    only = NotificationTarget.model_validate(
        {"name": "chat", "type": "webhook", "secretRef": {"name": "chat"}, "triggers": ["promoted"]}
    )
    step = replace(_notice(), trigger="stepAdvanced", reason="StepAdvanced")
    notifier.send(step, [only])
    notifier.send(_notice(), [only])
    await _until(notifier.idle)
    assert len(receiver.bodies) == 1
    assert receiver.bodies[0]["body"]["data"]["reason"] == "Promoted"
    delivery = notifier.delivery("shop", "brief-api")
    assert delivery is not None
    assert delivery.delivered
    await notifier.close()


def test_a_tick_that_rolls_back_records_its_decision_then_the_outcome() -> None:
    judged = replace(started(), step=1, weight=5)
    events = (Event("RolledBack", "NO-GO at 5%: errorRate5xx 0.3 > 0.05", True),)
    log: records.Log = {}
    for change in records.log_changes(
        judged, ("gate", VERDICT), events, version="v2", at="t", window=10
    ):
        log = change(log)
    [rollout] = log["rollouts"]
    assert (rollout["outcome"], rollout["reason"]) == ("RolledBack", events[0].message)
    assert rollout["decisions"][0]["applied"] == ["RolledBack"]
    assert records.log_changes(judged, None, (), version="v2", at="t", window=10) == []


def test_a_deleted_release_leaves_no_queue_or_worker_behind() -> None:
    asyncio.run(_forgotten())


async def _forgotten() -> None:
    notifier = Notifier(SecretsDouble({"dead": "http://127.0.0.1:9/x"}), Attempts(backoff=5))  # type: ignore[arg-type]
    notifier.send(_notice(), [_target("dead")])
    assert not notifier.idle(), "retrying a receiver that is down"
    notifier.forget("shop", "brief-api")
    await asyncio.sleep(0)  # let the cancellation land
    assert notifier.idle()
    assert notifier.delivery("shop", "brief-api") is None
    await notifier.close()
