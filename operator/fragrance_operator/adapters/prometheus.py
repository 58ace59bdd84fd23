"""Instant PromQL queries through prometheus-api-client, many at once."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import requests
from prometheus_api_client import PrometheusConnect
from requests.adapters import HTTPAdapter

from fragrance_operator.canary.gate import Sample


@dataclass(frozen=True)
class QueryResult:
    samples: list[Sample] | None  # None: the query failed
    error: str = ""


class Prometheus:
    def __init__(self, url: str, timeout: float = 5.0, parallelism: int = 16) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        session = requests.Session()
        # One pooled connection per worker; no retries: an unreachable Prometheus must make
        # the gate INCONCLUSIVE quickly, and the next analysis interval is the retry.
        adapter = HTTPAdapter(pool_maxsize=parallelism, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        self._session = session
        self._client = PrometheusConnect(
            url=self.url,
            disable_ssl=True,
            session=session,
            timeout=timeout,
        )
        # The client mounts its own adapter (pool of 10, three retries with backoff) on the
        # URL, which outranks a scheme-wide mount: put ours back on the same prefix.
        session.mount(self.url, adapter)
        self._pool = ThreadPoolExecutor(max_workers=parallelism, thread_name_prefix="promql")

    def query(self, promql: str) -> QueryResult:
        try:
            raw = self._client.custom_query(promql, params={"timeout": f"{self.timeout:g}s"})
        except Exception as error:  # connection refused, timeout, bad PromQL (HTTP 400)
            return QueryResult(None, f"{type(error).__name__}: {error}"[:300])
        samples: list[Sample] = []
        for series in raw:
            if "value" in series:
                samples.append((series.get("metric", {}), float(series["value"][1])))
        return QueryResult(samples)

    def query_all(self, queries: Sequence[str]) -> list[QueryResult]:
        """Run every query in parallel; results in the order of ``queries``."""
        return list(self._pool.map(self.query, queries))

    def healthy(self) -> bool:
        """Prometheus's own readiness endpoint (the client's check asks for ``/``, the web
        UI, which a Prometheus built without its assets or behind a proxy does not serve)."""
        try:
            answer = self._session.get(f"{self.url}/-/ready", timeout=self.timeout)
        except requests.RequestException:
            return False
        return answer.status_code == 200

    def close(self) -> None:
        self._pool.shutdown(wait=False)
