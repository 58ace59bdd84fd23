"""Every query of the Grafana dashboard is PromQL a real Prometheus accepts."""

from __future__ import annotations

import json

import httpx

from tests.helpers import ROOT
from tests.prometheus_server import PrometheusServer

DASHBOARD = ROOT / "charts" / "fragrance-operator" / "files" / "dashboard.json"


def test_dashboard_queries_parse_in_prometheus(prometheus: PrometheusServer) -> None:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    titles = " ".join(p["title"] for p in panels).lower()
    for needed in ("cache hit rate", "gate decision", "canary weight", "vram", "ppo"):
        assert needed in titles
    for panel in panels:
        for target in panel["targets"]:
            answer = httpx.get(f"{prometheus.url}/api/v1/query", params={"query": target["expr"]})
            assert answer.status_code == 200, (panel["title"], answer.text)
            assert answer.json()["status"] == "success"
