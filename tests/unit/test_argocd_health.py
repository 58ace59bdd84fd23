"""Argo CD's Lua health checks for both kinds, run by a real Lua against status fixtures."""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

import pytest

from tests.helpers import ROOT

ARGOCD = ROOT / "deploy" / "argocd"


def _lua(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "{" + ", ".join(_lua(v) for v in value) + "}"
    return "{" + ", ".join(f"[{_lua(k)}] = {_lua(v)}" for k, v in value.items()) + "}"


def health(script: str, obj: dict[str, Any]) -> tuple[str, str]:
    lua = shutil.which("lua5.4") or shutil.which("lua")
    assert lua, "lua5.4 comes from Debian (.ci/run installs it)"
    body = (ARGOCD / script).read_text()
    program = (
        f"obj = {_lua(obj)}\nlocal hs = (function()\n{body}\nend)()\n"
        "io.write(hs.status .. '|' .. hs.message)"
    )
    run = subprocess.run([lua, "-"], input=program, capture_output=True, text=True, timeout=10)
    assert run.returncode == 0, run.stderr
    status, _, message = run.stdout.partition("|")
    return status, message


def release(**status: Any) -> dict[str, Any]:
    return {"metadata": {"generation": 2}, "status": {"observedGeneration": 2, **status}}


@pytest.mark.parametrize(
    ("status", "expected", "words"),
    [
        ({"phase": "Progressing", "canaryVersion": "v2", "canaryWeight": 25, "currentStep": 2},
         "Progressing", "v2 at 25% (step 3)"),
        ({"phase": "Succeeded", "stableVersion": "v2"}, "Healthy", "v2 is stable"),
        ({"phase": "RolledBack", "canaryVersion": "v3",
          "history": [{"version": "v3", "reason": "gate NO-GO: errorRate5xx"}]},
         "Degraded", "v3 RolledBack: gate NO-GO: errorRate5xx"),
        ({"phase": "Paused", "canaryWeight": 5, "pauseReason": "ScaleUpBlocked"},
         "Suspended", "paused at 5%: ScaleUpBlocked"),
    ],
)  # fmt: skip
def test_fragrancerelease_health(status: dict[str, Any], expected: str, words: str) -> None:
    assert health("fragrancerelease-health.lua", release(**status)) == (expected, words)


def test_fragrancerelease_not_yet_observed_is_progressing() -> None:
    assert (
        health("fragrancerelease-health.lua", {"metadata": {"generation": 1}})[0] == "Progressing"
    )
    stale = {
        "metadata": {"generation": 3},
        "status": {"observedGeneration": 2, "phase": "Succeeded"},
    }
    assert health("fragrancerelease-health.lua", stale) == (
        "Progressing",
        "the operator has not seen generation 3 yet",
    )


def test_tuningpolicy_health() -> None:
    def policy(ready: str, applied: str) -> dict[str, Any]:
        return {"status": {"conditions": [
            {"type": "Ready", "status": ready, "message": "settings written"},
            {"type": "Applied", "status": applied, "message": "no FragranceRelease yet"},
        ]}}  # fmt: skip

    assert health("tuningpolicy-health.lua", policy("True", "True"))[0] == "Healthy"
    assert health("tuningpolicy-health.lua", policy("True", "False")) == (
        "Progressing",
        "no FragranceRelease yet",
    )
    assert health("tuningpolicy-health.lua", policy("False", "False"))[0] == "Degraded"
    assert health("tuningpolicy-health.lua", {})[0] == "Progressing"
    rolling = policy("True", "True")
    rolling["status"]["rollouts"] = [
        {"release": "a", "state": "Serving", "message": "the stable track runs them"},
        {"release": "b", "state": "RollingOut", "message": "step 2, 5%"},
    ]
    assert health("tuningpolicy-health.lua", rolling) == ("Progressing", "b: RollingOut step 2, 5%")
    rolling["status"]["rollouts"][0] = {"release": "a", "state": "RolledBack", "message": "NO-GO"}
    assert health("tuningpolicy-health.lua", rolling) == (
        "Degraded",
        "a rolled these settings back: NO-GO",
    )


def test_the_argocd_cm_patch_carries_the_tested_scripts() -> None:
    import yaml

    data = yaml.safe_load((ARGOCD / "argocd-cm-patch.yaml").read_text())["data"]
    prefix = "resource.customizations.health.fragrance.ai_"
    assert data[prefix + "FragranceRelease"] == (ARGOCD / "fragrancerelease-health.lua").read_text()
    assert data[prefix + "TuningPolicy"] == (ARGOCD / "tuningpolicy-health.lua").read_text()
