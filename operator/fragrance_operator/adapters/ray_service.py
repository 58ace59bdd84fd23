"""A KubeRay RayService as the rayServe provider's Ray cluster.

The operator writes one field of it, ``spec.serveConfigV2``, by server-side apply under its
own field manager; KubeRay submits that config to the RayCluster it runs and reports each
application's status back. Everything else (the RayCluster's pods, GPUs, autoscaling) is the
user's, applied by kubectl, Argo CD or Flux, and never touched here.

The same reads and writes as :class:`~fragrance_operator.adapters.ray_serve.ServeREST`
(``applications()``, ``deploy()``), so one driver plans for both.
"""

from __future__ import annotations

from typing import Any

import yaml

from fragrance_operator.adapters.kubernetes import Kube
from fragrance_operator.canary.serving import Serving

API_VERSION = "ray.io/v1"
KIND = "RayService"
SERVE_PORT = 8000  # KubeRay's default serving port on the head and workers


def health(found: dict[str, Any] | None, name: str) -> Serving:
    """A RayService that is missing, not Ready, or upgraded by KubeRay itself (a second
    RayCluster coming up) holds the canary: its applications may move under it."""
    if found is None:
        return Serving(False, "RayServiceNotFound", f"RayService {name} not found")
    status = found.get("status") or {}
    if _condition(status, "UpgradeInProgress") == "True":
        pending = (status.get("pendingServiceStatus") or {}).get("rayClusterName", "")
        return Serving(
            False,
            "RayServiceUpgrading",
            f"KubeRay is moving RayService {name} to a new RayCluster {pending}".rstrip(),
        )
    if _condition(status, "Ready") != "True":
        return Serving(False, "RayServiceNotReady", f"RayService {name} is not Ready")
    return Serving(True, "RayServiceReady", f"RayService {name} is Ready")


def _condition(status: dict[str, Any], kind: str) -> str:
    for condition in status.get("conditions") or []:
        if condition.get("type") == kind:
            return str(condition.get("status", ""))
    return ""


def applications(found: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """``{name: {"status", "message", "deployed_app_config"}}``, as Serve's REST API says it.

    The config is what ``serveConfigV2`` holds; the status is KubeRay's report of the active
    RayCluster, trusted only once KubeRay has observed the spec's generation (before that it
    speaks of the config before, and every application reads as not yet running).
    """
    if found is None:
        return {}
    spec, status = found.get("spec") or {}, found.get("status") or {}
    observed = status.get("observedGeneration") == found["metadata"].get("generation")
    reported = (status.get("activeServiceStatus") or {}).get("applicationStatuses") or {}
    apps = {}
    for app in parse(spec.get("serveConfigV2")).get("applications") or []:
        seen = reported.get(app["name"]) or {} if observed else {}
        apps[app["name"]] = {
            "status": seen.get("status", "NOT_STARTED"),
            "message": seen.get("message", ""),
            "deployed_app_config": app,
        }
    return apps


def parse(text: str | None) -> dict[str, Any]:
    loaded = yaml.safe_load(text or "") or {}
    return loaded if isinstance(loaded, dict) else {}


def head_url(found: dict[str, Any] | None) -> str | None:
    """The active RayCluster's head pod, where its Serve proxy answers (None: not known)."""
    status = (found or {}).get("status") or {}
    cluster = (status.get("activeServiceStatus") or {}).get("rayClusterStatus") or {}
    ip = (cluster.get("head") or {}).get("podIP")
    return f"http://{ip}:{SERVE_PORT}" if ip else None


class RayServiceApps:
    """One RayService's Serve applications, read from its status, written to its spec."""

    def __init__(self, kube: Kube, namespace: str, name: str) -> None:
        self.kube, self.namespace, self.name = kube, namespace, name

    def get(self) -> dict[str, Any] | None:
        return self.kube.get(API_VERSION, KIND, self.namespace, self.name)

    def applications(self) -> dict[str, dict[str, Any]]:
        return applications(self.get())

    def deploy(self, config: dict[str, Any]) -> None:
        """``serveConfigV2`` and nothing else, owned by the operator's field manager (forced:
        the field is the operator's by design; the README says how a GitOps tool leaves
        it alone)."""
        body = {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": {"serveConfigV2": yaml.safe_dump(config, sort_keys=False)},
        }
        self.kube.apply(body)
