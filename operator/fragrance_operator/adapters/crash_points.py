"""Test-only crash points: the chaos tests arm one (``FRAGRANCE_CRASH_AT``) and the operator
SIGKILLs itself the first time it passes there, so a restart must repair exactly that moment.
Unarmed (the default, and always in production) each point is a comparison and nothing else.
"""

from __future__ import annotations

import os
import signal

import structlog

POINTS = (
    "after-status-write",  # a transition's status written, the world not yet converged
    "mid-promotion",  # stable rebuilt from the canary's spec, the canary still at 100%
    "mid-rollback",  # weight 0 written, the canary's workload not yet removed
    "consuming-action",  # a manual action applied in status, its annotation not yet removed
    "vram-hold",  # a GPU scale-up held by the VRAM floor, written as such
)
_armed: dict[str, str | None] = {}  # point → the event reason it waits for (None: any)
log = structlog.get_logger("fragrance.crash")


def arm(spec: str | None) -> None:
    """``spec``: ``POINT`` or ``POINT/Reason`` (e.g. ``after-status-write/StepAdvanced``)."""
    _armed.clear()
    if spec:
        point, _, reason = spec.partition("/")
        if point not in POINTS:
            raise ValueError(f"FRAGRANCE_CRASH_AT: {point!r} is not one of {', '.join(POINTS)}")
        _armed[point] = reason or None


def reached(point: str, *reasons: str) -> None:
    """Crash here if this point is armed (and, when it names a reason, one of ``reasons``)."""
    if point in _armed and _armed[point] in (None, *reasons):
        log.warning("crash point reached: killing the operator", point=point, reasons=reasons)
        os.kill(os.getpid(), signal.SIGKILL)
