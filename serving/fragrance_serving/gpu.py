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
