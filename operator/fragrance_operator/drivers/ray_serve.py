"""The rayServe provider: a release's versions as Serve applications, its split as a router.

A release's two versions are Serve applications of the serving app in one Ray cluster, in
two slots; ``traffic.rayServe.routerApplication`` sends ``weight`` percent to the canary's.
Which applications to write is decided by :mod:`fragrance_operator.builders.serve_plan` (pure);
this module reads and writes them where the Ray cluster takes them: the ``serveConfigV2`` of
the KubeRay RayService that ``traffic.rayServe.rayService`` names, or else the Serve REST
API of the one Ray cluster the operator was given (a Ray outside Kubernetes). Either write
replaces every application, so each reads the deployed set and replaces this release's
entries, under a lock shared by all releases of this operator.
"""

from __future__ import annotations

import copy
import threading
import time
from dataclasses import dataclass
from typing import Any, Protocol

from fragrance_api import serve_app
from fragrance_api.policy import TuningPolicySpec, canaried_settings
from fragrance_api.release import FragranceReleaseSpec
from fragrance_operator.adapters import ray_service
from fragrance_operator.adapters.kubernetes import Kube
from fragrance_operator.adapters.ray_serve import ServeError, ServeProxy, ServeREST
from fragrance_operator.adapters.ray_service import RayServiceApps
from fragrance_operator.builders import serve_plan
from fragrance_operator.canary.capacity import Capacity
from fragrance_operator.canary.capacity import ray_service as ray_service_of
from fragrance_operator.canary.machine import Rollout
from fragrance_operator.canary.serving import Serving

_LOCK = threading.Lock()
#: A brief request's deadline in the serving app (AppArgs.timeoutSeconds), and a margin.
DRAIN_SECONDS = 35.0
#: The router's upstream inside a RayService: the Serve proxy of the node it runs on.
IN_CLUSTER_UPSTREAM = f"http://127.0.0.1:{ray_service.SERVE_PORT}"
NO_RAY = (
    "the rayServe provider needs traffic.rayServe.rayService (a KubeRay RayService) or the "
    "operator's FRAGRANCE_RAY_DASHBOARD_URL (the Serve REST API of a Ray outside Kubernetes)"
)


