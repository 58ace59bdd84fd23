"""Every series the operator queries is one the serving exports, under the same labels.

The gate, the autoscaler's signal, the VRAM floor and the tuning status are PromQL written
in the operator; the series are defined in the serving. A misspelt name or label on either
side would make a check read "no data" (INCONCLUSIVE) for ever: here it fails a test.
"""

from __future__ import annotations

import re

from prometheus_client import CollectorRegistry

from fragrance_api.release import FragranceReleaseSpec
from fragrance_operator.canary.capacity import headroom_query
from fragrance_operator.canary.checks import gate_plan, load_query
from fragrance_operator.tuning.verdict import queries
from fragrance_serving.learning.worker import LearnerMetrics
from fragrance_serving.metrics import ServingMetrics
from tests.helpers import release_manifest

SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}
SELECTOR = re.compile(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}")
#: NVIDIA's DCGM exporter's series: the VRAM floor's fallback, not the serving's own.
EXTERNAL = re.compile(r"^DCGM_")


def _exported(*registries: CollectorRegistry) -> dict[str, set[str]]:
    """Series name -> label names, as the serving's registries expose them."""
    series: dict[str, set[str]] = {}
    for registry in registries:
        for collector in list(registry._collector_to_names):
            for family in collector.describe():  # type: ignore[attr-defined]
                labels = set(
                    getattr(collector, "_labelnames", ()) or getattr(family, "_labelnames", ())
                )
                for suffix in SUFFIXES.get(family.type, ("",)):
                    extra = {"le"} if suffix == "_bucket" else set()
                    series[family.name + suffix] = labels | extra
    return series


def _queried() -> list[str]:
    spec = FragranceReleaseSpec.model_validate(release_manifest("r", "v2")["spec"])
    plan = gate_plan("r", "ns", spec)
    return [
        *(check.query for check in plan.checks),
        plan.requests_query,
        load_query("r", spec),
        headroom_query("r", "ns"),
        *queries(["r"]).values(),
    ]


def test_the_operator_queries_only_series_the_serving_exports_with_those_labels() -> None:
    exported = _exported(ServingMetrics("r", "canary").registry, LearnerMetrics("r", "c").registry)
    seen = 0
    for query in _queried():
        for name, selector in SELECTOR.findall(query):
            if EXTERNAL.match(name):
                continue
            assert name in exported, f"{name} (in {query}) is not a series the serving exports"
            labels = {m.group(1) for m in re.finditer(r"(\w+)\s*(?:=~|!=|!~|=)", selector)}
            assert labels <= exported[name], f"{name}: no label {labels - exported[name]}"
            seen += 1
    assert seen >= 20, "the queries were not read"
