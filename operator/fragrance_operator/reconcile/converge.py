"""Converge the world to a decided rollout: the traffic weight first, then the workloads."""

from __future__ import annotations

import time
from typing import Any

import kopf

from fragrance_api.release import FragranceReleaseSpec
from fragrance_operator.adapters import crash_points, metrics
from fragrance_operator.canary.capacity import Capacity
from fragrance_operator.canary.machine import Rollout
from fragrance_operator.drivers.traffic import TrafficError
from fragrance_operator.reconcile.observe import Traffic, Workloads


def converge(
    body: kopf.Body,
    raw: dict[str, Any],
    spec: FragranceReleaseSpec,
    r: Rollout,
    workloads: Workloads,
    traffic: Traffic,
    bound: Any,
    decided: float | None,
    capacity: Capacity | None,
    replicas: int,
) -> bool:
    """True when the data plane carries ``r.weight``. ``decided``: when the gate decided a
    weight change (perf_counter), timed to the weight written (the benchmark's figure)."""
    # Traffic first: weight 0 must land before the canary goes away.
    in_place = True
    try:
        traffic.set_weight(raw, spec, r.weight, r.mirror)
        if decided is not None:
            cause = "rollback" if r.weight == 0 else "advance"
            metrics.WEIGHT_CHANGE_SECONDS.labels(cause).observe(time.perf_counter() - decided)
    except TrafficError as error:
        in_place = False
        kopf.warn(body, reason="TrafficNotSet", message=str(error))
        bound.warning("traffic not set", error=str(error))
    if in_place and r.weight == 0 and r.phase in ("RolledBack", "Failed"):
        crash_points.reached("mid-rollback")
    workloads.converge(raw, spec, r, capacity, replicas)
    if r.promoting:
        crash_points.reached("mid-promotion")
    return in_place
