"""Whether the platform the versions run on can take a canary now (a KubeRay RayService
that is Ready and not moving to a new RayCluster), as the status's ``ServingReady``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Serving:
    ready: bool
    reason: str
    message: str
