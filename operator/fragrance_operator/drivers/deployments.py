"""The Deployment workload driver: it converges a release's pods to the rollout state.

Each is idempotent and called every tick with the state in ``status``; an in-memory record
of what was last written skips unchanged writes (``written.py``: a slow resync, and at once
for a Deployment or Service the watches show gone), so an operator with a thousand
releases at rest makes almost no API calls.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Protocol

from fragrance_api.policy import TuningPolicySpec, canaried_settings
from fragrance_api.release import FragranceReleaseSpec
from fragrance_operator.adapters.kubernetes import Kube
from fragrance_operator.builders import objects, pods
from fragrance_operator.canary.capacity import Capacity, allowed_replicas
from fragrance_operator.canary.machine import Rollout
from fragrance_operator.canary.serving import Serving
from fragrance_operator.drivers.written import Key, WrittenCache

#: (namespace, name) -> the object (a Deployment, a Service) as last seen by a watch, or None.
DeploymentLookup = Callable[[str, str], dict[str, Any] | None]


def _replicas(deployment: dict[str, Any] | None) -> int | None:
    return None if deployment is None else int(deployment.get("spec", {}).get("replicas", 1))


class WorkloadDriver(Protocol):
    def converge(self, release: dict[str, Any], spec: FragranceReleaseSpec, r: Rollout) -> None: ...

    def ready(
        self, release: dict[str, Any], track: objects.Track, image: str | None, settings: str | None
    ) -> bool: ...


class DeploymentDriver:
    """The canary runs as a Deployment of spec.image beside the stable Deployment.

    ``policy``: the release's TuningPolicy (None: there is none, the pods use defaults).
    ``lookup`` and ``services``: the managed Deployments and Services as watched.
    """

    def __init__(
        self,
        kube: Kube,
        cache: WrittenCache,
        lookup: DeploymentLookup | None = None,
        policy: TuningPolicySpec | None = None,
        services: DeploymentLookup | None = None,
    ) -> None:
        self.kube, self.cache, self.lookup, self.policy = kube, cache, lookup, policy
        self.services = services

    def _apply(self, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        key = (obj["kind"], meta["namespace"], meta["name"])
        if not self.cache.fresh(key, obj) or self._gone(key):
            self.kube.apply(obj)
            self.cache.remember(key, obj)

    def _gone(self, key: Key) -> bool:
        """Written, and deleted since (the watch shows no such object)."""
        kind, namespace, name = key
        lookup = {"Deployment": self.lookup, "Service": self.services}.get(kind)
        return lookup is not None and self.cache.missing(key, lookup(namespace, name) is not None)

    def _delete(self, api_version: str, kind: str, namespace: str, name: str) -> None:
        key = (kind, namespace, name)
        if not self.cache.fresh(key, None):
            self.kube.delete(api_version, kind, namespace, name)
            self.cache.remember(key, None)

    def _get(self, release: dict[str, Any], track: objects.Track) -> dict[str, Any] | None:
        namespace = release["metadata"]["namespace"]
        name = objects.child_name(release["metadata"]["name"], track)
        if self.lookup:
            return self.lookup(namespace, name)
        return self.kube.get("apps/v1", "Deployment", namespace, name)

    def replicas(self, release: dict[str, Any], track: objects.Track) -> int | None:
        """Replicas the track's Deployment asks for now (None: it does not exist)."""
        return _replicas(self._get(release, track))

    def serving(self, release: dict[str, Any]) -> Serving | None:
        return None  # the release's own Deployments: their readiness is the tracks'

    def endpoints(self, release: dict[str, Any]) -> dict[str, str] | None:
        """Each track's Service by its cluster IP (kube-proxy routes it from the operator's
        pod and from a node alike; DNS names resolve only inside pods). None: not yet."""
        namespace, found = release["metadata"]["namespace"], {}
        for track in ("stable", "canary"):
            name = objects.child_name(release["metadata"]["name"], track)
            service = self.kube.get("v1", "Service", namespace, name) or {}
            ip = (service.get("spec") or {}).get("clusterIP")
            if not ip or ip == "None":
                return None
            found[track] = f"http://{ip}:{objects.SERVING_PORT}/v1/brief"
        return found

    def _apply_track(
        self,
        release: dict[str, Any],
        spec: FragranceReleaseSpec,
        track: objects.Track,
        version: str,
        image: str,
        spec_hash: str,
        replicas: int,
        settings: str | None,
    ) -> None:
        """A track's config, Deployment and Service, built from ``spec``."""
        text = pods.app_config(pods.app_args(release["metadata"]["name"], track, spec))
        self._apply(objects.app_config_map(release, track, text))
        self._apply_policy(release, track, settings)
        built = objects.deployment(
            release, spec, track, version, image, text, spec_hash, replicas, settings
        )
        self._apply(built)
        self._apply(objects.service(release, track))

    def _apply_policy(
        self, release: dict[str, Any], track: objects.Track, settings: str | None
    ) -> None:
        """The track's ``policy.json``, which its pods follow live: the policy as it is now
        when the track runs its serving settings (``settings``, canaried) or when they are
        pushed at once. Otherwise the track keeps the file it has: a stable track runs its
        settings until a promotion gives it the canary's."""
        policy, meta = self.policy, release["metadata"]
        if policy is None:
            if settings is None:  # built without one: the pods' defaults, not a stale file
                config_map = objects.policy_config_map_name(meta["name"], track)
                self._delete("v1", "ConfigMap", meta["namespace"], config_map)
            return
        if canaried_settings(policy) not in (None, settings):
            return
        document = json.dumps(policy.to_wire(), sort_keys=True)
        self._apply(objects.policy_config_map(release, track, document))

    def _scale(self, deployment: dict[str, Any], replicas: int) -> None:
        meta = deployment["metadata"]
        key = ("scale", meta["namespace"], meta["name"])
        if deployment.get("spec", {}).get("replicas") == replicas or self.cache.fresh(
            key, replicas
        ):
            return
        self.kube.merge_patch(
            "apps/v1", "Deployment", meta["namespace"], meta["name"],
            {"spec": {"replicas": replicas}},
        )  # fmt: skip
        self.cache.remember(key, replicas)

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
            found = self._get(release, "stable")
            stable = allowed_replicas(wanted, _replicas(found), capacity)
            stable_hash = r.stable_hash or ""
            if found is not None and objects.deployment_hash(found) == stable_hash:
                # Its pods run the stable version's template and config; the spec may
                # describe the next version already, so only the size follows it.
                self._scale(found, stable)
                self._apply(objects.service(release, "stable"))
                self._apply_policy(release, "stable", r.stable_settings)
            else:  # first rollout, or a promotion: the spec is the stable version's
                self._apply_track(
                    release, spec, "stable", r.stable_version, r.stable_image, stable_hash,
                    stable, r.stable_settings,
                )  # fmt: skip
        if r.canary_active and r.canary_version and r.canary_image:
            canary = 0 if r.canary_held else desired  # held: the object, no pods
            self._apply_track(
                release, spec, "canary", r.canary_version, r.canary_image,
                r.canary_hash or "", canary, r.canary_settings,
            )  # fmt: skip
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
                for config_map in (objects.app_config_map_name, objects.policy_config_map_name):
                    self._delete(
                        "v1", "ConfigMap", namespace,
                        config_map(release["metadata"]["name"], "canary"),
                    )  # fmt: skip
                self._delete("v1", "Service", namespace, name)

    def ready(
        self,
        release: dict[str, Any],
        track: objects.Track,
        image: str | None,
        settings: str | None = None,
    ) -> bool:
        """All the track's pods updated and available with ``image``. ``settings`` needs no
        look: a change of them changes the pod template, and the Deployment is not ready
        until its pods run it."""
        if image is None:
            return False
        found = self._get(release, track)
        return found is not None and objects.deployment_ready(found, image)
