"""Leader election on a coordination.k8s.io Lease: two operator replicas never both act.

kopf has no leader election of its own (its peering needs extra CRDs and only pauses lower
priorities), so this follows client-go's leaderelection: the holder renews the Lease every
third of its duration; another replica takes it over only once it has expired; every write
carries the resourceVersion it read, so of two candidates exactly one wins. A replica that
cannot renew before its own deadline stops acting at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import structlog
from kubernetes import client
from kubernetes.client.exceptions import ApiException

log = structlog.get_logger("fragrance.leadership")
Step = Literal["renew", "acquire", "standby"]


@dataclass(frozen=True)
class LeaseView:
    holder: str | None
    renewed_at: float | None
    duration: float


def next_step(lease: LeaseView | None, me: str, now: float) -> Step:
    """Pure: what a candidate does with the Lease it just read."""
    if lease is None or lease.holder is None:
        return "acquire"
    if lease.holder == me:
        return "renew"
    if lease.renewed_at is None or lease.renewed_at + lease.duration < now:
        return "acquire"
    return "standby"


def identity() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def _micro_time(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


class LeaderElector:
    def __init__(
        self,
        api: client.ApiClient,
        namespace: str,
        name: str,
        duration: float = 15.0,
        on_lead: Callable[[], None] = lambda: None,
    ) -> None:
        """``on_lead``: called when this replica starts leading (before its first tick)."""
        self.leases = client.CoordinationV1Api(api)
        self.namespace, self.name, self.duration = namespace, name, duration
        self.on_lead = on_lead
        self.me = identity()
        self._deadline = 0.0  # leadership is valid until then, without a successful renew

    @property
    def is_leader(self) -> bool:
        return time.monotonic() < self._deadline

    def _read(self) -> tuple[client.V1Lease | None, LeaseView | None]:
        try:
            lease = self.leases.read_namespaced_lease(self.name, self.namespace)
        except ApiException as error:
            if error.status == 404:
                return None, None
            raise
        spec = lease.spec or client.V1LeaseSpec()
        renewed = spec.renew_time.timestamp() if spec.renew_time else None
        view = LeaseView(spec.holder_identity, renewed, float(spec.lease_duration_seconds or 0))
        return lease, view

    def try_once(self) -> bool:
        """One round: renew or acquire if allowed. True while this replica leads."""
        started = time.monotonic()
        was = self.is_leader
        lease, view = self._read()
        step = next_step(view, self.me, time.time())
        if step == "standby":
            self._deadline = 0.0
            return False
        now = _micro_time(time.time())
        held = lease.spec if lease is not None and lease.spec is not None else None
        transitions = held.lease_transitions or 0 if held else 0
        spec = client.V1LeaseSpec(
            holder_identity=self.me,
            lease_duration_seconds=int(self.duration),
            renew_time=now,
            acquire_time=now if step == "acquire" or not held else held.acquire_time,
            lease_transitions=transitions + 1 if step == "acquire" and held else transitions,
        )
        try:
            if lease is None:
                self.leases.create_namespaced_lease(
                    self.namespace,
                    client.V1Lease(metadata=client.V1ObjectMeta(name=self.name), spec=spec),
                )
            else:
                lease.spec = spec
                self.leases.replace_namespaced_lease(self.name, self.namespace, lease)
        except ApiException as error:
            if error.status in (409, 422):  # another candidate wrote first
                self._deadline = 0.0
                return False
            raise
        if step == "acquire":
            log.info("leader", identity=self.me, lease=f"{self.namespace}/{self.name}")
        if not was:
            self.on_lead()
        self._deadline = started + self.duration * 2 / 3
        return True

    async def run(self) -> None:
        while True:
            try:
                was = self.is_leader
                leads = await asyncio.to_thread(self.try_once)
                if was and not leads:
                    log.warning("lost leadership", identity=self.me)
            except Exception as error:  # the API may be briefly unreachable: keep trying
                log.warning("lease round failed", error=str(error))
            await asyncio.sleep(self.duration / 3)

    def release(self) -> None:
        """Hand the Lease over at once on a clean shutdown."""
        if not self.is_leader:
            return
        self._deadline = 0.0
        lease, _ = self._read()
        if lease is not None and lease.spec is not None and lease.spec.holder_identity == self.me:
            lease.spec.holder_identity = None
            with contextlib.suppress(ApiException):
                self.leases.replace_namespaced_lease(self.name, self.namespace, lease)
