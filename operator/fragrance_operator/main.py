"""kopf entry point: decorators only, each calling one handler module.

Run with ``fragrance operator`` or ``kopf run -m fragrance_operator.main``. Settings: every
``FRAGRANCE_*`` variable is a field of :class:`~fragrance_operator.settings.OperatorSettings`
(docs/operator-settings.md), read at start, except the ticks, read when this module is
imported (kopf fixes a timer's interval when it registers it). What the handlers share (the
settings, the clients, the leader elector) lives in kopf's memo.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import kopf

from fragrance_api.crd import GROUP, VERSION
from fragrance_operator.adapters import crash_points, metrics, watch_bodies
from fragrance_operator.adapters.kubernetes import Kube
from fragrance_operator.adapters.leadership import LeaderElector
from fragrance_operator.adapters.notifier import Attempts, Notifier
from fragrance_operator.adapters.prometheus import Prometheus
from fragrance_operator.adapters.ray_serve import ServeREST
from fragrance_operator.builders import objects
from fragrance_operator.drivers.ray_serve import RayServeDriver
from fragrance_operator.drivers.records import DecisionLog
from fragrance_operator.handlers import admission, release, tuning
from fragrance_operator.reconcile.context import Context
from fragrance_operator.settings import OperatorSettings, Ticks

TICKS = Ticks()
MANAGER = "fragrance-operator"
EXECUTOR_THREADS = 32


class _QuietTicks(logging.Filter):
    """Drop kopf's "Timer ... succeeded." line: one per policy per beat, saying nothing."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        return not (message.startswith("Timer ") and message.endswith(" succeeded."))


class _NoWebhook:
    """An admission "server" that serves nothing: the webhook is off unless configured.

    kopf stops with an error when admission handlers exist without a server, and handlers
    are registered once per process, whatever the configuration of each run.
    """

    async def __call__(self, fn: Any) -> AsyncIterator[Any]:
        await asyncio.Event().wait()
        yield  # never reached: an async generator that yields no client config


@kopf.on.login()
def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    # In a pod the ServiceAccount; elsewhere $KUBECONFIG as it is now (the client library
    # reads it once, at import).
    if os.environ.get("KUBERNETES_SERVICE_HOST"):  # set by the kubelet, not a setting
        return kopf.login_with_service_account(**kwargs)
    return kopf.login_with_kubeconfig(**kwargs)


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    # Our structural status has no room for kopf's own bookkeeping: keep it in annotations.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=GROUP)
    settings.posting.level = logging.INFO
    logging.getLogger("kopf.objects").addFilter(_QuietTicks())
    settings.watching.server_timeout = 60
    watch_bodies.install()  # before kopf's watchers start: they wait for startup handlers
    # kopf's default backoffs (1, 1, 2, 3, 5, 8, 13, 21 s) left the watches stale for up to
    # 21 s after an apiserver restart, and gave up after 54 s: retry at most 5 s apart,
    # for five minutes, so a restarted control plane is seen again within seconds.
    settings.networking.error_backoffs = [0.5, 1, 2, 3] + [5] * 60
    # Gate evaluations block a thread each while Prometheus answers: room for many releases.
    asyncio.get_running_loop().set_default_executor(
        ThreadPoolExecutor(max_workers=EXECUTOR_THREADS, thread_name_prefix="fragrance")
    )
    memo.settings = config = OperatorSettings()
    crash_points.arm(config.crash_at)
    kube = Kube()
    attempts = Attempts(
        config.notification_attempts,
        config.notification_backoff,
        timeout=config.notification_timeout,
    )
    memo.context = Context(
        kube=kube,
        prometheus=Prometheus(config.prometheus_url),
        notifier=Notifier(kube, attempts),
        records=DecisionLog(kube),
        ray=_ray_driver(config, kube),
    )
    memo.elector = LeaderElector(
        kube.api,
        config.lease_namespace,
        "fragrance-operator",
        config.lease_seconds,
        # Another replica may have written anything while this one was not leading.
        on_lead=memo.context.written.clear,
    )
    if config.webhook_port:
        # kopf serves the webhook and keeps a ValidatingWebhookConfiguration named after the
        # group pointing at it; TLS from the given files (the project's CA locally,
        # cert-manager in a cluster).
        settings.admission.server = kopf.WebhookServer(
            addr=config.webhook_addr,
            port=config.webhook_port,
            certfile=config.webhook_cert,
            pkeyfile=config.webhook_key,
            cafile=config.webhook_ca,
        )
        # In a cluster the chart owns the ValidatingWebhookConfiguration (a Service reference,
        # cert-manager's CA injected); locally kopf keeps one pointing at 127.0.0.1.
        if config.webhook_managed:
            settings.admission.managed = GROUP
    else:
        settings.admission.server = _NoWebhook()
    if config.metrics_port:
        metrics.serve(config.metrics_port)
    memo.election = asyncio.get_running_loop().create_task(memo.elector.run())


