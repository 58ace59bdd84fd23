"""The autoscaler's decisions with an injected clock: breach windows, cooldown, limits."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from fragrance_api.release import FragranceReleaseSpec
from fragrance_api.release_status import AutoscalingStatus
from fragrance_operator.builders import objects
from fragrance_operator.canary.autoscale import Policy, State, gpu_limit, recommend, step
from fragrance_operator.canary.autoscale_status import (
    autoscaling_body,
    policy_from_spec,
    state_from_status,
)
from fragrance_operator.canary.checks import load_query, load_signal

POLICY = Policy(minimum=1, maximum=8, target=5.0, scale_up_after=60, cooldown=600)


def test_recommendation_follows_the_signal_within_bounds_and_tolerance() -> None:
    assert recommend(2, 10.0, POLICY, None) == 4  # twice the target per replica
    assert recommend(2, 5.4, POLICY, None) == 2  # within 10%
    assert recommend(2, 100.0, POLICY, None) == 8  # maxReplicas
    assert recommend(4, 0.0, POLICY, None) == 1  # minReplicas
    assert recommend(2, 10.0, POLICY, gpu_limit=3) == 3  # the nodes' GPUs
    assert recommend(5, 1.0, POLICY, gpu_limit=3) == 1  # the limit never blocks shrinking
    assert recommend(5, 10.0, POLICY, gpu_limit=3) == 5  # nor shrinks what runs


def test_scale_up_waits_for_a_sustained_breach() -> None:
    state = State(2)
    first = step(state, POLICY, 10.0, now=1000)
    assert (first.reason, first.state.replicas, first.state.breach_since) == (
        "ScaleUpPending",
        2,
        1000,
    )
    still = step(first.state, POLICY, 10.0, now=1059)
    assert still.reason == "ScaleUpPending"
    grown = step(still.state, POLICY, 10.0, now=1060)
    assert (grown.reason, grown.state.replicas, grown.state.last_scale_up) == ("ScaledUp", 4, 1060)
    assert grown.scaled


def test_an_increase_held_by_the_vram_floor_does_not_compound() -> None:
    # 4 replicas aimed for, 2 still running (the floor holds the write): the per-replica
    # signal of those 2 still asks for 4, not for 4 scaled by it again.
    held = State(4, last_scale_up=0)
    again = step(held, POLICY, 10.0, now=100, serving=2)
    assert (again.reason, again.state.replicas, again.recommended) == ("Steady", 4, 4)


def test_a_breach_that_ends_restarts_the_window() -> None:
    pending = step(State(2), POLICY, 10.0, now=0).state
    calm = step(pending, POLICY, 5.0, now=30).state
    assert calm.breach_since is None
    again = step(calm, POLICY, 10.0, now=61)
    assert again.reason == "ScaleUpPending"


def test_scale_down_waits_the_cooldown_and_takes_the_window_peak() -> None:
    state = State(6, last_scale_up=0)
    low = step(state, POLICY, 5.0, now=100)  # 6 replicas at target: steady
    assert low.reason == "Steady"
    t = 1000.0
    s = step(state, POLICY, 2.0, now=t).state  # wants ceil(6*0.4)=3
    s = step(s, POLICY, 4.0, now=t + 300).state  # wants 5: the peak
    s = step(s, POLICY, 1.0, now=t + 500).state
    pending = step(s, POLICY, 1.0, now=t + 599)
    assert pending.reason == "ScaleDownPending"
    done = step(pending.state, POLICY, 1.0, now=t + 600)
    assert (done.reason, done.state.replicas) == ("ScaledDown", 5)


def test_no_scale_down_within_cooldown_of_a_scale_up() -> None:
    state = State(4, last_scale_up=1000)
    s = step(state, POLICY, 1.0, now=1001).state
    pending = step(s, POLICY, 1.0, now=1599)
    assert pending.reason == "ScaleDownPending"
    assert step(pending.state, POLICY, 1.0, now=1601).reason == "ScaledDown"


def test_no_signal_holds_and_forgets_the_windows() -> None:
    pending = step(State(2), POLICY, 10.0, now=0).state
    held = step(pending, POLICY, None, now=120)
    assert (held.reason, held.state.replicas, held.state.breach_since) == ("NoSignal", 2, None)
    assert step(State(2), POLICY, float("nan"), now=0).reason == "NoSignal"


def test_bounds_changed_under_the_size_apply_at_once() -> None:
    moved = step(State(10), POLICY, None, now=5)
    assert (moved.reason, moved.state.replicas) == ("ScaledDown", 8)


@given(
    signals=st.lists(
        st.one_of(st.none(), st.floats(min_value=0, max_value=1000)), min_size=1, max_size=60
    ),
    gap=st.floats(min_value=1, max_value=120),
)
def test_property_never_out_of_bounds_and_no_flapping(
    signals: list[float | None], gap: float
) -> None:
    state, now = State(2), 0.0
    last_up: float | None = None
    for signal in signals:
        now += gap
        result = step(state, POLICY, signal, now)
        assert POLICY.minimum <= result.state.replicas <= POLICY.maximum
        if result.reason == "ScaledUp":
            last_up = now
        if result.reason == "ScaledDown" and last_up is not None:
            assert now - last_up >= POLICY.cooldown
        state = result.state


def test_gpu_limit_counts_free_gpus_of_ready_schedulable_nodes() -> None:
    def node(gpus: int, ready: bool = True, cordoned: bool = False) -> dict[str, object]:
        return {
            "spec": {"unschedulable": cordoned},
            "status": {
                "allocatable": {"nvidia.com/gpu": str(gpus)},
                "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            },
        }

    def pod(gpus: int, ns: str, **labels: str) -> dict[str, object]:
        limits = {"limits": {"nvidia.com/gpu": str(gpus)}}
        return {
            "metadata": {"namespace": ns, "labels": labels},
            "spec": {"containers": [{"resources": limits}]},
            "status": {"phase": "Running"},
        }

    nodes = [node(8), node(8), node(8, ready=False), node(8, cordoned=True), node(0)]
    assert objects.allocatable_gpus(nodes) == 16
    mine = {"release": "r", "track": "stable"}
    pods = [pod(2, "a", **mine), pod(2, "a", **mine), pod(4, "b", **mine), pod(3, "a")]
    used = objects.requested_gpus(pods, "a", mine)
    assert used == 7  # our own stable pods are what we resize, so they do not count
    assert gpu_limit(16, used, 2) == 4
    assert gpu_limit(16, used, 0) is None


def _spec(**scaling: object) -> FragranceReleaseSpec:
    return FragranceReleaseSpec.model_validate(
        {
            "version": "v1",
            "image": "serving:v1",
            "models": [{"name": "a", "mode": "fast"}, {"name": "b", "mode": "creative"}],
            "traffic": {"provider": "rayServe"},
            "scaling": {"autoscale": True, **scaling},
        }
    )


def test_signals_from_prometheus_samples() -> None:
    rps = _spec()
    assert 'http_requests_total{release="r",track="stable"}' in load_query("r", rps)
    assert load_signal(rps, [({}, 12.0)], replicas=3) == 4.0
    assert load_signal(rps, [], replicas=3) is None
    latency = _spec(metric="latencyBudget")
    assert "http_request_duration_seconds_bucket" in load_query("r", latency)
    samples = [({"mode": "fast"}, 2.0), ({"mode": "creative"}, 2.25)]
    assert load_signal(latency, samples, replicas=1) == 2.0 / 2.5  # worst of 0.8 and 0.5


def test_status_round_trip_keeps_the_windows() -> None:
    spec = _spec(scaleUpAfter="2m", scaleDownCooldown="5m", targetRequestsPerReplica=3)
    policy = policy_from_spec(spec)
    assert (policy.target, policy.scale_up_after, policy.cooldown) == (3.0, 120, 300)
    pending = step(State(2), policy, 9.0, now=1_700_000_000.5)
    body = autoscaling_body(pending, 9.0, None, now=1_700_000_000.5)
    saved = AutoscalingStatus.model_validate(body)
    assert state_from_status(saved, replicas=99) == pending.state
    assert state_from_status(None, replicas=3) == State(3)
