"""The demo client's traffic: every mode in turn, mostly repeated prompts (so caches warm)."""

from __future__ import annotations

from collections import Counter

from fragrance_api.modes import MODES
from fragrance_dev.demo.client import HOT, request_body


def test_every_worker_sends_every_mode_evenly() -> None:
    for worker in range(6):
        modes = Counter(request_body(worker, n)["mode"] for n in range(300))
        assert set(modes) == set(MODES)
        assert max(modes.values()) - min(modes.values()) <= 1


def test_three_requests_in_four_repeat_a_hot_prompt_in_every_mode() -> None:
    bodies = [request_body(worker, n) for worker in range(6) for n in range(240)]
    hot = [b for b in bodies if b["prompt"] in HOT]
    assert len(hot) >= 3 * len(bodies) // 4
    for mode in MODES:
        assert {b["prompt"] for b in hot if b["mode"] == mode} == set(HOT)
    assert len({b["prompt"] for b in bodies}) > len(HOT)  # and a long tail of cold ones
