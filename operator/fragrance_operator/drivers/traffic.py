"""Traffic providers: the split between stable and canary, written where the user's data
plane reads it (the HTTPRoute's backendRef weights, or a canary Ingress)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from fragrance_api.release import FragranceReleaseSpec
from fragrance_operator.adapters.kubernetes import Kube
from fragrance_operator.builders import objects, routes
from fragrance_operator.drivers.written import WrittenCache

#: (namespace, name) -> an HTTPRoute as last seen by a watch (metadata and spec), or None.
RouteLookup = Callable[[str, str], dict[str, Any] | None]


class TrafficError(RuntimeError):
    """The traffic split cannot be written (e.g. the HTTPRoute does not exist)."""


class TrafficProvider(Protocol):
    def set_weight(
        self, release: dict[str, Any], spec: FragranceReleaseSpec, weight: int
    ) -> None: ...

    def available(self, release: dict[str, Any], spec: FragranceReleaseSpec) -> bool: ...


class _UserObjectTraffic:
    """A provider that edits, or sits beside, an object the user owns."""

    API = ""
    KIND = ""

    def __init__(self, kube: Kube) -> None:
        self.kube = kube

    def _name(self, spec: FragranceReleaseSpec) -> str:
        raise NotImplementedError

    def _target(self, release: dict[str, Any], spec: FragranceReleaseSpec) -> dict[str, Any]:
        name = self._name(spec)
        found = self.kube.get(self.API, self.KIND, release["metadata"]["namespace"], name)
        if found is None:
            raise TrafficError(f"{self.KIND} {name} not found")
        return found

    def available(self, release: dict[str, Any], spec: FragranceReleaseSpec) -> bool:
        try:
            self._target(release, spec)
        except TrafficError:
            return False
        return True


class GatewayAPITraffic(_UserObjectTraffic):
    """Weights on the backendRefs of the user's HTTPRoute."""

    API = "gateway.networking.k8s.io/v1"
    KIND = "HTTPRoute"

    def _name(self, spec: FragranceReleaseSpec) -> str:
        assert spec.traffic.gateway_api is not None  # guaranteed by the CRD's rules
        return spec.traffic.gateway_api.http_route

    def __init__(self, kube: Kube, watched: RouteLookup | None = None) -> None:
        super().__init__(kube)
        self.watched = watched

    def _target(self, release: dict[str, Any], spec: FragranceReleaseSpec) -> dict[str, Any]:
        seen = (
            self.watched(release["metadata"]["namespace"], self._name(spec))
            if self.watched
            else None
        )
        return seen or super()._target(release, spec)

    def set_weight(self, release: dict[str, Any], spec: FragranceReleaseSpec, weight: int) -> None:
        # The route as the watch last saw it, written only if it is still that version (the
        # user may have edited its rules since): on a conflict, read it and write once more.
        route = self._target(release, spec)
        if not self._write(route, release, weight):
            route = super()._target(release, spec)
            if not self._write(route, release, weight):
                raise TrafficError(f"HTTPRoute {self._name(spec)} changed while being written")

    def _write(self, route: dict[str, Any], release: dict[str, Any], weight: int) -> bool:
        wanted = routes.weighted_http_route(route, release["metadata"]["name"], weight)
        if wanted["spec"]["rules"] == route["spec"].get("rules"):
            return True
        meta = route["metadata"]
        return self.kube.merge_patch_at(
            self.API,
            "HTTPRoute",
            meta["namespace"],
            meta["name"],
            {"spec": {"rules": wanted["spec"]["rules"]}},
            meta["resourceVersion"],
        )


class NginxTraffic(_UserObjectTraffic):
    """A canary Ingress beside the user's Ingress, with ingress-nginx's canary annotations."""

    API = "networking.k8s.io/v1"
    KIND = "Ingress"

    def _name(self, spec: FragranceReleaseSpec) -> str:
        assert spec.traffic.nginx is not None  # guaranteed by the CRD's rules
        return spec.traffic.nginx.ingress

    def set_weight(self, release: dict[str, Any], spec: FragranceReleaseSpec, weight: int) -> None:
        stable = self._target(release, spec)
        if weight == 0:
            self.kube.delete(
                self.API,
                "Ingress",
                stable["metadata"]["namespace"],
                f"{stable['metadata']['name']}-canary",
            )
            return
        self.kube.apply(objects.canary_ingress(stable, release, weight))


def traffic_provider(
    kube: Kube, spec: FragranceReleaseSpec, routes: RouteLookup | None = None
) -> TrafficProvider:
    if spec.traffic.provider == "gatewayAPI":
        return GatewayAPITraffic(kube, routes)
    if spec.traffic.provider == "nginx":
        return NginxTraffic(kube)
    # rayServe never gets here: the reconcile hands it to ray_driver.RayServeDriver.
    raise TrafficError(f"traffic provider {spec.traffic.provider} has no Kubernetes writer")


class TrafficWriter:
    """Writes a release's weight through its provider, skipping unchanged weights."""

    def __init__(self, kube: Kube, cache: WrittenCache, routes: RouteLookup | None = None) -> None:
        self.kube, self.cache, self.routes = kube, cache, routes

    def set_weight(
        self, release: dict[str, Any], spec: FragranceReleaseSpec, weight: int, mirror: int = 0
    ) -> bool:
        """True when a write happened (the weight changed or a resync was due). ``mirror``:
        only the rayServe provider mirrors; the API refuses a shadow phase elsewhere."""
        meta = release["metadata"]
        key = ("traffic", meta["namespace"], meta["name"], meta.get("uid", ""))
        value = [spec.traffic.to_wire(), weight]
        if self.cache.fresh(key, value):
            return False
        traffic_provider(self.kube, spec, self.routes).set_weight(release, spec, weight)
        self.cache.remember(key, value)
        return True

    def available(self, release: dict[str, Any], spec: FragranceReleaseSpec) -> bool:
        try:
            return traffic_provider(self.kube, spec, self.routes).available(release, spec)
        except TrafficError:
            return False