def _ray_driver(config: OperatorSettings, kube: Kube) -> RayServeDriver:
    """The rayServe provider: a release's RayService, or the one Ray cluster configured."""
    return RayServeDriver(
        ServeREST(config.ray_dashboard_url) if config.ray_dashboard_url else None,
        models_dir=config.models_dir,
        upstream=config.serve_url,
        checkpoints=config.checkpoint_dir,
        kube=kube,
    )


@kopf.on.cleanup()
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    if (election := memo.get("election")) is not None:
        election.cancel()
    if (elector := memo.get("elector")) is not None:
        elector.release()
    if (context := memo.get("context")) is not None:
        context.prometheus.close()
        await context.notifier.close()


@kopf.index("apps", "v1", "deployments", labels={"app.kubernetes.io/managed-by": MANAGER})
def managed_deployments(body: kopf.Body, **_: Any) -> dict[tuple[str, str], dict[str, Any]]:
    # What readiness and the drivers need, kept from the watch: no GET per release per tick.
    template = body.get("spec", {}).get("template", {}).get("spec", {})
    built_from = body.metadata.annotations.get(objects.SPEC_HASH)
    return {
        (body.metadata.namespace or "", body.metadata.name or ""): {
            "metadata": {
                "name": body.metadata.name,
                "namespace": body.metadata.namespace,
                "generation": body.metadata.get("generation", 0),
                # Which workload fields built it: a stable Deployment is kept while they hold.
                "annotations": {objects.SPEC_HASH: built_from},
            },
            "spec": {
                "replicas": body.get("spec", {}).get("replicas", 1),
                "template": {"spec": {"containers": [
                    {"image": c.get("image")} for c in template.get("containers", [])
                ]}},
            },
            "status": dict(body.get("status", {})),
        }
    }  # fmt: skip


@kopf.index(GROUP, VERSION, "tuningpolicies")
def tuning_policies(body: kopf.Body, **_: Any) -> dict[tuple[str, str], dict[str, Any]]:
    # Each release's tick reads its policy's spec from here: no GET per release per tick.
    key = (body.metadata.namespace or "", body.metadata.name or "")
    return {key: dict(body.get("spec") or {})}


@kopf.index("gateway.networking.k8s.io", "v1", "httproutes")
def http_routes(body: kopf.Body, **_: Any) -> dict[tuple[str, str], dict[str, Any]]:
    # The gatewayAPI provider writes weights over the route as watched, guarded by its
    # resourceVersion: no GET before each write, nor for each tick's "is it there".
    meta = body.metadata
    return {
        (meta.namespace or "", meta.name or ""): {
            "metadata": {
                "name": meta.name,
                "namespace": meta.namespace,
                "resourceVersion": meta.get("resourceVersion"),
            },
            "spec": dict(body.get("spec") or {}),
        }
    }


@kopf.index("v1", "services", labels={"app.kubernetes.io/managed-by": MANAGER})
def managed_services(body: kopf.Body, **_: Any) -> dict[tuple[str, str], dict[str, Any]]:
    # Only that it exists: a Service deleted behind the operator's back is applied again at
    # once, not at the next resync of what was written.
    meta = body.metadata
    return {(meta.namespace or "", meta.name or ""): {"metadata": {"name": meta.name}}}


# cancellation_timeout: a tick waiting on Prometheus or the apiserver ends within it.
@kopf.daemon(GROUP, VERSION, "fragrancereleases", initial_delay=0.0, cancellation_timeout=10)
async def release_loop(
    body: kopf.Body, memo: kopf.Memo, stopped: kopf.DaemonStopped, **kwargs: Any
) -> None:
    await release.handle_run_release(
        body,
        memo,
        stopped,
        TICKS.tick,
        kwargs["managed_deployments"],
        kwargs["tuning_policies"],
        kwargs["http_routes"],
        kwargs["managed_services"],
    )


@kopf.timer(
    GROUP, VERSION, "tuningpolicies", interval=TICKS.policy_interval, initial_delay=0.0,
    backoff=TICKS.policy_interval,
)  # fmt: skip
async def policy_tick(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    await tuning.handle_tick_policy(body, memo)


# Advisory: the operator's own scale-up block is the guard, so a webhook that is down must
# not stop edits (failurePolicy Ignore).
@kopf.on.validate(GROUP, VERSION, "fragrancereleases", ignore_failures=True)
async def validate_release(
    body: kopf.Body, spec: kopf.Spec, warnings: list[str], memo: kopf.Memo, **kwargs: Any
) -> None:
    context = memo.context
    old = kwargs.get("old")
    await admission.handle_validate_release(
        context.kube,
        context.prometheus,
        body.metadata.namespace or "default",
        body.metadata.name or "",
        dict(spec),
        dict(old) if old else None,
        warnings,
    )
