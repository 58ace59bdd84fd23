"""The gatewayAPI provider writes weights over the HTTPRoute its watch saw, guarded by that
copy's resourceVersion: an edit the watch has not shown yet is kept, not overwritten."""

from __future__ import annotations

import copy
import json
from typing import Any

from kubernetes import config

from fragrance_api.release import FragranceReleaseSpec
from fragrance_dev.cluster import LocalCluster
from fragrance_operator.adapters.kubernetes import Kube
from fragrance_operator.builders.objects import child_name
from fragrance_operator.drivers.traffic import GatewayAPITraffic
from tests.fleet import release, route


def _route(cluster: LocalCluster, namespace: str, name: str) -> dict[str, Any]:
    got = cluster.kubectl("get", "httproute", name, "-n", namespace, "-o", "json")
    return json.loads(got.stdout)  # type: ignore[no-any-return]


def test_a_weight_written_over_a_stale_copy_keeps_the_users_edit(
    cluster: LocalCluster, namespace: str
) -> None:
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(route("r")))
    watched = _route(cluster, namespace, "r")
    # The user adds a path match after the watch's copy was taken.
    edited = copy.deepcopy(watched)
    edited["spec"]["rules"][0]["matches"] = [{"path": {"type": "PathPrefix", "value": "/v1"}}]
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(edited))
    assert (
        _route(cluster, namespace, "r")["metadata"]["resourceVersion"]
        != (watched["metadata"]["resourceVersion"])
    )

    traffic = GatewayAPITraffic(
        Kube(config.new_client_from_config(str(cluster.layout.kubeconfig))),
        lambda ns, name: watched,
    )
    doc = release("r", "v2", 10)
    doc["metadata"]["namespace"] = namespace
    traffic.set_weight(doc, FragranceReleaseSpec.model_validate(doc["spec"]), 25)

    rules = _route(cluster, namespace, "r")["spec"]["rules"]
    split = next(rule for rule in rules if not rule["matches"][0].get("headers"))
    assert split["matches"][0]["path"] == {"type": "PathPrefix", "value": "/v1"}, rules
    weights = {ref["name"]: ref["weight"] for ref in split["backendRefs"]}
    assert weights == {child_name("r", "stable"): 75, child_name("r", "canary"): 25}
