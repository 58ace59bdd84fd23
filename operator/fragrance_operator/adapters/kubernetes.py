"""The Kubernetes API, as the operator uses it: server-side apply, reads, guarded status writes."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any, cast

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import ConflictError, NotFoundError

from fragrance_api.crd import API_VERSION
from fragrance_operator.adapters import metrics

FIELD_MANAGER = "fragrance-operator"


def api_client() -> client.ApiClient:
    """In-cluster credentials when running in a pod, else the kubeconfig (KUBECONFIG)."""
    configuration = client.Configuration()
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    else:
        config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=os.environ.get("KUBECONFIG"), client_configuration=configuration
        )
    configuration.connection_pool_maxsize = 48  # the executors: 32 default + 8 records, and room
    return client.ApiClient(configuration)


VERBS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})


def _count_requests(api: client.ApiClient) -> None:
    """Count every request this client sends (the scale benchmark's requests per release)."""
    send = api.call_api

    def counted(method: str, *args: Any, **kwargs: Any) -> Any:
        # Bounded whatever the client passes: kubernetes 37 calls call_api(method, url), and
        # a wrapper that took the URL for the method made a series per object (3,028 at 200
        # releases).
        metrics.API_REQUESTS.labels(method if method in VERBS else "other").inc()
        return send(method, *args, **kwargs)

    api.call_api = counted  # type: ignore[method-assign]


class Kube:
    def __init__(self, api: client.ApiClient | None = None) -> None:
        self.api = api or api_client()
        _count_requests(self.api)
        self.dynamic = DynamicClient(self.api)  # type: ignore[no-untyped-call]

    def _resource(self, api_version: str, kind: str) -> Any:
        return self.dynamic.resources.get(api_version=api_version, kind=kind)

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            found = self._resource(api_version, kind).get(name=name, namespace=namespace or None)
        except NotFoundError:
            return None
        return found.to_dict()  # type: ignore[no-any-return]

    def list(
        self, api_version: str, kind: str, namespace: str | None = None, field_selector: str = ""
    ) -> list[dict[str, Any]]:
        found = self._resource(api_version, kind).get(
            namespace=namespace, field_selector=field_selector or None
        )
        return [item.to_dict() for item in found.items]

    def watch(
        self, api_version: str, kind: str, namespace: str, name: str, seconds: int
    ) -> Iterator[dict[str, Any]]:
        """One object's changes (the object as it is now, first) for up to ``seconds``."""
        stream = self._resource(api_version, kind).watch(
            namespace=namespace, field_selector=f"metadata.name={name}", timeout=seconds
        )
        for event in stream:
            if event["type"] in ("ADDED", "MODIFIED"):
                yield event["raw_object"]

    def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        resource = self._resource(obj["apiVersion"], obj["kind"])
        applied = resource.server_side_apply(
            body=obj,
            namespace=obj["metadata"].get("namespace"),
            field_manager=FIELD_MANAGER,
            force_conflicts=True,
        )
        return applied.to_dict()  # type: ignore[no-any-return]

    def merge_patch(
        self, api_version: str, kind: str, namespace: str, name: str, body: dict[str, Any]
    ) -> None:
        self._resource(api_version, kind).patch(
            name=name, namespace=namespace, body=body, content_type="application/merge-patch+json"
        )

    def merge_patch_at(
        self,
        api_version: str,
        kind: str,
        namespace: str,
        name: str,
        body: dict[str, Any],
        resource_version: str,
    ) -> bool:
        """Merge-patch only if the object is still at ``resource_version`` (False on 409)."""
        guarded = {
            **body,
            "metadata": {**body.get("metadata", {}), "resourceVersion": resource_version},
        }
        try:
            self.merge_patch(api_version, kind, namespace, name, guarded)
        except ConflictError:
            return False
        return True

    def delete(self, api_version: str, kind: str, namespace: str, name: str) -> bool:
        try:
            self._resource(api_version, kind).delete(name=name, namespace=namespace)
        except NotFoundError:
            return False
        return True

    def patch_release_status(
        self, namespace: str, name: str, status: dict[str, Any], resource_version: str
    ) -> str | None:
        """Write status only if the object is still at ``resource_version``.

        Returns the object's new resourceVersion (None on 409: someone wrote first).
        """
        return self.patch_status("fragrancereleases", namespace, name, status, resource_version)

    def patch_status(
        self,
        plural: str,
        namespace: str,
        name: str,
        status: dict[str, Any],
        resource_version: str | None = None,
    ) -> str | None:
        """Merge-patch a custom resource's status; guarded by resourceVersion when given.

        Returns the new resourceVersion, None when the guard refused the write (409).
        """
        body: dict[str, Any] = {"status": status}
        if resource_version is not None:
            body["metadata"] = {"resourceVersion": resource_version}
        try:
            written = client.CustomObjectsApi(self.api).patch_namespaced_custom_object_status(
                "fragrance.ai", API_VERSION.split("/")[1], namespace, plural, name, body
            )
        except ApiException as error:
            if error.status == 409:
                return None
            raise
        return str(cast(dict[str, Any], written)["metadata"]["resourceVersion"])
