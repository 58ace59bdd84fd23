"""The GitOps manifests: kustomize overlays render, validate against the models and are
accepted by the apiserver (server-side dry run); Flux and Argo CD objects are well formed."""

from __future__ import annotations

import pytest
import yaml

from fragrance_api.policy import TuningPolicySpec
from fragrance_api.release import FragranceReleaseSpec
from fragrance_dev.cluster import LocalCluster
from tests.helpers import ROOT

DEPLOY = ROOT / "deploy"


@pytest.mark.parametrize("overlay", ["staging", "production"])
def test_overlay_renders_validates_and_is_accepted(cluster: LocalCluster, overlay: str) -> None:
    rendered = cluster.kubectl("kustomize", str(DEPLOY / "kustomize" / "overlays" / overlay))
    docs = [d for d in yaml.safe_load_all(rendered.stdout) if d]
    assert {d["kind"] for d in docs} == {"FragranceRelease", "TuningPolicy"}
    namespace = docs[0]["metadata"]["namespace"]
    for doc in docs:
        model = FragranceReleaseSpec if doc["kind"] == "FragranceRelease" else TuningPolicySpec
        model.model_validate(doc["spec"])
    cluster.kubectl("create", "namespace", namespace, check=False)
    applied = cluster.kubectl(
        "apply", "--dry-run=server", "-f", "-", input=rendered.stdout, check=False
    )
    assert applied.returncode == 0, applied.stderr
    release = next(d for d in docs if d["kind"] == "FragranceRelease")
    if overlay == "production":
        assert release["spec"]["canary"]["manualPromotion"] is True
        assert release["spec"]["scaling"]["autoscale"] is True


def test_flux_and_argocd_objects_point_at_the_chart_and_the_overlay() -> None:
    flux = {
        d["kind"]: d
        for f in (DEPLOY / "flux").glob("*.yaml")
        for d in yaml.safe_load_all(f.read_text())
        if d
    }
    assert set(flux) == {"GitRepository", "HelmRelease", "Kustomization"}
    chart = flux["HelmRelease"]["spec"]["chart"]["spec"]["chart"]
    assert (ROOT / chart).is_dir()
    assert (ROOT / flux["Kustomization"]["spec"]["path"]).is_dir()
    kinds = {c["kind"] for c in flux["Kustomization"]["spec"]["healthChecks"]}
    assert kinds == {"FragranceRelease", "TuningPolicy"}
    app = yaml.safe_load((DEPLOY / "argocd" / "application.yaml").read_text())
    assert (ROOT / app["spec"]["source"]["path"]).is_dir()


def test_argocd_leaves_the_ray_services_serve_config_to_the_operator() -> None:
    app = yaml.safe_load((DEPLOY / "argocd" / "serving-application.yaml").read_text())
    source = app["spec"]["source"]
    assert (ROOT / source["path"] / source["directory"]["include"]).is_file()
    (ignored,) = app["spec"]["ignoreDifferences"]
    assert (ignored["group"], ignored["kind"]) == ("ray.io", "RayService")
    assert ignored["managedFieldsManagers"] == ["fragrance-operator"]
    assert ignored["jsonPointers"] == ["/spec/serveConfigV2"]
    assert "RespectIgnoreDifferences=true" in app["spec"]["syncPolicy"]["syncOptions"]
