"""GPU memory per device from NVML (nvidia-ml-py). No GPU, no driver: no readings, never fakes."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Memory:
    index: int
    used: int  # bytes
    total: int


@functools.cache
def _nvml() -> Any:
    try:
        import pynvml  # type: ignore[import-untyped]

        pynvml.nvmlInit()
    except Exception:  # no library, no driver, no device: all mean "no GPU here"
        return None
    return pynvml


def memory() -> list[Memory]:
    nvml = _nvml()
    if nvml is None:
        return []
    readings = []
    for index in range(nvml.nvmlDeviceGetCount()):
        info = nvml.nvmlDeviceGetMemoryInfo(nvml.nvmlDeviceGetHandleByIndex(index))
        readings.append(Memory(index, int(info.used), int(info.total)))
    return readings


def headroom(readings: list[Memory]) -> float | None:
    """The lowest free/total over the devices (the operator's VRAM rule), None without any."""
    if not readings:
        return None
    return min(1 - r.used / r.total for r in readings if r.total) if readings else None
