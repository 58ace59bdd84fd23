"""The VRAM floor, without I/O: when a GPU scale-up waits, and what the machine does."""

from __future__ import annotations

from fragrance_api.release import FragranceReleaseSpec
from fragrance_operator.canary.admission import replicas_raised, review
from fragrance_operator.canary.capacity import Capacity, allowed_replicas, headroom_query
from fragrance_operator.canary.machine import Action, Observation, PauseReason, advance
from tests.unit.canary_scenarios import PLAN, STABLE, run


def test_floor_blocks_below_and_allows_at_or_above() -> None:
    assert Capacity(0.15, 0.20).blocked
    assert not Capacity(0.25, 0.20).blocked
    assert not Capacity(0.20, 0.20).blocked
    assert "15% < floor 20%" in Capacity(0.15, 0.20).message


def test_unknown_headroom_blocks_with_its_own_reason() -> None:
    unknown = Capacity(None, 0.20)
    assert unknown.blocked
    assert unknown.reason == "HeadroomUnknown"


def test_only_increases_of_running_workloads_wait() -> None:
    low = Capacity(0.1, 0.2)
    assert allowed_replicas(3, 2, low) == 2  # increase held
    assert allowed_replicas(1, 2, low) == 1  # scale-down never blocked
    assert allowed_replicas(3, None, low) == 3  # nothing running yet
    assert allowed_replicas(3, 2, Capacity(0.5, 0.2)) == 3
    assert allowed_replicas(3, 2, None) == 3


def test_headroom_query_reads_serving_gauges_or_dcgm() -> None:
    query = headroom_query("brief-api", "prod")
    assert 'gpu_memory_used_bytes{release="brief-api"}' in query
    assert 'DCGM_FI_DEV_FB_FREE{namespace="prod",pod=~"brief-api-(stable|canary)-.*"}' in query


def test_canary_start_waits_for_headroom_then_resumes_by_itself() -> None:
    held = run(STABLE, PLAN, 0, scale_up_blocked=True, capacity_message="VRAM 15%")
    assert (held.phase, held.pause_reason, held.weight) == (
        "Paused", PauseReason.SCALE_UP_BLOCKED, 0,
    )  # fmt: skip
    assert held.canary_held
    assert run(held, PLAN, 5000, scale_up_blocked=True).phase == "Paused"  # no deadline
    ignored = advance(held, PLAN, Observation(now=10, action=Action.RESUME))
    assert ignored.rollout.phase == "Paused"
    resumed = run(held, PLAN, 20, scale_up_blocked=False)
    assert (resumed.phase, resumed.step_started_at) == ("Progressing", 20)
    assert run(resumed, PLAN, 21, canary_ready=True).weight == 1


def test_a_running_canary_is_not_paused_by_the_floor() -> None:
    r = run(STABLE, PLAN, 0)
    r = run(r, PLAN, 1, canary_ready=True)
    assert r.weight == 1
    assert run(r, PLAN, 2, scale_up_blocked=True).phase == "Progressing"


def _spec(replicas: int, gpus: int = 1) -> FragranceReleaseSpec:
    return FragranceReleaseSpec.model_validate(
        {
            "version": "v1",
            "image": "serving:v1",
            "models": [{"name": "llama", "mode": "fast"}],
            "traffic": {"provider": "rayServe"},
            "workload": {"replicas": replicas, "gpusPerReplica": gpus},
        }
    )


def test_admission_refuses_raising_replicas_under_the_floor_naming_both() -> None:
    verdict = review(_spec(2), _spec(3), "ns", Capacity(0.15, 0.2), policy_found=True)
    assert not verdict.allowed
    assert "spec.workload.replicas: raising 2 -> 3" in verdict.message
    assert "15% < floor 20%" in verdict.message


def test_admission_allows_scale_down_creation_and_cpu_releases() -> None:
    low = Capacity(0.15, 0.2)
    assert review(_spec(3), _spec(2), "ns", low, True).allowed
    assert review(None, _spec(3), "ns", low, True).allowed
    assert review(_spec(2, gpus=0), _spec(3, gpus=0), "ns", low, True).allowed
    assert not replicas_raised(_spec(2, gpus=0), _spec(3, gpus=0))


def test_admission_warns_about_a_missing_policy_without_refusing() -> None:
    verdict = review(None, _spec(1), "ns", None, policy_found=False)
    assert verdict.allowed
    assert verdict.warnings == [
        "spec.tuningPolicyRef: TuningPolicy default not found in ns; the release runs with "
        "default guards until it exists"
    ]


def test_on_a_ray_service_dcgm_is_read_over_its_ray_pods_whichever_the_track() -> None:
    query = headroom_query("brief", "prod", "canary", ray_service="brief-api")
    assert 'pod=~"brief-api-.*"' in query
    assert 'release="brief",track="canary"' in query  # the serving's own gauges first
