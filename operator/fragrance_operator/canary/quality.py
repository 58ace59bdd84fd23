"""The evaluation before traffic, judged: the canary's and the stable's answers to the same
prompts → per-check results and a decision, as the gate's are.

Checks: the share of valid briefs without a fallback (NO-GO), JSON-guard retries per answer
(WARNING), client-side p95 per mode against the gate's budgets (WARNING: an idle canary's
latency says little of a loaded one), and quality against stable on the same prompts (NO-GO):
prompt adherence (the asked-for families all named, one of the asked-for notes named; worse
than stable's beyond the tolerance at 95%, as the rates' comparisons are judged) and
diversity (distinct briefs over distinct prompts: a model that answers one brief whatever
it is asked scores 1/n).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fragrance_api.evaluation import EvaluationPrompt, EvaluationSpec

from .compare import difference_bounds
from .gate import CheckResult, Severity, Verdict, decide

PREFIX = "evaluation."
CONFIDENCE = 0.95


@dataclass(frozen=True)
class Answer:
    """One track's answer to one prompt."""

    status: int  # HTTP status; 0 when no answer came (refused, timed out)
    brief: Mapping[str, Any] | None = None
    fallback: bool = False
    retries: int = 0
    seconds: float = 0.0
    mode: str = ""

    @property
    def valid(self) -> bool:
        return (
            self.status == 200
            and self.brief is not None
            and not self.fallback
            and not self.brief.get("error")
        )


@dataclass(frozen=True)
class Scored:
    name: str
    severity: Severity


CHECKS = (
    Scored(PREFIX + "schemaValid", "NO-GO"),
    Scored(PREFIX + "retries", "WARNING"),
    Scored(PREFIX + "latencyP95", "WARNING"),
    Scored(PREFIX + "adherence", "NO-GO"),
    Scored(PREFIX + "diversity", "NO-GO"),
)


def adherence(item: EvaluationPrompt, brief: Mapping[str, Any]) -> float | None:
    """How far one brief follows its prompt, 0..1 (None: the prompt asks for nothing)."""
    parts = []
    if item.families:
        parts.append(float(set(item.families) <= set(brief.get("families") or ())))
    if item.notes:
        parts.append(float(bool(set(item.notes) & set(brief.get("notes") or ()))))
    return sum(parts) / len(parts) if parts else None


def adherence_scores(items: Sequence[EvaluationPrompt], answers: Sequence[Answer]) -> list[float]:
    return [
        score
        for item, answer in zip(items, answers, strict=True)
        if answer.valid and answer.brief is not None
        if (score := adherence(item, answer.brief)) is not None
    ]


def diversity(items: Sequence[EvaluationPrompt], answers: Sequence[Answer]) -> float | None:
    """Distinct briefs over distinct prompts, among the valid answers."""
    prompts, briefs = set(), set()
    for item, answer in zip(items, answers, strict=True):
        if answer.valid and answer.brief is not None:
            prompts.add(item.prompt)
            b = answer.brief
            briefs.add((b.get("description"), *sorted(b.get("notes") or ()), "|",
                        *sorted(b.get("families") or ())))  # fmt: skip
    return len(briefs) / len(prompts) if prompts else None


def p95(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def score(
    items: Sequence[EvaluationPrompt],
    canary: Sequence[Answer],
    stable: Sequence[Answer],
    spec: EvaluationSpec,
    budgets: Mapping[str, float],
) -> Verdict:
    n = len(items)
    reached = {
        track: sum(a.status != 0 for a in answers)
        for track, answers in (("canary", canary), ("stable", stable))
    }
    results: list[CheckResult] = []
    if reached["canary"] < spec.min_answered * n:
        why = f"the canary answered {reached['canary']} of {n} prompts"
        results = [CheckResult(c.name, "INCONCLUSIVE", message=why) for c in CHECKS]
        return decide(CHECKS, results, reached["canary"], 1)
    valid = sum(a.valid for a in canary) / n
    stable_valid = sum(a.valid for a in stable) / n if reached["stable"] else None
    low = spec.min_schema_valid_rate
    results.append(_bound(PREFIX + "schemaValid", "NO-GO", valid, low, True, n, stable_valid))
    retries = sum(a.retries for a in canary if a.status == 200) / max(1, reached["canary"])
    high = spec.max_mean_retries
    results.append(_bound(PREFIX + "retries", "WARNING", retries, high, False, n))
    for mode in sorted({a.mode for a in canary if a.status == 200 and a.mode}):
        seconds = [a.seconds for a in canary if a.status == 200 and a.mode == mode]
        budget = budgets.get(mode, math.inf)
        name = f"{PREFIX}latencyP95/{mode}"
        results.append(_bound(name, "WARNING", p95(seconds), budget, False, len(seconds)))
    stable_ok = reached["stable"] >= spec.min_answered * n
    ours, theirs = adherence_scores(items, canary), adherence_scores(items, stable)
    results.append(_adherence(ours, theirs if stable_ok else [], spec.quality_tolerance))
    mine, its = diversity(items, canary), diversity(items, stable) if stable_ok else None
    full = PREFIX + "diversity"
    if mine is None or its is None:
        message = f"{full}: no valid {'stable' if mine is not None else 'canary'} answers"
        results.append(CheckResult(full, "INCONCLUSIVE", mine, None, message, n, its))
    else:
        floor = its - spec.quality_tolerance
        results.append(_bound(full, "NO-GO", mine, floor, True, n, its))
    return decide(CHECKS, results, reached["canary"], 1)


def _adherence(ours: list[float], theirs: list[float], tolerance: float) -> CheckResult:
    """NO-GO only when the canary's adherence is below stable's by more than ``tolerance``
    at CONFIDENCE: a small model follows a prompt now and then, and two dozen prompts
    differ by chance by as much as the tolerance (0.21 against 0.44 in a demo run of one
    model against itself)."""
    name = PREFIX + "adherence"
    if not ours or not theirs:
        message = f"{name}: no valid {'stable' if ours else 'canary'} answers to score"
        return CheckResult(name, "INCONCLUSIVE", message=message)
    mine, its = sum(ours) / len(ours), sum(theirs) / len(theirs)
    low, _ = difference_bounds(sum(theirs), len(theirs), sum(ours), len(ours), CONFIDENCE)
    floor = its - tolerance
    if low <= tolerance:
        return CheckResult(name, "GO", mine, floor, "", len(ours), its)
    message = (
        f"{name} {mine:.3g} below stable's {its:.3g} by more than {tolerance:g} at {CONFIDENCE:.0%}"
    )
    return CheckResult(name, "NO-GO", mine, floor, message, len(ours), its)


def _bound(
    name: str,
    severity: Severity,
    value: float,
    limit: float,
    is_min: bool,
    sample: int,
    stable: float | None = None,
) -> CheckResult:
    failed = value < limit if is_min else value > limit
    if not failed:
        return CheckResult(name, "GO", value, limit, "", sample, stable)
    sign = "<" if is_min else ">"
    versus = "" if stable is None else f" (stable {stable:.3g})"
    message = f"{name} {value:.3g} {sign} {limit:.3g}{versus}"
    return CheckResult(name, severity, value, limit, message, sample, stable)