class Apps(Protocol):
    def applications(self) -> dict[str, Any]: ...

    def deploy(self, config: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class Target:
    """Where one release's applications live: how to read and write them, where its router
    answers for the routes it uses (None for a RayService: its head's, looked up when
    asked), and the router's upstream as the Ray cluster sees it."""

    apps: Apps
    proxy: ServeProxy | None
    upstream: str
    service: RayServiceApps | None = None


class RayServeDriver:
    def __init__(
        self,
        rest: ServeREST | None,
        models_dir: str,
        upstream: str,
        checkpoints: str = "checkpoints",
        kube: Kube | None = None,
    ) -> None:
        self.rest, self.models_dir, self.upstream = rest, models_dir, upstream
        self.checkpoints, self.kube = checkpoints, kube
        self._rerouted: set[str] = set()  # routers written this tick, not yet in effect
        self._proxies: dict[str, ServeProxy] = {}
        # router -> (its routes, in effect since)
        self._effective: dict[str, tuple[dict[str, Any], float]] = {}
        self.policy: TuningPolicySpec | None = None  # the release's, in a driver from bound()

    def bound(self, policy: TuningPolicySpec | None) -> RayServeDriver:
        """This driver for one release's tick, with the TuningPolicy the reconcile read (its
        state, the routers' and proxies', stays shared with every release's)."""
        driver = copy.copy(self)
        driver.policy = policy
        return driver

    def configured(self, spec: FragranceReleaseSpec) -> bool:
        return self.rest is not None or ray_service_of(spec) is not None

    def _proxy(self, url: str) -> ServeProxy:
        if url not in self._proxies:
            self._proxies[url] = ServeProxy(url)
        return self._proxies[url]

    def _target(self, release: dict[str, Any]) -> Target:
        """The release's Ray cluster (read from the object: ``ready`` has no spec)."""
        traffic = (release.get("spec") or {}).get("traffic") or {}
        name = (traffic.get("rayServe") or {}).get("rayService")
        if name and self.kube is not None:
            service = RayServiceApps(self.kube, release["metadata"]["namespace"], name)
            return Target(service, None, IN_CLUSTER_UPSTREAM, service)
        if self.rest is None:
            raise RuntimeError(NO_RAY)
        return Target(self.rest, self._proxy(self.upstream), self.upstream)

    def _head_proxy(self, target: Target) -> ServeProxy | None:
        """A RayService's head pod's Serve proxy, looked up only where the router is asked
        (converge): the head's address moves when KubeRay replaces the pod."""
        head = ray_service.head_url(target.service.get()) if target.service else None
        return self._proxy(head) if head else None

    def serving(self, release: dict[str, Any]) -> Serving | None:
        """The RayService's readiness (None: a Ray outside Kubernetes, nothing to say)."""
        target = self._target(release)
        if target.service is None:
            return None
        return ray_service.health(target.service.get(), target.service.name)

    # --- reading ---------------------------------------------------------------------
    def ready(
        self, release: dict[str, Any], track: str, image: str | None, settings: str | None = None
    ) -> bool:
        """The track's application RUNNING with ``image`` (and ``settings``, where canaried)."""
        if image is None:
            return False
        statuses = self._target(release).apps.applications()
        deployed = _configs(statuses)
        slot = serve_plan.roles(release["metadata"]["name"], deployed.get(self._router(release)))
        name = slot.stable if track == "stable" else slot.canary
        app = statuses.get(name) or {}
        return app.get("status") == "RUNNING" and serve_plan.runs(
            deployed.get(name), image, settings
        )

    def replicas(self, release: dict[str, Any], track: str) -> int | None:
        return None  # Serve sizes its replicas; the VRAM floor applies to GPU Deployments

    def endpoints(self, release: dict[str, Any]) -> dict[str, str] | None:
        """Each track's application's brief URL on the Serve proxy, past the router (None:
        a RayService whose head is not known yet)."""
        target = self._target(release)
        base = ray_service.head_url(target.service.get()) if target.service else self.upstream
        if base is None:
            return None
        deployed = _configs(target.apps.applications())
        slot = serve_plan.roles(release["metadata"]["name"], deployed.get(self._router(release)))
        return {
            "stable": f"{base}/{slot.stable}/v1/brief",
            "canary": f"{base}/{slot.canary}/v1/brief",
        }

    def available(self, release: dict[str, Any], spec: FragranceReleaseSpec) -> bool:
        return True  # the router is the operator's own

    # --- writing ---------------------------------------------------------------------
    def set_weight(
        self, release: dict[str, Any], spec: FragranceReleaseSpec, weight: int, mirror: int = 0
    ) -> bool:
        """Only the router's weight (and mirror); the applications follow in :meth:`converge`."""
        name, router = release["metadata"]["name"], self._router(release)
        target = self._target(release)
        settings = canaried_settings(self.policy)
        with _LOCK:
            deployed = _configs(target.apps.applications())
            apps = serve_plan.weighted(
                deployed, name, router, spec.image, weight, target.upstream, mirror, settings
            )
            if deployed.get(router) and serve_plan.same(deployed[router], apps[router]):
                return False
            self._put(target, list(apps.values()))
            # Serve may still report the router RUNNING before it takes the new routes.
            self._rerouted.add(router)
            return True

    def converge(
        self,
        release: dict[str, Any],
        spec: FragranceReleaseSpec,
        r: Rollout,
        capacity: Capacity | None = None,
        stable_replicas: int | None = None,
    ) -> None:
        name = release["metadata"]["name"]
        policy = self.policy.to_wire() if self.policy is not None else {}

        def build(app_name: str, track: str) -> dict[str, Any]:
            args = serve_app.release_args(name, app_name, spec, self.models_dir, self.checkpoints)
            faults = serve_app.release_faults(spec)
            return serve_app.application(app_name, f"/{app_name}", args, policy, faults, track)

        router = self._router(release)
        target = self._target(release)
        with _LOCK:
            statuses = target.apps.applications()
            deployed = _configs(statuses)
            running = {n for n, a in statuses.items() if a.get("status") == "RUNNING"}
            proxy = target.proxy or self._head_proxy(target)
            answered = proxy.router_state(router) if proxy else None
            settled = self._drained(
                router,
                router not in self._rerouted
                and router in running
                and serve_plan.in_effect(answered, deployed.get(router)),
                deployed.get(router),
            )
            apps = serve_plan.plan(
                deployed, name, router, r, spec.image, build, policy, target.upstream,
                running, settled,
            )  # fmt: skip
            self._rerouted.discard(router)
            if serve_plan.changed(deployed, apps):
                self._put(target, list(apps.values()))

    def _drained(self, router: str, in_effect: bool, config: dict[str, Any] | None) -> bool:
        """The router's routes in effect for longer than a request may take: a request sent
        under the routes before (up to the serving's 30 s deadline) has finished, so what
        they named and these do not may go."""
        routes = serve_plan.router_config(config)
        if not in_effect:
            self._effective.pop(router, None)
            return False
        seen, since = self._effective.get(router, (None, 0.0))
        if seen != routes:
            self._effective[router] = (routes, since := time.monotonic())
        return time.monotonic() - since >= DRAIN_SECONDS

    @staticmethod
    def _router(release: dict[str, Any]) -> str:
        """The router application's name (read from the object: ``ready`` has no spec)."""
        traffic = (release.get("spec") or {}).get("traffic") or {}
        configured = (traffic.get("rayServe") or {}).get("routerApplication")
        return str(configured or f"{release['metadata']['name']}-router")

    @staticmethod
    def _put(target: Target, apps: list[dict[str, Any]]) -> None:
        # Serve's proxies listen where the upstream says; in a RayService, on every address.
        host, _, port = target.upstream.removeprefix("http://").partition(":")
        host = "0.0.0.0" if target.service is not None else host
        try:
            target.apps.deploy(serve_app.deploy_config(apps, host, int(port or 8000)))
        except ServeError as error:
            raise RuntimeError(f"Serve refused the release's applications: {error}") from error


def _configs(statuses: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every application's deployed config, by name."""
    return {
        name: config
        for name, app in statuses.items()
        if (config := app.get("deployed_app_config")) is not None
    }
