"""The key scaling rule: no GPU scale-up while VRAM headroom is under the floor.

Headroom is free/total GPU memory on the GPUs the release's workers use, from the serving's
own nvidia-ml-py gauges or from NVIDIA's DCGM exporter; no reading at all is "unknown", which
blocks too (a gate never passes on missing data, and neither does a scale-up). Scale-down is
never blocked.
"""

from __future__ import annotations

from dataclasses import dataclass

from fragrance_api.release import FragranceReleaseSpec


@dataclass(frozen=True)
class Capacity:
    headroom: float | None  # None: no reading
    minimum: float

    @property
    def blocked(self) -> bool:
        return self.headroom is None or self.headroom < self.minimum

    @property
    def message(self) -> str:
        if self.headroom is None:
            return f"VRAM headroom unknown (no GPU memory series); floor {self.minimum:.0%}"
        relation = "<" if self.blocked else ">="
        return f"VRAM headroom {self.headroom:.0%} {relation} floor {self.minimum:.0%}"

    @property
    def reason(self) -> str:
        if self.headroom is None:
            return "HeadroomUnknown"
        return "LowVRAMHeadroom" if self.blocked else "HeadroomOK"


def headroom_query(
    release: str, namespace: str, track: str | None = None, ray_service: str | None = None
) -> str:
    """The lowest free/total VRAM over the release's GPUs (one track's, or both): the
    serving's NVML gauges, else NVIDIA's DCGM exporter. The one reading of headroom: the
    scale-up floor, the admission webhook, the gate's check and preflight all use it.

    On a KubeRay RayService both versions share the Ray pods (named after the RayService's
    RayCluster): DCGM is read over those, whichever the track."""
    serving = f'release="{release}"' + (f',track="{track}"' if track else "")
    pods = f"{release}-{track}-.*" if track else f"{release}-(stable|canary)-.*"
    if ray_service:
        pods = f"{ray_service}-.*"
    dcgm = f'namespace="{namespace}",pod=~"{pods}"'
    return (
        f"min(1 - gpu_memory_used_bytes{{{serving}}} / gpu_memory_total_bytes{{{serving}}})"
        f" or min(DCGM_FI_DEV_FB_FREE{{{dcgm}}} / "
        f"(DCGM_FI_DEV_FB_FREE{{{dcgm}}} + DCGM_FI_DEV_FB_USED{{{dcgm}}}))"
    )


def ray_service(spec: FragranceReleaseSpec) -> str | None:
    """The KubeRay RayService the release's versions run in (None: its own Deployments)."""
    ray = spec.traffic.ray_serve
    return ray.ray_service if spec.traffic.provider == "rayServe" and ray else None


def allowed_replicas(desired: int, current: int | None, capacity: Capacity | None) -> int:
    """Replicas to write: an increase over a running workload waits while blocked.

    A workload that does not exist yet is created as asked: with no pods there is nothing
    on the GPUs to measure, and nothing already running to crash.
    """
    if current is None or desired <= current or capacity is None or not capacity.blocked:
        return desired
    return current
