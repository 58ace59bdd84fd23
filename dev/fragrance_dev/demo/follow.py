"""Following a rollout from the release's status, as the demos print it."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fragrance_dev.cluster import LocalCluster

Say = Callable[[str], None]
RELEASE = "brief-api"
NAMESPACE = "default"
#: The row of the TuningPolicy edit's canary in the summary.
POLICY_EDIT = "policy"


@dataclass
class Outcome:
    version: str
    phase: str
    seconds: float
    decisions: list[str] = field(default_factory=list)
    reason: str = ""  # the history's reason: for a rollback, the checks that failed


@dataclass
class Timeline:
    weights: list[tuple[float, int]] = field(default_factory=list)
    marks: list[tuple[float, str]] = field(default_factory=list)


def status_of(cluster: LocalCluster, namespace: str = NAMESPACE) -> dict[str, Any]:
    got = cluster.kubectl("get", "frel", RELEASE, "-n", namespace, "-o", "json", check=False)
    return json.loads(got.stdout).get("status", {}) if got.returncode == 0 else {}


def _checks(status: dict[str, Any], part: str = "gate") -> str:
    gate = status.get(part) or {}
    marks = {"GO": "ok", "WARNING": "warn", "NO-GO": "NO-GO", "INCONCLUSIVE": "?"}
    parts = []
    for check in gate.get("checks", []):
        value = check.get("value")
        shown = "-" if value is None else f"{value:.3g}"
        parts.append(f"{check['name']} {shown} {marks.get(check['result'], check['result'])}")
    return ", ".join(parts)


def follow(
    cluster: LocalCluster, version: str, timeline: Timeline, say: Say, timeout: float,
    namespace: str = NAMESPACE, settings: bool = False,
) -> Outcome:  # fmt: skip
    """Print each change of the rollout until it ends; returns how it ended.

    ``settings``: the rollout is of new TuningPolicy settings on ``version``, the stable one:
    it shows from when its canary starts and ends with the next history entry; the gate and
    evaluation of ``version``'s own rollout, still in status, are not its.
    """
    started = time.time()
    seen: tuple[Any, ...] | None = None
    outcome = Outcome(POLICY_EDIT if settings else version, "Timeout", 0.0)
    before = status_of(cluster, namespace) if settings else {}
    entries = len(before.get("history") or [])
    stale = (before.get("gate") or {}).get("evaluatedAt")
    said_at = (before.get("evaluation") or {}).get("evaluatedAt")  # the evaluation last printed
    started_settings = False
    while time.time() - started < timeout:
        status = status_of(cluster, namespace)
        gate = status.get("gate") or {}
        evaluation = status.get("evaluation") or {}
        key = (status.get("phase"), status.get("currentStep"), status.get("canaryWeight"),
               gate.get("evaluatedAt"), status.get("pauseReason"), status.get("canaryMirror"),
               evaluation.get("evaluatedAt"))  # fmt: skip
        if status.get("canaryVersion") == version or status.get("stableVersion") == version:
            timeline.weights.append((time.time(), int(status.get("canaryWeight", 0))))
        mine = version in (status.get("canaryVersion"), status.get("stableVersion"))
        if settings and not started_settings:
            canary_policy = status.get("canaryPolicy")
            started_settings = canary_policy not in (None, status.get("stablePolicy"))
            if started_settings:
                say(f"      canary of the policy's settings {canary_policy} on {version}; "
                    f"stable runs {status.get('stablePolicy')}")  # fmt: skip
            mine = started_settings
        if key != seen and status and mine:
            seen = key
            phase, weight = status.get("phase", "?"), status.get("canaryWeight", 0)
            decision = gate.get("decision", "-") if gate.get("evaluatedAt") != stale else "-"
            line = f"  {version}: {phase:<11} weight {weight:>3}%  gate {decision}"
            if status.get("canaryMirror"):
                line += f"  shadow: {status['canaryMirror']}% of stable's requests mirrored"
            if status.get("pauseReason"):
                line += f" paused: {status['pauseReason']}"
            say(line)
            if gate.get("checks") and gate.get("evaluatedAt") != stale:
                say(f"      {_checks(status)}")
            if evaluation.get("version") == version and evaluation["evaluatedAt"] != said_at:
                said_at = evaluation["evaluatedAt"]
                took = evaluation.get("seconds") or 0
                say(f"      evaluation {evaluation['decision']} in {took:.0f}s: "
                    f"{_checks(status, 'evaluation')}")  # fmt: skip
            if gate.get("decision") and gate.get("evaluatedAt") != stale:
                outcome.decisions.append(gate["decision"])
                timeline.marks.append((time.time(), f"{version} {gate['decision']}"))
        history = status.get("history") or []
        ended = (
            len(history) > entries
            if settings
            else bool(history) and (history[-1].get("version") == version)
        )
        if ended:
            outcome.phase, outcome.reason = history[-1]["outcome"], history[-1].get("reason", "")
            break
        first = not settings and status.get("stableVersion") == version
        if first and status.get("phase") == "Succeeded":
            outcome.phase = "Succeeded"  # the first release: no canary, no history entry
            break
        time.sleep(0.5)
    outcome.seconds = time.time() - started
    timeline.marks.append((time.time(), f"{outcome.version} {outcome.phase}"))
    return outcome
