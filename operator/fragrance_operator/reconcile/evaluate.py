"""One gate evaluation: the release's checks, queried in parallel, judged and decided."""

from __future__ import annotations

import time
from dataclasses import dataclass

from fragrance_api.release import FragranceReleaseSpec
from fragrance_operator.adapters.prometheus import Prometheus
from fragrance_operator.canary.checks import gate_plan
from fragrance_operator.canary.compare import judge_comparison
from fragrance_operator.canary.gate import CheckResult, Verdict, decide, judge


@dataclass(frozen=True)
class Evaluation:
    verdict: Verdict
    seconds: float
    at: float  # when the queries were sent: the end of the window they judged


def evaluate(
    prometheus: Prometheus,
    release: str,
    namespace: str,
    spec: FragranceReleaseSpec,
    track: str = "canary",
) -> Evaluation:
    started, at = time.perf_counter(), time.time()
    plan = gate_plan(release, namespace, spec, track)
    # One parallel batch: the request count, each check's value (and sample, where it has
    # one), each comparison's queries; read back in the same order.
    queries = [plan.requests_query]
    for check in plan.checks:
        queries += [check.query, *([check.sample_query] if check.sample_query else [])]
    for comparison in plan.comparisons:
        queries += comparison.queries
    # Checks share queries (each check's sample is often the request count): each once.
    unique = list(dict.fromkeys(queries))
    answered = dict(zip(unique, prometheus.query_all(unique), strict=True))
    answers = iter([answered[query] for query in queries])
    requests_answer = next(answers)
    results: list[CheckResult] = []
    for check in plan.checks:
        value = next(answers)
        sample = next(answers) if check.sample_query else None
        errors = " ".join(a.error for a in (value, sample) if a and a.error)
        results += judge(check, value.samples, errors, sample.samples if sample else None)
    for comparison in plan.comparisons:
        got = [next(answers) for _ in comparison.queries]
        errors = " ".join(a.error for a in got if a.error)
        results += judge_comparison(comparison, [a.samples for a in got], errors)
    requests = None
    if requests_answer.samples:
        requests = requests_answer.samples[0][1]
    verdict = decide([*plan.checks, *plan.comparisons], results, requests, plan.min_requests)
    return Evaluation(verdict, time.perf_counter() - started, at)
