"""The main job end to end: ``fragrance-dev demo`` (shortened) on this machine.

The local control plane, a real Prometheus, a local Ray Serve with the project's torch
models, the operator with the rayServe provider and a steady client: v2 is promoted through
the gate, then a TuningPolicy edit through a canary on v2, a faulty v3 is caught and rolled
back, and no client request is lost while the weights change.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT, project_models


@pytest.fixture(scope="module")
def demo_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return project_models(tmp_path_factory, {"fast": 600, "balanced": 500, "creative": 500}, 2000)


@pytest.mark.timeout(1200)
def test_demo_promotes_v2_and_a_policy_edit_rolls_back_v3_and_v4_and_loses_no_request(
    demo_models: Path, tmp_path: Path
) -> None:
    demo = subprocess.Popen(
        [sys.executable, "-m", "fragrance_dev.cli", "demo", "--fast",
         "--models", str(demo_models), "--out", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT,
    )  # fmt: skip
    try:
        output, _ = demo.communicate(timeout=900)
    except subprocess.TimeoutExpired:
        demo.send_signal(signal.SIGTERM)  # a clean stop: nothing left behind
        output, _ = demo.communicate(timeout=120)
        pytest.fail(f"the demo did not finish in 15 minutes:\n{output[-6000:]}")
    assert demo.returncode == 0, output[-6000:]
    summary = output[output.rindex("version  outcome") :]
    assert "v2       Succeeded" in summary
    assert "v3       RolledBack" in summary
    assert "v4       RolledBack" in summary
    assert "shadow: 50% of stable's requests mirrored" in output, "v2 had a shadow phase"
    assert " 0 lost" in summary, summary
    assert "NO-GO" in summary.splitlines()[4], "v3's rollback came from the gate"
    assert (tmp_path / "timeline.png").stat().st_size > 10_000
    written = json.loads((tmp_path / "summary.json").read_text())
    assert written["asPlanned"] is True
    rollouts = written["rollouts"]
    assert [(r["version"], r["outcome"]) for r in rollouts] == [
        ("v1", "Succeeded"),
        ("v2", "Succeeded"),
        ("policy", "Succeeded"),
        ("v3", "RolledBack"),
        ("v4", "RolledBack"),
    ]
    assert "policy   Succeeded" in summary
    assert "canary of the policy's settings" in output, "the edit went through a canary"
    assert rollouts[2]["gateDecisions"][-1] == "GO", "the settings were promoted on a GO"
    assert "evaluation NO-GO before any traffic" in rollouts[4]["reason"]
    assert rollouts[4]["gateDecisions"] == [], "v4 never reached a traffic step's gate"
