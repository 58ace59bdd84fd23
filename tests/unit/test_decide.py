"""The pure decision of a release tick: what is written, posted and cleared, without I/O."""

from __future__ import annotations

from dataclasses import replace

from fragrance_api.release_status import FragranceReleaseStatus
from fragrance_operator.canary import status as codec
from fragrance_operator.canary.autoscale import Sizing
from fragrance_operator.canary.capacity import Capacity
from fragrance_operator.canary.gate import Verdict
from fragrance_operator.canary.machine import Gate, Rollout
from fragrance_operator.canary.serving import Serving
from fragrance_operator.reconcile.decide import Observed, decide
from tests.unit.canary_scenarios import PLAN, STABLE, started

AT_REST = replace(PLAN, version="v1", image="serving:v1", spec_hash="h1")


def _status(r: Rollout, generation: int = 1) -> FragranceReleaseStatus:
    body = codec.status_body(r, generation=generation, now=0, previous=None)
    return FragranceReleaseStatus.model_validate(body)


def _seen(now: float = 100, **kw: object) -> Observed:
    fields: dict[str, object] = {
        "now": now,
        "canary_ready": True,
        "stable_ready": True,
        "sizing": Sizing(1),
        "capacity": None,
    }
    return Observed(**{**fields, **kw})  # type: ignore[arg-type]


def test_a_release_at_rest_writes_nothing_and_posts_nothing() -> None:
    d = decide(STABLE, AT_REST, _status(STABLE), 1, None, _seen())
    assert (d.status, d.events, d.notices, d.clear_action) == (None, (), (), False)


def test_a_new_generation_is_written_even_when_the_rollout_stays() -> None:
    d = decide(STABLE, AT_REST, _status(STABLE), 2, None, _seen())
    assert d.status is not None
    assert d.status["observedGeneration"] == 2


def test_a_failing_gate_rolls_back_writes_the_verdict_and_warns() -> None:
    r = started()
    verdict = Verdict("NO-GO", (), 10.0, "errorRate 0.2 > 0.05")
    gate = Gate("NO-GO", verdict.summary, 100, 0.1)
    d = decide(r, PLAN, _status(r), 1, None, _seen(verdict=verdict, gate=gate))
    assert d.rollout.phase == "RolledBack"
    assert d.rollout.weight == 0
    assert d.status is not None
    assert d.status["phase"] == "RolledBack"
    assert [e.reason for e in d.events if e.warning] == ["RolledBack"]


def test_an_unknown_action_is_warned_about_and_cleared() -> None:
    d = decide(STABLE, AT_REST, _status(STABLE), 1, "promote-now", _seen())
    assert d.clear_action
    assert not d.action_consumed
    assert [(n.reason, n.warning) for n in d.notices] == [("UnknownAction", True)]


def test_an_action_waiting_for_its_moment_stays() -> None:
    r = replace(started(), promoting=True)
    d = decide(r, PLAN, _status(r), 1, "abort", _seen(stable_ready=False))
    assert not d.clear_action  # the promotion finishes first; the abort is applied after


def test_the_scale_up_floor_is_announced_once() -> None:
    low = Capacity(0.1, 0.2)
    first = decide(STABLE, PLAN, _status(STABLE), 1, None, _seen(capacity=low))
    assert [(n.reason, n.warning) for n in first.notices] == [("ScaleUpBlocked", True)]
    assert first.status is not None
    again = decide(
        first.rollout, PLAN, FragranceReleaseStatus.model_validate(first.status), 1, None,
        _seen(capacity=low),
    )  # fmt: skip
    assert again.notices == ()


def test_a_ray_service_that_cannot_take_a_canary_is_a_condition_and_a_warning_once() -> None:
    r = started()
    down = Serving(False, "RayServiceUpgrading", "KubeRay is moving RayService brief to rc-2")
    d = decide(r, PLAN, _status(r), 1, None, _seen(serving=down, canary_ready=False))
    assert d.status is not None
    ready = next(c for c in d.status["conditions"] if c["type"] == "ServingReady")
    assert (ready["status"], ready["reason"]) == ("False", "RayServiceUpgrading")
    assert [(n.reason, n.warning) for n in d.notices] == [("RayServiceUpgrading", True)]
    # Said once: the next tick with the same reason writes nothing and posts nothing.
    after = FragranceReleaseStatus.model_validate(d.status)
    again = decide(d.rollout, PLAN, after, 1, None, _seen(serving=down, canary_ready=False))
    assert (again.status, again.notices) == (None, ())
    # Back to Ready: written and said.
    up = Serving(True, "RayServiceReady", "RayService brief is Ready")
    back = decide(d.rollout, PLAN, after, 1, None, _seen(serving=up))
    assert back.status is not None
    assert [(n.reason, n.warning) for n in back.notices] == [("RayServiceReady", False)]
