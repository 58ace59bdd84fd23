"""One gate evaluation: the release's checks, queried in parallel, judged and decided."""

from __future__ import annotations

import time
from dataclasses import dataclass

from fragrance_api.release import FragranceReleaseSpec
from fragrance_operator.adapters.prometheus import Prometheus
from fragrance_operator.canary.checks import gate_plan
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
    queries = [plan.requests_query, *(check.query for check in plan.checks)]
    answers = prometheus.query_all(queries)
    requests_answer, check_answers = answers[0], answers[1:]
    results: list[CheckResult] = []
    for check, answer in zip(plan.checks, check_answers, strict=True):
        results += judge(check, answer.samples, answer.error)
    requests = None
    if requests_answer.samples:
        requests = requests_answer.samples[0][1]
    verdict = decide(plan.checks, results, requests, plan.min_requests)
    return Evaluation(verdict, time.perf_counter() - started, at)
