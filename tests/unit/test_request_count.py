"""The operator's count of its requests to the apiserver stays one series per verb."""

from __future__ import annotations

from typing import Any

from kubernetes import client

from fragrance_operator.adapters import kubernetes, metrics


def _count(verb: str) -> float:
    value = metrics.REGISTRY.get_sample_value("fragrance_apiserver_requests_total", {"verb": verb})
    return value or 0.0


def test_requests_are_counted_by_verb_not_by_url() -> None:
    api = client.ApiClient(client.Configuration())
    sent: list[tuple[Any, ...]] = []
    api.call_api = lambda *args, **kwargs: sent.append(args)  # type: ignore[method-assign,assignment,func-returns-value]
    kubernetes._count_requests(api)
    before = _count("PATCH")
    url = "https://10.0.0.1/apis/fragrance.ai/v1alpha1/namespaces/a/fragrancereleases/b/status"
    api.call_api("PATCH", url, _request_timeout=None)
    api.call_api(url, "PATCH")  # an order the client may change to: still one series
    assert sent == [("PATCH", url), (url, "PATCH")]
    assert _count("PATCH") == before + 1
    assert _count("other") >= 1
    assert _count(url) == 0
