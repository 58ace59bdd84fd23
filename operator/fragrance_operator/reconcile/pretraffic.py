"""The evaluation before traffic: the evaluation set asked of the canary and the stable
directly (past the traffic split), both at once, then scored."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

import yaml
from pydantic import TypeAdapter, ValidationError

from fragrance_api.base import parse_duration
from fragrance_api.evaluation import EvaluationPrompt, EvaluationSpec
from fragrance_api.release import FragranceReleaseSpec
from fragrance_operator.adapters.briefs import ask_all
from fragrance_operator.adapters.kubernetes import Kube
from fragrance_operator.canary.checks import latency_budgets
from fragrance_operator.canary.eval_set import DEFAULT_SET
from fragrance_operator.canary.gate import CheckResult, Verdict
from fragrance_operator.canary.quality import Answer, score
from fragrance_operator.canary.status import Evaluated

_PROMPTS = TypeAdapter(list[EvaluationPrompt])


class Endpoints(Protocol):
    def endpoints(self, release: dict[str, Any]) -> dict[str, str] | None: ...


def evaluate_before_traffic(
    kube: Kube, raw: dict[str, Any], spec: FragranceReleaseSpec, workloads: Endpoints, version: str
) -> Evaluated:
    started = time.perf_counter()
    settings = spec.canary.evaluation
    items, problem = prompts(kube, raw["metadata"]["namespace"], settings)
    urls = None if problem else workloads.endpoints(raw)
    if problem or urls is None:
        why = problem or "the tracks' addresses are not known yet"
        verdict = Verdict("INCONCLUSIVE", (CheckResult("evaluation", "INCONCLUSIVE", message=why),),
                          None, why)  # fmt: skip
        return Evaluated(version, verdict, time.perf_counter() - started)
    verdict = evaluate_set(urls, items, settings, latency_budgets(spec))
    return Evaluated(version, verdict, time.perf_counter() - started)


def evaluate_set(
    urls: dict[str, str],
    items: list[EvaluationPrompt],
    settings: EvaluationSpec,
    budgets: dict[str, float],
) -> Verdict:
    """``items`` asked of both tracks at once (``urls``: each track's brief URL), scored."""
    timeout = parse_duration(settings.timeout)

    def ask(track: str) -> list[Answer]:
        return ask_all(urls[track], items, timeout, settings.concurrency)

    with ThreadPoolExecutor(2, thread_name_prefix="evaluation-track") as pool:
        canary, stable = pool.map(ask, ("canary", "stable"))
    return score(items, canary, stable, settings, budgets)


def prompts(
    kube: Kube, namespace: str, settings: EvaluationSpec
) -> tuple[list[EvaluationPrompt], str]:
    """The evaluation set, and what is wrong with it ('' when nothing)."""
    ref = settings.config_map_ref
    if ref is None:
        return list(settings.prompts or DEFAULT_SET), ""
    where = f"evaluation.configMapRef {ref.name}/{ref.key}"
    found = kube.get("v1", "ConfigMap", namespace, ref.name)
    text = ((found or {}).get("data") or {}).get(ref.key)
    if text is None:
        return [], f"{where}: no such ConfigMap or key"
    try:
        items = _PROMPTS.validate_python(yaml.safe_load(text))
    except yaml.YAMLError as error:
        return [], f"{where}: not YAML: {str(error)[:200]}"
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        return [], f"{where}: [{field}]: {first['msg']}"
    if not items:
        return [], f"{where}: the list is empty"
    return items, ""
