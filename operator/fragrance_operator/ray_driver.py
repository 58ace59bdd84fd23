"""The rayServe provider: a release's versions as Serve applications, its split as a router.

``<release>-stable`` and ``<release>-canary`` are Serve applications of the serving app in
one Ray cluster; ``traffic.rayServe.routerApplication`` sends ``weight`` percent to the
canary. Everything goes through the Serve REST API (the shape a KubeRay ``serveConfigV2``
carries in a cluster). A PUT replaces every application on the cluster, so each write
reads the deployed set, replaces this release's three entries and keeps the rest, under a
lock shared by all releases of this operator.

Safety of the split: the canary application is removed only once the router's *deployed*
weight was already 0 at the start of the tick, so no request is routed to a canary that is
going away; the stable application keeps its deployed config (an older version cannot be
rebuilt from the current spec) and is rebuilt only when it takes the promoted version.
"""

from __future__ import annotations

import threading
from typing import Any

from pydantic import ValidationError

from fragrance_operator import serve_config
from fragrance_operator.adapters.kubernetes import Kube
from fragrance_operator.adapters.ray_serve import ServeError, ServeREST
from fragrance_operator.api.crd import API_VERSION
from fragrance_operator.api.policy import TuningPolicySpec
from fragrance_operator.api.release import FragranceReleaseSpec
from fragrance_operator.canary.capacity import Capacity
from fragrance_operator.canary.machine import Rollout

_LOCK = threading.Lock()


class RayServeDriver:
    def __init__(
        self,
        rest: ServeREST,
        models_dir: str,
        upstream: str,
        checkpoints: str = "checkpoints",
        kube: Kube | None = None,
    ) -> None:
        self.rest, self.models_dir, self.upstream = rest, models_dir, upstream
        self.checkpoints, self.kube = checkpoints, kube

    def _policy(self, release: dict[str, Any], spec: FragranceReleaseSpec) -> dict[str, Any]:
        """The referenced TuningPolicy's spec (defaults when absent or invalid)."""
        if self.kube is None:
            return {}
        found = self.kube.get(
            API_VERSION, "TuningPolicy", release["metadata"]["namespace"],
            spec.tuning_policy_ref.name,
        )  # fmt: skip
        try:
            return TuningPolicySpec.model_validate((found or {}).get("spec") or {}).to_wire()
        except ValidationError:
            return {}

    # --- reading ---------------------------------------------------------------------
    def _deployed(self) -> dict[str, dict[str, Any]]:
        return self.rest.applications()

    @staticmethod
    def _config(app: dict[str, Any] | None) -> dict[str, Any] | None:
        return (app or {}).get("deployed_app_config")

    def ready(self, release: dict[str, Any], track: str, image: str | None) -> bool:
        if image is None:
            return False
        name = serve_config.app_name(release["metadata"]["name"], track)
        app = self._deployed().get(name) or {}
        config = self._config(app) or {}
        return app.get("status") == "RUNNING" and config.get("args", {}).get("image") == image

    def replicas(self, release: dict[str, Any], track: str) -> int | None:
        return None  # Serve sizes its replicas; the VRAM floor applies to GPU Deployments

    def available(self, release: dict[str, Any], spec: FragranceReleaseSpec) -> bool:
        return True  # the router is the operator's own

    # --- writing ---------------------------------------------------------------------
    def set_weight(self, release: dict[str, Any], spec: FragranceReleaseSpec, weight: int) -> bool:
        """Only the router's weight; the applications follow in :meth:`converge`."""
        with _LOCK:
            deployed = self._deployed()
            apps = {n: c for n, a in deployed.items() if (c := self._config(a)) is not None}
            name = self._router_name(spec, release)
            router = serve_config.router(release["metadata"]["name"], name, self.upstream, weight)
            if apps.get(name) and _same(apps[name], router):
                return False
            apps[name] = router
            self._put(list(apps.values()))
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
        stable_name = serve_config.app_name(name, "stable")
        canary_name = serve_config.app_name(name, "canary")
        router_name = self._router_name(spec, release)
        policy = self._policy(release, spec)
        with _LOCK:
            deployed = self._deployed()
            apps = {n: c for n, a in deployed.items() if (c := self._config(a)) is not None}
            before = dict(apps)
            if r.stable_version and r.stable_image:
                current = apps.get(stable_name)
                image = (current or {}).get("args", {}).get("image")
                if image != r.stable_image and spec.image == r.stable_image:
                    apps[stable_name] = self._app(stable_name, name, "stable", spec, policy)
                elif current is not None:
                    apps[stable_name] = serve_config.with_policy(current, policy)
            canary_wanted = r.canary_active and not r.canary_held and spec.image == r.canary_image
            if canary_wanted:
                wanted = self._app(canary_name, name, "canary", spec, policy)
                if not apps.get(canary_name) or not _same(apps[canary_name], wanted):
                    apps[canary_name] = wanted
            elif r.weight == 0 and canary_name in apps:
                router_weight = _weight(apps.get(router_name))
                if router_weight == 0:  # deployed at 0 since an earlier tick: safe to remove
                    del apps[canary_name]
            if router_name not in apps:
                apps[router_name] = serve_config.router(name, router_name, self.upstream, r.weight)
            if any(not _same(before.get(n) or {}, app) for n, app in apps.items()) or set(
                apps
            ) != set(before):
                self._put(list(apps.values()))

    def _app(
        self,
        app_name: str,
        release: str,
        track: str,
        spec: FragranceReleaseSpec,
        policy: dict[str, Any],
    ) -> dict[str, Any]:
        args = serve_config.release_args(release, track, spec, self.models_dir, self.checkpoints)
        args["image"] = spec.image
        return serve_config.application(
            app_name, f"/{app_name}", args, policy, serve_config.release_faults(spec)
        )

    @staticmethod
    def _router_name(spec: FragranceReleaseSpec, release: dict[str, Any]) -> str:
        configured = spec.traffic.ray_serve.router_application if spec.traffic.ray_serve else None
        return configured or f"{release['metadata']['name']}-router"

    def _put(self, apps: list[dict[str, Any]]) -> None:
        try:
            host, _, port = self.upstream.removeprefix("http://").partition(":")
            self.rest.deploy(serve_config.deploy_config(apps, host, int(port or 8000)))
        except ServeError as error:
            raise RuntimeError(f"Serve refused the release's applications: {error}") from error


def _weight(app: dict[str, Any] | None) -> int | None:
    for deployment in (app or {}).get("deployments") or []:
        if deployment.get("name") == "Router":
            return int((deployment.get("user_config") or {}).get("weight", 0))
    return None


def _same(deployed: dict[str, Any], wanted: dict[str, Any]) -> bool:
    """Equal in what we set (Serve adds defaults to what it reports back)."""
    keys = ("import_path", "route_prefix", "args")
    if any(deployed.get(k) != wanted.get(k) for k in keys):
        return False
    have = {d.get("name"): d.get("user_config") for d in deployed.get("deployments") or []}
    return all(have.get(d["name"]) == d["user_config"] for d in wanted["deployments"])
