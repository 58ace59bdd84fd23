"""The Helm chart: lint, template, schema, then installed on the local control plane and the
operator run under the chart's ServiceAccount through a whole canary: its RBAC is enough,
and no more than enough."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from fragrance_dev.cluster import LocalCluster
from tests.cluster.rollouts import CPU_ONLY, promoted, start
from tests.helpers import CHART, ROOT, helm
from tests.prometheus_server import PrometheusServer
from tests.serving_exporter import ServingExporter


def _template(cluster: LocalCluster, *sets: str) -> list[dict[str, Any]]:
    flags = [f"--set={s}" for s in sets]
    out = helm(cluster, "template", "fr", str(CHART), "--namespace", "ops", *flags).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def test_chart_lints_templates_and_refuses_bad_values(cluster: LocalCluster) -> None:
    lint = helm(cluster, "lint", str(CHART), check=False)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    docs = _template(cluster)
    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "ServiceAccount", "ClusterRole", "Role", "Service"} <= kinds
    (deployment,) = (d for d in docs if d["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["resources"]["limits"]["memory"]
    assert {"livenessProbe", "readinessProbe"} <= set(container)
    for role in (d for d in docs if d["kind"] in ("ClusterRole", "Role")):
        for rule in role["rules"]:
            assert "secrets" not in rule["resources"], role["metadata"]["name"]
            assert "*" not in rule["verbs"]
            assert "*" not in rule["resources"]
    monitored = {d["kind"] for d in _template(cluster, "serviceMonitor.enabled=true",
                                               "prometheusRule.enabled=true")}  # fmt: skip
    assert {"ServiceMonitor", "PrometheusRule"} <= monitored
    scoped = _template(cluster, "watchNamespaces={team-a,team-b}")
    bindings = [
        d["metadata"]["namespace"] for d in scoped
        if d["kind"] == "RoleBinding" and d["metadata"]["name"] == "fr-fragrance-operator"
    ]  # fmt: skip
    assert sorted(bindings) == ["team-a", "team-b"]
    webhook = {d["kind"]: d for d in _template(cluster, "webhook.enabled=true")}
    (hook,) = webhook["ValidatingWebhookConfiguration"]["webhooks"]
    # kopf serves each admission handler at /<handler id>: main.validate_release.
    assert hook["clientConfig"]["service"]["path"] == "/validate_release"
    assert hook["failurePolicy"] == "Ignore"
    assert "fr-fragrance-operator-webhook.ops.svc" in webhook["Certificate"]["spec"]["dnsNames"]
    env = {e["name"]: e.get("value") for e in
           webhook["Deployment"]["spec"]["template"]["spec"]["containers"][0]["env"]}  # fmt: skip
    assert env["FRAGRANCE_WEBHOOK_MANAGED"] == "false"
    bad = helm(cluster, "template", "fr", str(CHART), "--set", "replicaCount=0", check=False)
    assert bad.returncode != 0
    assert "replicaCount" in bad.stderr


def test_chart_ships_the_generated_crds_and_the_tested_alerts() -> None:
    for crd in (ROOT / "crds").glob("*.yaml"):
        assert (CHART / "crds" / crd.name).read_text() == crd.read_text(), crd.name
    alerts = ROOT / "deploy" / "monitoring" / "alerts.yaml"
    assert (CHART / "files" / "alerts.yaml").read_text() == alerts.read_text()


@pytest.fixture
def installed(cluster: LocalCluster, namespace: str) -> Iterator[str]:
    install = helm(
        cluster, "install", "fr", str(CHART), "--namespace", namespace, "--wait",
        "--timeout", "120s", "--set", "replicaCount=1", check=False,
    )  # fmt: skip
    assert install.returncode == 0, install.stdout + install.stderr
    yield namespace
    helm(cluster, "uninstall", "fr", "--namespace", namespace, check=False)


def test_operator_under_the_charts_service_account_completes_a_canary(
    cluster: LocalCluster,
    installed: str,
    namespace: str,
    prometheus: PrometheusServer,
    serving_exporter: ServingExporter,
    release_name: str,
    tmp_path: Path,
) -> None:
    account = "fr-fragrance-operator"
    kubeconfig = cluster.mint_kubeconfig(installed, account, tmp_path / "sa.kubeconfig", "1h")

    def can(*args: str) -> bool:
        got = cluster.kubectl("--kubeconfig", str(kubeconfig), "auth", "can-i", *args, check=False)
        return got.stdout.strip() == "yes"

    assert can("patch", "fragrancereleases.fragrance.ai/status", "-n", namespace)
    assert can("create", "deployments", "-n", "default")
    assert not can("get", "secrets", "-n", namespace), "no Secrets, anywhere"
    assert not can("get", "secrets", "-n", "kube-system")
    assert not can("delete", "nodes")
    assert not can("create", "clusterrolebindings")
    assert can("watch", "namespaces"), "kopf matches watchNamespaces against the namespaces"
    assert not can("delete", "namespaces")

    env = {
        **os.environ,
        "KUBECONFIG": str(kubeconfig),
        "FRAGRANCE_PROMETHEUS_URL": prometheus.url,
        "FRAGRANCE_TICK": "0.5",
        "FRAGRANCE_LEASE_NAMESPACE": installed,
        "FRAGRANCE_LEASE_SECONDS": "4",
        "FRAGRANCE_METRICS_PORT": "0",
    }
    log = (tmp_path / "operator.log").open("wb")
    operator = subprocess.Popen(
        [sys.executable, "-m", "fragrance_operator.cli", "operator"],
        env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        serving_exporter.set(release_name)
        watcher = start(cluster, namespace, release_name, spec=CPU_ONLY)
        watcher.until("v2 promoted under the chart's RBAC", promoted, timeout=120)
        assert watcher.weights[-2:] == [100, 0]
    finally:
        operator.terminate()
        operator.wait(timeout=30)
        log.close()
    # An RBAC denial says who "cannot" do what; other 403s (an event posted into another
    # test's namespace while it terminates) are not about the chart's permissions.
    forbidden = [
        line
        for line in (tmp_path / "operator.log").read_text().splitlines()
        if "403" in line and "cannot" in line
    ]
    assert forbidden == [], forbidden[:5]
