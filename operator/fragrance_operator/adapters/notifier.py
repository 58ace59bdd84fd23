"""Delivers notices to their targets in the background: never on a reconcile's path.

Each (release, target) pair has its own queue and worker task, so notices reach a receiver in
the order they happened and a receiver that is down delays only its own notices. Each
delivery is retried with exponential backoff (tenacity); a notice that failed every attempt
is dropped, counted, and shown in the release's ``NotificationsDelivered`` condition. Notices
still queued when the operator stops are lost: they announce, they do not decide.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections import deque
from dataclasses import dataclass

import httpx
import structlog
from kubernetes.client.exceptions import ApiException
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential

from fragrance_api.notifications import NotificationTarget
from fragrance_operator.adapters import metrics
from fragrance_operator.adapters.kubernetes import Kube
from fragrance_operator.builders.notifications import (
    Notice,
    build_cloud_event,
    build_slack_message,
)
from fragrance_operator.canary.delivery import Delivery

log = structlog.get_logger("fragrance.notify")
QUEUE_LIMIT = 100  # per (release, target): the oldest goes first when a receiver lags
Key = tuple[str, str, str]  # (namespace, release, target)


class DeliveryError(RuntimeError):
    """A delivery that failed; ``transient`` ones are tried again."""

    def __init__(self, message: str, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


@dataclass(frozen=True)
class Attempts:
    attempts: int = 6
    backoff: float = 1.0  # seconds before the first retry, doubled each time
    max_backoff: float = 30.0
    timeout: float = 5.0  # per request


class Notifier:
    def __init__(self, kube: Kube, attempts: Attempts | None = None) -> None:
        self.kube, self.attempts = kube, attempts or Attempts()
        self._queues: dict[Key, deque[tuple[Notice, NotificationTarget]]] = {}
        self._workers: dict[Key, asyncio.Task[None]] = {}
        self._last: dict[Key, tuple[bool, str]] = {}  # (delivered, message) per target
        self._client: httpx.AsyncClient | None = None

    def send(self, notice: Notice, targets: list[NotificationTarget]) -> None:
        """Queue ``notice`` for each target subscribed to its trigger; returns at once."""
        for target in targets:
            if notice.trigger not in target.triggers:
                continue
            key = (notice.namespace, notice.release, target.name)
            queue = self._queues.setdefault(key, deque(maxlen=QUEUE_LIMIT))
            if len(queue) == QUEUE_LIMIT:
                metrics.NOTIFICATIONS.labels(*key, "dropped").inc()
            queue.append((notice, target))
            worker = self._workers.get(key)
            if worker is None or worker.done():
                self._workers[key] = asyncio.get_running_loop().create_task(self._drain(key))

    def delivery(self, namespace: str, release: str) -> Delivery | None:
        """The condition's inputs: None until a notice of this release was tried."""
        mine = {k[2]: v for k, v in self._last.items() if k[:2] == (namespace, release)}
        if not mine:
            return None
        failed = {target: message for target, (ok, message) in sorted(mine.items()) if not ok}
        if failed:
            text = "; ".join(f"{target}: {message}" for target, message in failed.items())
            return Delivery(False, "DeliveryFailed", text[:1000])
        return Delivery(True, "Delivered", f"last notices delivered to {', '.join(sorted(mine))}")

    def idle(self) -> bool:
        """Nothing queued or in flight."""
        return all(worker.done() for worker in self._workers.values())

    def forget(self, namespace: str, release: str) -> None:
        """A deleted release: its pending notices go, its workers stop."""
        known = {*self._last, *self._queues, *self._workers}
        for key in [k for k in known if k[:2] == (namespace, release)]:
            self._last.pop(key, None)
            self._queues.pop(key, None)
            worker = self._workers.pop(key, None)
            if worker is not None:
                worker.cancel()

    async def close(self) -> None:
        for worker in self._workers.values():
            worker.cancel()
        if self._client is not None:
            await self._client.aclose()

    async def _drain(self, key: Key) -> None:
        queue = self._queues.get(key)
        while queue:
            notice, target = queue.popleft()
            started = time.monotonic()
            try:
                await self._deliver(key, notice, target)
            except Exception as error:  # a notice never takes its worker down
                why = str(error) if isinstance(error, DeliveryError) else type(error).__name__
                metrics.NOTIFICATIONS.labels(*key, "failed").inc()
                self._last[key] = (False, f"{notice.reason} not delivered: {why}")
                log.warning("notification failed", release=key[1], target=key[2], why=why)
            else:
                metrics.NOTIFICATIONS.labels(*key, "delivered").inc()
                self._last[key] = (True, "")
                log.info(
                    "notification delivered",
                    release=key[1],
                    target=key[2],
                    reason=notice.reason,
                    seconds=round(time.monotonic() - started, 3),
                )

    async def _deliver(self, key: Key, notice: Notice, target: NotificationTarget) -> None:
        settings = self.attempts
        retrying = AsyncRetrying(
            stop=stop_after_attempt(settings.attempts),
            wait=wait_exponential(multiplier=settings.backoff, max=settings.max_backoff),
            retry=retry_if_exception(lambda e: isinstance(e, DeliveryError) and e.transient),
            before_sleep=lambda _: metrics.NOTIFICATION_RETRIES.labels(*key).inc(),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                url = await asyncio.to_thread(self._url, notice.namespace, target)
                await self._post(url, target.type, notice)

    def _url(self, namespace: str, target: NotificationTarget) -> str:
        """Read at each delivery: a rotated Secret takes effect without a restart."""
        ref = target.secret_ref
        try:
            secret = self.kube.get("v1", "Secret", namespace, ref.name)
        except ApiException as error:
            if error.status == 403:
                raise DeliveryError(
                    f"the operator may not read Secret {ref.name} (the chart grants only the "
                    "names in notifications.secretNames)",
                    transient=False,
                ) from None
            raise DeliveryError(f"reading Secret {ref.name}: HTTP {error.status}", True) from None
        if secret is None:
            # Transient: the Secret may be applied after the release (GitOps ordering).
            raise DeliveryError(f"Secret {ref.name} not found", transient=True)
        encoded = (secret.get("data") or {}).get(ref.key)
        if not encoded:
            raise DeliveryError(f"Secret {ref.name} has no key {ref.key}", transient=False)
        url = base64.b64decode(encoded).decode().strip()
        if not url.startswith(("http://", "https://")):
            raise DeliveryError(
                f"Secret {ref.name} key {ref.key} is not an http(s) URL", transient=False
            )
        return url

    async def _post(self, url: str, kind: str, notice: Notice) -> None:
        if kind == "slack":
            body, content_type = build_slack_message(notice), "application/json"
        else:
            body, content_type = build_cloud_event(notice), "application/cloudevents+json"
        client = self._client
        if client is None:
            client = self._client = httpx.AsyncClient(timeout=self.attempts.timeout)
        try:
            answer = await client.post(url, json=body, headers={"Content-Type": content_type})
        except httpx.HTTPError as error:
            # The URL is a credential: the error names its class, never the address.
            raise DeliveryError(f"{type(error).__name__}", transient=True) from None
        if answer.is_success:
            return
        transient = answer.status_code == 429 or answer.status_code >= 500
        raise DeliveryError(f"HTTP {answer.status_code}", transient=transient)
