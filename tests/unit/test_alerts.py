"""The seeds' alerts: valid rules, and one promtool unit test per alert that proves it fires."""

from __future__ import annotations

import shutil
import subprocess

import yaml

from tests.helpers import ROOT

MONITORING = ROOT / "deploy" / "monitoring"


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    assert binary, "promtool comes with Debian's prometheus package (.ci/run installs it)"
    return subprocess.run(
        [binary, *args], capture_output=True, text=True, cwd=MONITORING, timeout=120
    )


def test_rules_are_valid() -> None:
    checked = _promtool("check", "rules", "alerts.yaml")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_every_alert_has_a_unit_test_and_they_pass() -> None:
    rules = yaml.safe_load((MONITORING / "alerts.yaml").read_text())
    alerts = {r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
    tests = yaml.safe_load((MONITORING / "alerts-test.yaml").read_text())["tests"]
    tested = {case["alertname"] for t in tests for case in t["alert_rule_test"]}
    assert alerts == tested
    ran = _promtool("test", "rules", "alerts-test.yaml")
    assert ran.returncode == 0, ran.stdout + ran.stderr
