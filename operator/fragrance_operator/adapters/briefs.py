"""Brief requests sent straight to one track's serving (the evaluation before traffic)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import httpx

from fragrance_api.evaluation import EvaluationPrompt
from fragrance_operator.canary.quality import Answer


def ask_all(
    url: str, prompts: Sequence[EvaluationPrompt], timeout: float, concurrency: int
) -> list[Answer]:
    """Each prompt's answer from ``url`` (``.../v1/brief``), in the order of ``prompts``."""
    with (
        httpx.Client(timeout=timeout) as client,
        ThreadPoolExecutor(concurrency, thread_name_prefix="evaluation") as pool,
    ):
        return list(pool.map(lambda item: _ask(client, url, item), prompts))


def _ask(client: httpx.Client, url: str, item: EvaluationPrompt) -> Answer:
    body = {"prompt": item.prompt, **({"mode": item.mode} if item.mode else {})}
    started = time.perf_counter()
    try:
        answer = client.post(url, json=body)
    except httpx.HTTPError:
        return Answer(0, seconds=time.perf_counter() - started)
    seconds = time.perf_counter() - started
    if answer.status_code != 200:
        return Answer(answer.status_code, seconds=seconds)
    try:
        got = answer.json()
        return Answer(
            200,
            got["brief"],
            bool(got.get("fallback")),
            int(got.get("retries", 0)),
            seconds,
            str(got.get("mode", "")),
        )
    except (ValueError, KeyError, TypeError):
        return Answer(200, None, seconds=seconds)  # a 200 without a brief: not a valid one
