"""What the release ticks share: the clients, and the caches that only pace work."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from fragrance_operator.adapters.kubernetes import Kube
from fragrance_operator.adapters.notifier import Notifier
from fragrance_operator.adapters.prometheus import Prometheus
from fragrance_operator.drivers.deployments import DeploymentLookup
from fragrance_operator.drivers.ray_serve import RayServeDriver
from fragrance_operator.drivers.records import DecisionLog
from fragrance_operator.drivers.traffic import RouteLookup
from fragrance_operator.drivers.written import WrittenCache

Key = tuple[str, str]  # (namespace, name)
#: (namespace, name) -> a TuningPolicy's spec as last seen by a watch, or None.
PolicyLookup = Callable[[str, str], dict[str, Any] | None]


@dataclass(frozen=True)
class Watched:
    """What the operator's watches keep, read there instead of a GET per release per tick
    (None: read from the API)."""

    deployments: DeploymentLookup | None = None
    policies: PolicyLookup | None = None
    routes: RouteLookup | None = None
    services: DeploymentLookup | None = None  # the managed Services


@dataclass
class Context:
    kube: Kube
    prometheus: Prometheus
    notifier: Notifier
    records: DecisionLog
    written: WrittenCache = field(default_factory=WrittenCache)
    ray: RayServeDriver | None = None  # the rayServe provider, when configured
    autoscale_due: dict[Key, float] = field(default_factory=dict)
    # (resourceVersion, until): a release left as it was needs no tick before ``until``.
    quiet: dict[Key, tuple[str, float]] = field(default_factory=dict)
    # The resourceVersions this operator wrote over last: a view at one of them is stale.
    superseded: dict[Key, set[str]] = field(default_factory=dict)
    # Gates wait on Prometheus in threads of their own: a burst of gates due at once (every
    # release rolled out together) must not hold the threads that write weights and status.
    gates: Executor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=16, thread_name_prefix="gate")
    )
    # Ticks deciding at once: as many as the threads they wait on (32 for writes, 16 gates).
    admitted: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(48))

    def forget(self, key: Key) -> None:
        self.autoscale_due.pop(key, None)
        self.quiet.pop(key, None)
        self.superseded.pop(key, None)
        self.notifier.forget(*key)
        self.records.forget(*key)
