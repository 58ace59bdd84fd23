"""The demo's ending tells what happened: the title, summary.json and the budget."""

from __future__ import annotations

import json
from pathlib import Path

from fragrance_dev.demo.client import Client
from fragrance_dev.demo.follow import Outcome
from fragrance_dev.demo.report import summary_json, title
from fragrance_dev.demo.scenario import PLANNED, DemoConfig


def _outcomes(*phases: str) -> list[Outcome]:
    v1, *others = phases
    return [Outcome("v1", v1, 2.0)] + [
        Outcome(v, p, 60.0, ["GO"]) for v, p in zip(("v2", "v3"), others, strict=True)
    ]


def test_the_title_says_what_happened_not_what_was_planned(tmp_path: Path) -> None:
    client = Client("http://127.0.0.1:9/router/v1/brief")
    planned = _outcomes("Succeeded", "Succeeded", "RolledBack")
    assert title(planned, PLANNED, client) == (
        "FragranceRelease brief-api: v1 stable, v2 promoted, v3 rolled back"
    )
    client.counts.lost = 3
    went_wrong = _outcomes("Succeeded", "Timeout", "RolledBack")
    assert title(went_wrong, PLANNED, client) == (
        "FragranceRelease brief-api: v1 stable, v2 timed out, v3 rolled back, "
        "3 requests lost (not as planned)"
    )
    written = json.loads(
        summary_json(tmp_path / "s.json", went_wrong, client, PLANNED, 340).read_text()
    )
    assert written["asPlanned"] is False
    assert [r["outcome"] for r in written["rollouts"]] == ["Succeeded", "Timeout", "RolledBack"]
    assert written["client"]["lost"] == 3


def test_the_budget_per_rollout_follows_the_steps_and_the_interval() -> None:
    config = DemoConfig(models_dir=Path("models"))
    assert config.budget == 4 * 15 * 4 + 180  # 4 steps of up to 4 windows of 15 s, start
    fast = DemoConfig(models_dir=Path("models"), step_interval="8s", analysis_interval="8s")
    assert fast.budget < config.budget
