"""Workload drivers and traffic providers: they converge the world to the rollout state.

Each is idempotent and called every tick with the state in ``status``; an in-memory record
of what was last written skips unchanged writes (with a periodic resync that repairs drift),
so an operator with hundreds of releases at rest makes almost no API calls. Ray Serve
application and KubeRay RayService drivers come later behind the same interfaces.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from typing import Any, Protocol

from fragrance_api.release import FragranceReleaseSpec
from fragrance_operator.adapters.kubernetes import Kube
from fragrance_operator.builders import objects
from fragrance_operator.canary.capacity import Capacity, allowed_replicas
from fragrance_operator.canary.machine import Rollout

RESYNC_SECONDS = 60.0
#: (namespace, deployment name) -> the Deployment as last seen by a watch, or None.
DeploymentLookup = Callable[[str, str], dict[str, Any] | None]


class TrafficError(RuntimeError):
    """The traffic split cannot be written (e.g. the HTTPRoute does not exist)."""


class WrittenCache:
    """What was last written where, to skip identical writes until the next resync."""

    def __init__(self, resync: float = RESYNC_SECONDS) -> None:
        self.resync = resync
        self._written: dict[tuple[str, ...], tuple[str, float]] = {}

    @staticmethod
    def fingerprint(value: Any) -> str:
        return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()

    def fresh(self, key: tuple[str, ...], value: Any) -> bool:
        found = self._written.get(key)
        return (
            found is not None
            and found[0] == self.fingerprint(value)
            and time.monotonic() - found[1] < self.resync
        )

    def remember(self, key: tuple[str, ...], value: Any) -> None:
        self._written[key] = (self.fingerprint(value), time.monotonic())

    def seen(self, key: tuple[str, ...], value: Any) -> bool:
        """Whether ``value`` was written at ``key`` since this process started (any age)."""
        found = self._written.get(key)
        return found is not None and found[0] == self.fingerprint(value)

    def forget(self, key: tuple[str, ...]) -> None:
        self._written.pop(key, None)


class WorkloadDriver(Protocol):
    def converge(self, release: dict[str, Any], spec: FragranceReleaseSpec, r: Rollout) -> None: ...

    def ready(self, release: dict[str, Any], track: objects.Track, image: str | None) -> bool: ...


class TrafficProvider(Protocol):
    def set_weight(
        self, release: dict[str, Any], spec: FragranceReleaseSpec, weight: int
    ) -> None: ...

    def available(self, release: dict[str, Any], spec: FragranceReleaseSpec) -> bool: ...


class DeploymentDriver:
    """The canary runs as a Deployment of spec.image beside the stable Deployment."""

    def __init__(
        self, kube: Kube, cache: WrittenCache, lookup: DeploymentLookup | None = None
    ) -> None:
        self.kube, self.cache, self.lookup = kube, cache, lookup

    def _apply(self, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        key = (obj["kind"], meta["namespace"], meta["name"])
        if not self.cache.fresh(key, obj):
            self.kube.apply(obj)
            self.cache.remember(key, obj)

    def _delete(self, api_version: str, kind: str, namespace: str, name: str) -> None:
        key = (kind, namespace, name)
        if not self.cache.fresh(key, None):
            self.kube.delete(api_version, kind, namespace, name)
            self.cache.remember(key, None)

    def replicas(self, release: dict[str, Any], track: objects.Track) -> int | None:
        """Replicas the track's Deployment asks for now (None: it does not exist)."""
        namespace = release["metadata"]["namespace"]
        name = objects.child_name(release["metadata"]["name"], track)
        found = (
            self.lookup(namespace, name)
            if self.lookup
            else self.kube.get("apps/v1", "Deployment", namespace, name)
        )
        return None if found is None else int(found.get("spec", {}).get("replicas", 1))

    def converge(
        self,
        release: dict[str, Any],
        spec: FragranceReleaseSpec,
        r: Rollout,
        capacity: Capacity | None = None,
        stable_replicas: int | None = None,
    ) -> None:
        """``stable_replicas``: the autoscaler's size (default: spec.workload.replicas)."""
        namespace = release["metadata"]["namespace"]
        desired = spec.workload.replicas
        if r.stable_version and r.stable_image:
            wanted = desired if stable_replicas is None else stable_replicas
            stable = allowed_replicas(wanted, self.replicas(release, "stable"), capacity)
            self._apply(
                objects.deployment(
                    release, spec, "stable", r.stable_version, r.stable_image, stable
                )
            )
            self._apply(objects.service(release, "stable"))
        if r.canary_active and r.canary_version and r.canary_image:
            canary = 0 if r.canary_held else desired  # held: the object, no pods
            self._apply(
                objects.deployment(
                    release, spec, "canary", r.canary_version, r.canary_image, canary
                )
            )
            self._apply(objects.service(release, "canary"))
        elif r.weight == 0:
            name = objects.child_name(release["metadata"]["name"], "canary")
            # Deleted once already and the watch shows no canary Deployment: nothing to do,
            # not even at the resync (a release at rest would send two 404s a minute).
            gone = (
                self.lookup is not None
                and self.lookup(namespace, name) is None
                and self.cache.seen(("Service", namespace, name), None)
            )
            if not gone:
                self._delete("apps/v1", "Deployment", namespace, name)
                self._delete("v1", "Service", namespace, name)

    def ready(self, release: dict[str, Any], track: objects.Track, image: str | None) -> bool:
        if image is None:
            return False
        namespace = release["metadata"]["namespace"]
        name = objects.child_name(release["metadata"]["name"], track)
        found = (
            self.lookup(namespace, name)
            if self.lookup
            else self.kube.get("apps/v1", "Deployment", namespace, name)
        )
        return found is not None and objects.deployment_ready(found, image)


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

    def set_weight(self, release: dict[str, Any], spec: FragranceReleaseSpec, weight: int) -> None:
        route = self._target(release, spec)
        wanted = objects.weighted_http_route(route, release["metadata"]["name"], weight)
        if wanted["spec"]["rules"] != route["spec"].get("rules"):
            self.kube.merge_patch(
                self.API,
                "HTTPRoute",
                route["metadata"]["namespace"],
                route["metadata"]["name"],
                {"spec": {"rules": wanted["spec"]["rules"]}},
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


def traffic_provider(kube: Kube, spec: FragranceReleaseSpec) -> TrafficProvider:
    if spec.traffic.provider == "gatewayAPI":
        return GatewayAPITraffic(kube)
    if spec.traffic.provider == "nginx":
        return NginxTraffic(kube)
    # rayServe never gets here: the reconcile hands it to ray_driver.RayServeDriver.
    raise TrafficError(f"traffic provider {spec.traffic.provider} has no Kubernetes writer")


class TrafficWriter:
    """Writes a release's weight through its provider, skipping unchanged weights."""

    def __init__(self, kube: Kube, cache: WrittenCache) -> None:
        self.kube, self.cache = kube, cache

    def set_weight(self, release: dict[str, Any], spec: FragranceReleaseSpec, weight: int) -> bool:
        """True when a write happened (the weight changed or a resync was due)."""
        meta = release["metadata"]
        key = ("traffic", meta["namespace"], meta["name"], meta.get("uid", ""))
        value = [spec.traffic.to_wire(), weight]
        if self.cache.fresh(key, value):
            return False
        traffic_provider(self.kube, spec).set_weight(release, spec, weight)
        self.cache.remember(key, value)
        return True

    def available(self, release: dict[str, Any], spec: FragranceReleaseSpec) -> bool:
        try:
            return traffic_provider(self.kube, spec).available(release, spec)
        except TrafficError:
            return False
