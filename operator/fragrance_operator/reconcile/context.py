"""What the release ticks share: the clients, and the caches that only pace work."""

from __future__ import annotations

from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field

from fragrance_operator.adapters.kubernetes import Kube
from fragrance_operator.adapters.notifier import Notifier
from fragrance_operator.adapters.prometheus import Prometheus
from fragrance_operator.drivers.deployments import WrittenCache
from fragrance_operator.drivers.ray_serve import RayServeDriver
from fragrance_operator.drivers.records import DecisionLog

Key = tuple[str, str]  # (namespace, name)


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
    # Gates wait on Prometheus in threads of their own: a burst of gates due at once (every
    # release rolled out together) must not hold the threads that write weights and status.
    gates: Executor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=16, thread_name_prefix="gate")
    )

    def forget(self, key: Key) -> None:
        self.autoscale_due.pop(key, None)
        self.quiet.pop(key, None)
        self.notifier.forget(*key)
        self.records.forget(*key)
