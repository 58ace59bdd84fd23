"""Decision records: every gate evaluation of a rollout, with its numbers, kept per rollout.

The log is plain data (the JSON kept in the release's ``<name>-decisions`` ConfigMap); these
functions only compute its next value, bounded so that it always fits in one ConfigMap.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, Literal

from fragrance_operator.canary.gate import CheckResult, Verdict
from fragrance_operator.canary.rollout import Event, Rollout
from fragrance_operator.canary.status import check_body

ROLLOUTS_KEPT = 5
DECISIONS_KEPT = 100  # per rollout: the newest (a paused rollout can be judged for hours)
MESSAGE_CHARS = 240
Log = dict[str, Any]  # {"rollouts": [{version, startedAt, outcome, reason, finishedAt, decisions}]}
Kind = Literal["evaluation", "shadow", "gate"]
# Transitions that end a rollout → the outcome its record keeps (as status.history does).
OUTCOMES = {
    "Promoted": "Succeeded",
    "RolledBack": "RolledBack",
    "Failed": "Failed",
    "Aborted": "Aborted",
}


def log_changes(
    judged: Rollout,
    judgement: tuple[Kind, Verdict] | None,
    events: tuple[Event, ...],
    *,
    version: str,
    at: str,
    window: float,
) -> list[Callable[[Log], Log]]:
    """What one tick adds to the log: its evaluation, if one ran, and the rollout's end, if
    it ended."""
    changes: list[Callable[[Log], Log]] = []
    if judgement is not None:
        kind, verdict = judgement
        applied = tuple(e.reason for e in events)
        record = decision_record(
            kind,
            judged,
            verdict,
            at=at,
            window=window if kind != "evaluation" else None,
            applied=applied,
        )
        changes.append(partial(with_decision, version=version, at=at, record=record))
    for event in events:
        if (outcome := OUTCOMES.get(event.reason)) is not None:
            ended = partial(with_outcome, version=version, outcome=outcome, reason=event.message)
            changes.append(partial(ended, at=at))
    return changes


def decision_record(
    kind: Kind,
    judged: Rollout,
    verdict: Verdict,
    *,
    at: str,
    window: float | None,
    applied: tuple[str, ...],
) -> dict[str, Any]:
    """One evaluation: where the canary stood when judged, the verdict, and what followed."""
    return {
        "at": at,
        "kind": kind,
        "step": judged.step,
        "weight": judged.weight,
        **({"mirror": judged.mirror} if judged.mirror else {}),
        **({"windowSeconds": window} if window is not None else {}),
        "decision": verdict.decision,
        "summary": verdict.summary[:MESSAGE_CHARS],
        "applied": list(applied),
        "checks": [_check(c) for c in verdict.checks],
    }


def _check(c: CheckResult) -> dict[str, Any]:
    body = {key: value for key, value in check_body(c).items() if value is not None}
    # A GO check's message repeats its numbers: only the others keep theirs.
    if c.result == "GO":
        body.pop("message", None)
    else:
        body["message"] = c.message[:MESSAGE_CHARS]
    return body


def with_decision(log: Log, version: str, at: str, record: dict[str, Any]) -> Log:
    """``log`` with ``record`` added to ``version``'s rollout (a new one when the newest is
    another version's or is finished)."""
    rollouts = _with_open(log, version, at)
    current = rollouts[-1]
    current["decisions"] = [*current["decisions"], record][-DECISIONS_KEPT:]
    return {"rollouts": rollouts[-ROLLOUTS_KEPT:]}


def with_outcome(log: Log, version: str, outcome: str, reason: str, at: str) -> Log:
    """``log`` with ``version``'s open rollout closed; one with no decisions (e.g. rolled back
    by hand before any gate) is recorded too, so history has one entry per rollout."""
    rollouts = _with_open(log, version, at)
    rollouts[-1].update(outcome=outcome, reason=reason[:MESSAGE_CHARS], finishedAt=at)
    return {"rollouts": rollouts[-ROLLOUTS_KEPT:]}


def _with_open(log: Log, version: str, at: str) -> list[dict[str, Any]]:
    """The log's rollouts (copied), the last one open for ``version``: a new one when the
    newest is another version's or is finished."""
    rollouts = [dict(r) for r in log.get("rollouts", [])]
    if not rollouts or rollouts[-1]["version"] != version or rollouts[-1].get("outcome"):
        rollouts.append({"version": version, "startedAt": at, "decisions": []})
    return rollouts
