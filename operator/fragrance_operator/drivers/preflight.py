"""``fragrance preflight``: the T-1 checks that make sense before a release.

CRDs installed, Prometheus reachable, traffic object present, the TuningPolicy found with
its guards enabled, every model of the stable track healthy, VRAM headroom above the floor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fragrance_api.crd import API_VERSION, KINDS
from fragrance_api.policy import TuningPolicySpec
from fragrance_api.release import FragranceReleaseSpec
from fragrance_operator.adapters.kubernetes import Kube
from fragrance_operator.adapters.prometheus import Prometheus
from fragrance_operator.canary.capacity import headroom_query, ray_service


@dataclass(frozen=True)
class Finding:
    name: str
    ok: bool
    message: str


def _crds(kube: Kube) -> list[Finding]:
    findings = []
    for kind in KINDS:
        crd = kube.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", "", kind.crd_name)
        conditions = (crd or {}).get("status", {}).get("conditions", [])
        established = any(c["type"] == "Established" and c["status"] == "True" for c in conditions)
        message = "established" if established else "missing: kubectl apply -f crds/"
        findings.append(Finding(f"crd/{kind.crd_name}", established, message))
    return findings


def _traffic(kube: Kube, namespace: str, spec: FragranceReleaseSpec) -> Finding:
    traffic = spec.traffic
    if traffic.provider == "gatewayAPI" and traffic.gateway_api is not None:
        ref = ("gateway.networking.k8s.io/v1", "HTTPRoute", traffic.gateway_api.http_route)
    elif traffic.provider == "nginx" and traffic.nginx is not None:
        ref = ("networking.k8s.io/v1", "Ingress", traffic.nginx.ingress)
    else:
        return Finding("traffic", True, f"{traffic.provider}: nothing to look up")
    found = kube.get(ref[0], ref[1], namespace, ref[2])
    return Finding("traffic", found is not None, f"{ref[1]} {ref[2]}" + (
        " found" if found is not None else " not found"
    ))  # fmt: skip


def _policy(kube: Kube, namespace: str, spec: FragranceReleaseSpec) -> list[Finding]:
    name = spec.tuning_policy_ref.name
    found = kube.get(API_VERSION, "TuningPolicy", namespace, name)
    if found is None:
        return [Finding("tuningPolicy", False, f"TuningPolicy {namespace}/{name} not found")]
    policy = TuningPolicySpec.model_validate(found.get("spec") or {})
    return [
        Finding("tuningPolicy", True, f"{namespace}/{name} found"),
        Finding("guard/jsonGuard", policy.json_guard.enabled, _on(policy.json_guard.enabled)),
        Finding(
            "guard/circuitBreaker",
            policy.circuit_breaker.enabled,
            _on(policy.circuit_breaker.enabled),
        ),
        Finding("guard/cache", policy.cache.enabled, _on(policy.cache.enabled)),
    ]


def _on(enabled: bool) -> str:
    return "enabled" if enabled else "disabled: production needs it"


def _models(prom: Prometheus, release: str, spec: FragranceReleaseSpec) -> list[Finding]:
    answer = prom.query(f'llm_health_status{{release="{release}",track="stable"}}')
    if answer.samples is None:
        return [Finding("models", False, f"Prometheus: {answer.error}")]
    health = {labels.get("model"): value for labels, value in answer.samples}
    findings = []
    for model in spec.models:
        value = health.get(model.name)
        ok = value == 1
        message = "no data" if value is None else ("healthy" if ok else "unhealthy")
        findings.append(Finding(f"model/{model.name}", ok, message))
    return findings


def _vram(prom: Prometheus, release: str, namespace: str, spec: FragranceReleaseSpec) -> Finding:
    if not spec.workload.gpus_per_replica:
        return Finding("vramHeadroom", True, "the release requests no GPUs")
    answer = prom.query(headroom_query(release, namespace, "stable", ray_service(spec)))
    floor = spec.scaling.vram_headroom_min
    if not answer.samples:
        return Finding("vramHeadroom", False, f"no data ({answer.error or 'no series'})")
    headroom = answer.samples[0][1]
    ok = headroom >= floor
    return Finding("vramHeadroom", ok, f"{headroom:.0%} free (floor {floor:.0%})")


def run(kube: Kube, prom: Prometheus, namespace: str, name: str) -> list[Finding]:
    findings = _crds(kube)
    healthy = prom.healthy()
    findings.append(Finding("prometheus", healthy, prom.url + (" ready" if healthy else " down")))
    release: dict[str, Any] | None = kube.get(API_VERSION, "FragranceRelease", namespace, name)
    if release is None:
        findings.append(Finding("release", False, f"FragranceRelease {namespace}/{name} not found"))
        return findings
    spec = FragranceReleaseSpec.model_validate(release["spec"])
    findings.append(_traffic(kube, namespace, spec))
    findings += _policy(kube, namespace, spec)
    findings += _models(prom, name, spec)
    findings.append(_vram(prom, name, namespace, spec))
    return findings
