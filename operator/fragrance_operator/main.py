"""kopf entry point: decorators only, each calling one handler module.

Run with ``fragrance operator`` or ``kopf run -m fragrance_operator.main``. Settings from the
environment: FRAGRANCE_PROMETHEUS_URL (default http://prometheus:9090), FRAGRANCE_TICK
seconds between reconcile ticks of a release (default 2), FRAGRANCE_LEASE_NAMESPACE (default
POD_NAMESPACE, else "default") and FRAGRANCE_LEASE_SECONDS (default 15) for leader election,
FRAGRANCE_METRICS_PORT (default 8080, 0 turns the endpoint off), FRAGRANCE_WEBHOOK_PORT with
FRAGRANCE_WEBHOOK_CERT/KEY/CA/ADDR/MANAGED (the admission webhook; off when unset), and for
the rayServe provider FRAGRANCE_RAY_DASHBOARD_URL (Serve REST API), FRAGRANCE_SERVE_URL
(Serve's HTTP proxy, default http://127.0.0.1:8000), FRAGRANCE_MODELS_DIR (the torch
weights) and FRAGRANCE_CHECKPOINT_DIR (the learners' checkpoints).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import kopf

from fragrance_operator import metrics
from fragrance_operator.adapters.kubernetes import Kube
from fragrance_operator.adapters.prometheus import Prometheus
from fragrance_operator.adapters.ray_serve import ServeREST
from fragrance_operator.api.crd import GROUP, VERSION
from fragrance_operator.handlers import admission, release, tuning
from fragrance_operator.leadership import LeaderElector
from fragrance_operator.ray_driver import RayServeDriver

TICK = float(os.environ.get("FRAGRANCE_TICK", "2"))
# Policies change rarely and their status comes from Prometheus: a slower beat is enough.
POLICY_TICK = float(os.environ.get("FRAGRANCE_POLICY_TICK", str(max(5 * TICK, 1.0))))
MANAGER = "fragrance-operator"
EXECUTOR_THREADS = 32
_context: dict[str, release.Context] = {}
_leadership: dict[str, LeaderElector] = {}
_tasks: set[asyncio.Task[None]] = set()


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
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        return kopf.login_with_service_account(**kwargs)
    return kopf.login_with_kubeconfig(**kwargs)


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    # Our structural status has no room for kopf's own bookkeeping: keep it in annotations.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=GROUP)
    settings.posting.level = logging.INFO
    settings.watching.server_timeout = 60
    # Gate evaluations block a thread each while Prometheus answers: room for many releases.
    asyncio.get_running_loop().set_default_executor(
        ThreadPoolExecutor(max_workers=EXECUTOR_THREADS, thread_name_prefix="fragrance")
    )
    kube = Kube()
    _context["release"] = release.Context(
        kube=kube,
        prometheus=Prometheus(os.environ.get("FRAGRANCE_PROMETHEUS_URL", "http://prometheus:9090")),
        ray=_ray_driver(kube),
    )
    elector = LeaderElector(
        kube.api,
        os.environ.get("FRAGRANCE_LEASE_NAMESPACE", os.environ.get("POD_NAMESPACE", "default")),
        "fragrance-operator",
        float(os.environ.get("FRAGRANCE_LEASE_SECONDS", "15")),
    )
    _leadership["elector"] = elector
    webhook_port = int(os.environ.get("FRAGRANCE_WEBHOOK_PORT", "0"))
    if webhook_port:
        # kopf serves the webhook and keeps a ValidatingWebhookConfiguration named after the
        # group pointing at it; TLS from the given files (the project's CA locally,
        # cert-manager in a cluster).
        settings.admission.server = kopf.WebhookServer(
            addr=os.environ.get("FRAGRANCE_WEBHOOK_ADDR", "127.0.0.1"),
            port=webhook_port,
            certfile=os.environ["FRAGRANCE_WEBHOOK_CERT"],
            pkeyfile=os.environ["FRAGRANCE_WEBHOOK_KEY"],
            cafile=os.environ.get("FRAGRANCE_WEBHOOK_CA"),
        )
        # In a cluster the chart owns the ValidatingWebhookConfiguration (a Service reference,
        # cert-manager's CA injected); locally kopf keeps one pointing at 127.0.0.1.
        if os.environ.get("FRAGRANCE_WEBHOOK_MANAGED", "true").lower() != "false":
            settings.admission.managed = GROUP
    else:
        settings.admission.server = _NoWebhook()
    port = int(os.environ.get("FRAGRANCE_METRICS_PORT", "8080"))
    if port:
        metrics.serve(port)
    task = asyncio.get_running_loop().create_task(elector.run())
    _tasks.add(task)


def _ray_driver(kube: Kube) -> RayServeDriver | None:
    url = os.environ.get("FRAGRANCE_RAY_DASHBOARD_URL")
    if not url:
        return None
    return RayServeDriver(
        ServeREST(url),
        models_dir=os.environ.get("FRAGRANCE_MODELS_DIR", "models"),
        upstream=os.environ.get("FRAGRANCE_SERVE_URL", "http://127.0.0.1:8000"),
        checkpoints=os.environ.get("FRAGRANCE_CHECKPOINT_DIR", "checkpoints"),
        kube=kube,
    )


@kopf.on.cleanup()
def cleanup(**_: Any) -> None:
    for task in _tasks:
        task.cancel()
    elector = _leadership.pop("elector", None)
    if elector is not None:
        elector.release()
    context = _context.pop("release", None)
    if context is not None:
        context.prometheus.close()


@kopf.index("apps", "v1", "deployments", labels={"app.kubernetes.io/managed-by": MANAGER})
def managed_deployments(body: kopf.Body, **_: Any) -> dict[tuple[str, str], dict[str, Any]]:
    # What readiness needs, kept from the watch: no GET per release per tick.
    template = body.get("spec", {}).get("template", {}).get("spec", {})
    return {
        (body.metadata.namespace or "", body.metadata.name or ""): {
            "metadata": {"generation": body.metadata.get("generation", 0)},
            "spec": {
                "replicas": body.get("spec", {}).get("replicas", 1),
                "template": {"spec": {"containers": [
                    {"image": c.get("image")} for c in template.get("containers", [])
                ]}},
            },
            "status": dict(body.get("status", {})),
        }
    }  # fmt: skip


# backoff: a tick that raised (a 429 from API priority and fairness, a timeout) is retried at
# the next tick, not after kopf's default minute, which would make the step that late.
@kopf.timer(GROUP, VERSION, "fragrancereleases", interval=TICK, initial_delay=0.0, backoff=TICK)
async def release_tick(body: kopf.Body, **kwargs: Any) -> None:
    managed_deployments: kopf.Index[tuple[str, str], dict[str, Any]] = kwargs["managed_deployments"]
    if not _leadership["elector"].is_leader:  # a standby replica only watches
        return

    def lookup(namespace: str, name: str) -> dict[str, Any] | None:
        return next(iter(managed_deployments.get((namespace, name), [])), None)

    try:
        await release.reconcile(_context["release"], body, lookup)
    except Exception:
        metrics.RECONCILE_ERRORS.labels(body.metadata.namespace, body.metadata.name).inc()
        raise


@kopf.timer(GROUP, VERSION, "tuningpolicies", interval=POLICY_TICK, initial_delay=0.0,
            backoff=POLICY_TICK)  # fmt: skip
async def policy_tick(body: kopf.Body, **_: Any) -> None:
    if not _leadership["elector"].is_leader:
        return
    context = _context["release"]
    await tuning.reconcile(context.kube, context.prometheus, body)


# Advisory: the operator's own scale-up block is the guard, so a webhook that is down must
# not stop edits (failurePolicy Ignore).
@kopf.on.validate(GROUP, VERSION, "fragrancereleases", ignore_failures=True)
async def validate_release(
    body: kopf.Body, spec: kopf.Spec, warnings: list[str], **kwargs: Any
) -> None:
    context = _context["release"]
    old = kwargs.get("old")
    await admission.validate_release(
        context.kube,
        context.prometheus,
        body.metadata.namespace or "default",
        body.metadata.name or "",
        dict(spec),
        dict(old) if old else None,
        warnings,
    )


@kopf.on.delete(GROUP, VERSION, "fragrancereleases", optional=True)
def release_deleted(body: kopf.Body, **_: Any) -> None:
    key = (body.metadata.namespace or "", body.metadata.name or "")
    metrics.forget(*key)
    if "release" in _context:
        _context["release"].autoscale_due.pop(key, None)
