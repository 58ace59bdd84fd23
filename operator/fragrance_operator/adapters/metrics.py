"""The operator's own Prometheus metrics (served on FRAGRANCE_METRICS_PORT, default 8080)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from fragrance_operator.canary.gate import Verdict
from fragrance_operator.canary.machine import Decision, Rollout

PHASES = ("Pending", "Progressing", "Paused", "Succeeded", "RolledBack", "Failed")
DECISIONS: dict[Decision, int] = {"GO": 0, "WARNING": 1, "NO-GO": 2, "INCONCLUSIVE": 3}

REGISTRY = CollectorRegistry()
_LABELS = ["namespace", "release"]
PHASE = Gauge(
    "fragrance_release_phase",
    "1 for the phase the release is in, 0 for the others.",
    [*_LABELS, "phase"],
    registry=REGISTRY,
)
WEIGHT = Gauge(
    "fragrance_canary_weight", "Percent of traffic sent to the canary.", _LABELS, registry=REGISTRY
)
STEP = Gauge(
    "fragrance_canary_step", "Index of the current canary step.", _LABELS, registry=REGISTRY
)
DECISION = Gauge(
    "fragrance_gate_decision",
    "Last gate decision: 0 GO, 1 WARNING, 2 NO-GO, 3 INCONCLUSIVE.",
    _LABELS,
    registry=REGISTRY,
)
GATE_SECONDS = Histogram(
    "fragrance_gate_duration_seconds",
    "Time to evaluate a gate (all queries, in parallel).",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=REGISTRY,
)
TRANSITIONS = Counter(
    "fragrance_transitions",
    "Rollout transitions by reason.",
    [*_LABELS, "reason"],
    registry=REGISTRY,
)
WEIGHT_CHANGE_SECONDS = Histogram(
    "fragrance_weight_change_seconds",
    "From a gate decision to the new weight written to the traffic provider.",
    ["cause"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
    registry=REGISTRY,
)
SCALE_UP_BLOCKED = Gauge(
    "fragrance_scale_up_blocked",
    "1 while a GPU scale-up of the release waits for VRAM headroom.",
    _LABELS,
    registry=REGISTRY,
)
VRAM_HEADROOM = Gauge(
    "fragrance_vram_headroom",
    "Last measured free/total VRAM on the release's GPUs (absent when unknown).",
    _LABELS,
    registry=REGISTRY,
)
DESIRED_REPLICAS = Gauge(
    "fragrance_desired_replicas",
    "Stable GPU worker replicas the operator aims for (the autoscaler's size, or the spec's).",
    _LABELS,
    registry=REGISTRY,
)
API_REQUESTS = Counter(
    "fragrance_apiserver_requests",
    "Requests the operator's own client sent to the apiserver (kopf's watches and events aside).",
    ["verb"],
    registry=REGISTRY,
)
NOTIFICATIONS = Counter(
    "fragrance_notifications",
    "Notifications by target and result: delivered, or failed once every attempt failed.",
    [*_LABELS, "target", "result"],
    registry=REGISTRY,
)
NOTIFICATION_RETRIES = Counter(
    "fragrance_notification_retries",
    "Delivery attempts that failed and were tried again.",
    [*_LABELS, "target"],
    registry=REGISTRY,
)
RECONCILE_ERRORS = Counter(
    "fragrance_reconcile_errors", "Reconcile ticks that raised.", _LABELS, registry=REGISTRY
)


class GateChecks(Collector):
    """Each release's last gate evaluation, one series per check and figure.

    Built at scrape time from the verdicts kept here, not as gauge children: a thousand
    releases with twenty checks and four figures each would be 80,000 child objects."""

    FIGURES = (
        ("value", "Measured value of each check at the last gate evaluation."),
        ("threshold", "Threshold each check's value was judged against."),
        ("stable_value", "Stable's value in the same window, for checks compared with it."),
        ("sample", "Canary requests each check's value is over, where the check counts them."),
        ("result", "Each check's verdict: 0 GO, 1 WARNING, 2 NO-GO, 3 INCONCLUSIVE."),
    )

    def __init__(self) -> None:
        self.verdicts: dict[tuple[str, str], Verdict] = {}

    def collect(self) -> Iterator[GaugeMetricFamily]:
        families = {
            figure: GaugeMetricFamily(
                f"fragrance_gate_check_{figure}", text, labels=[*_LABELS, "check"]
            )
            for figure, text in self.FIGURES
        }
        for (namespace, release), verdict in list(self.verdicts.items()):
            for check in verdict.checks:
                labels = [namespace, release, check.name]
                figures = {
                    "value": check.value,
                    "threshold": check.threshold,
                    "stable_value": check.stable_value,
                    "sample": check.sample,
                    "result": DECISIONS[check.result],
                }
                for figure, value in figures.items():
                    if value is not None:
                        families[figure].add_metric(labels, value)
        yield from families.values()


GATE_CHECKS = GateChecks()
REGISTRY.register(GATE_CHECKS)


def observe(namespace: str, release: str, rollout: Rollout) -> None:
    for phase in PHASES:
        PHASE.labels(namespace, release, phase).set(1 if rollout.phase == phase else 0)
    WEIGHT.labels(namespace, release).set(rollout.weight)
    STEP.labels(namespace, release).set(rollout.step)
    if rollout.last_decision is not None:
        DECISION.labels(namespace, release).set(DECISIONS[rollout.last_decision])


def forget(namespace: str, release: str) -> None:
    """Drop a deleted release's series."""
    GATE_CHECKS.verdicts.pop((namespace, release), None)
    for phase in PHASES:
        with contextlib.suppress(KeyError):
            PHASE.remove(namespace, release, phase)
    for gauge in (WEIGHT, STEP, DECISION, SCALE_UP_BLOCKED, VRAM_HEADROOM, DESIRED_REPLICAS):
        with contextlib.suppress(KeyError):
            gauge.remove(namespace, release)


_served: list[int] = []


def serve(port: int) -> None:
    """Start the endpoint once per process (tests run several operators in one)."""
    if not _served:
        start_http_server(port, registry=REGISTRY)
        _served.append(port)
