"""After a tick's decision is written and converged: its decision record kept, its
transitions announced. Neither may delay or fail the rollout: both are only queued here
(a record that cannot be written is logged, the notifier delivers a notice later)."""

from __future__ import annotations

from typing import Any

from fragrance_api.release import FragranceReleaseSpec
from fragrance_api.release_status import FragranceReleaseStatus
from fragrance_operator.builders.notifications import build_notices
from fragrance_operator.canary import records
from fragrance_operator.canary import status as codec
from fragrance_operator.canary.gate import Verdict
from fragrance_operator.canary.machine import Plan, Rollout
from fragrance_operator.reconcile.context import Context
from fragrance_operator.reconcile.decide import Decision, Observed


def announce(
    ctx: Context,
    raw: dict[str, Any],
    spec: FragranceReleaseSpec,
    plan: Plan,
    judged: Rollout,
    decision: Decision,
    seen: Observed,
    previous: FragranceReleaseStatus | None,
) -> None:
    at = codec.timestamp(seen.now)
    judgement = _judged(seen, judged)
    new = decision.rollout
    version = new.canary_version or judged.canary_version or plan.version
    changes = records.log_changes(
        judged, judgement, decision.events, version=version, at=at, window=plan.analysis_interval
    )
    ctx.records.submit(raw, changes)
    if spec.notifications:
        checks = _checks(judgement[1] if judgement else None, previous)
        events = (*decision.events, *decision.notices)
        notices = build_notices(
            raw["metadata"],
            events,
            judged,
            new,
            at=at,
            decision=judgement[1].decision if judgement else _last_decision(previous),
            checks=checks,
        )
        for notice in notices:
            ctx.notifier.send(notice, spec.notifications)


def _judged(seen: Observed, judged: Rollout) -> tuple[records.Kind, Verdict] | None:
    if seen.evaluation is not None:
        return "evaluation", seen.evaluation.verdict
    if seen.verdict is not None:
        return "shadow" if judged.mirror else "gate", seen.verdict
    return None


def _checks(
    verdict: Verdict | None, previous: FragranceReleaseStatus | None
) -> list[dict[str, Any]]:
    """This tick's verdict's checks; else the last gate's (a promotion completes a tick or
    more after the GO that began it)."""
    if verdict is not None:
        return list(codec.gate_body(verdict, 0.0)["checks"])
    if previous is not None and previous.gate is not None:
        return [c.to_wire() for c in previous.gate.checks]
    return []


def _last_decision(previous: FragranceReleaseStatus | None) -> str | None:
    return previous.gate.decision if previous is not None and previous.gate else None
