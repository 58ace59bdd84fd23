"""What ``kubectl fragrance`` prints, as lines: pure functions of the objects it read."""

from __future__ import annotations

from typing import Any


def status_lines(release: dict[str, Any]) -> list[str]:
    """Where a rollout stands: phase, step, weight, conditions, the last gate, the history."""
    meta, st = release["metadata"], release.get("status") or {}
    steps = release["spec"].get("canary", {}).get("steps", [])
    step = st.get("currentStep", 0)
    stable_policy, canary_policy = st.get("stablePolicy"), st.get("canaryPolicy")
    # A canary of the TuningPolicy's settings (same version): say which settings each runs.
    policies = (
        (f"  policy {stable_policy or '-'}", f"  policy {canary_policy}")
        if canary_policy and canary_policy != stable_policy
        else ("", "")
    )
    lines = [
        f"{meta['namespace']}/{meta['name']}: {st.get('phase', 'Pending')}",
        f"  stable  {st.get('stableVersion') or '-'}{policies[0]}",
        f"  canary  {st.get('canaryVersion') or '-'}{policies[1]}  weight "
        f"{st.get('canaryWeight', 0)}%  step {step + 1}/{len(steps)} {steps}",
    ]
    if st.get("canaryMirror"):
        lines.append(f"  shadow  {st['canaryMirror']}% of stable's requests mirrored")
    if st.get("pauseReason"):
        lines.append(f"  paused  {st['pauseReason']}")
    for condition in st.get("conditions", []):
        message = f" - {condition['message']}" if condition.get("message") else ""
        lines.append(
            f"  {condition['type']:<12}{condition['status']:<6}{condition['reason']}{message}"
        )
    evaluation = st.get("evaluation")
    if evaluation:
        took = f" in {evaluation['seconds']:.1f}s" if evaluation.get("seconds") else ""
        lines.append(
            f"  evaluation  {evaluation['decision']} of {evaluation['version']} before any "
            f"traffic{took}"
        )
        lines += check_lines(evaluation.get("checks", []))
    gate = st.get("gate")
    if gate:
        lines.append(f"  gate    {gate['decision']} at {gate.get('evaluatedAt', '?')}")
        lines += check_lines(gate.get("checks", []))
    for entry in st.get("history", [])[-5:]:
        lines.append(
            f"  history {entry['version']}: {entry['outcome']} ({entry.get('reason', '')})"
        )
    return lines


def history_lines(log: dict[str, Any], version: str | None = None) -> list[str]:
    """Every decision kept for each rollout (oldest first), with its numbers."""
    rollouts = [r for r in log.get("rollouts", []) if version in (None, r["version"])]
    if not rollouts:
        return ["no decisions recorded" + (f" for {version}" if version else "")]
    lines: list[str] = []
    for rollout in rollouts:
        outcome = rollout.get("outcome") or "in progress"
        ended = f", finished {rollout['finishedAt']}" if rollout.get("finishedAt") else ""
        lines.append(
            f"{rollout['version']}: {outcome} (started {rollout['startedAt']}{ended})"
            + (f" - {rollout['reason']}" if rollout.get("reason") else "")
        )
        for record in rollout.get("decisions", []):
            where = (
                "before traffic"
                if record["kind"] == "evaluation"
                else f"shadow {record.get('mirror', 0)}%"
                if record["kind"] == "shadow"
                else f"step {record['step'] + 1} at {record['weight']}%"
            )
            window = f", {record['windowSeconds']:g}s window" if "windowSeconds" in record else ""
            then = ", ".join(record.get("applied", [])) or "held"
            lines.append(
                f"  {record['at']}  {record['kind']} {where}{window}: {record['decision']} "
                f"-> {then}"
            )
            lines += check_lines(record.get("checks", []))
    return lines


def check_lines(checks: list[dict[str, Any]]) -> list[str]:
    lines = [f"    {'RESULT':<13}{'CHECK':<30}{'VALUE':<10}{'LIMIT':<10}{'STABLE':<10}{'N':<7}WHY"]
    for check in checks:
        value, limit, stable, n = (
            _number(check.get(key)) for key in ("value", "threshold", "stableValue", "sample")
        )
        lines.append(
            f"    {check['result']:<13}{check['name']:<30}{value:<10}{limit:<10}{stable:<10}"
            f"{n:<7}{check.get('message', '')}"
        )
    return lines


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"
