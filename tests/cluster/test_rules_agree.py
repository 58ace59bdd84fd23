"""Property test: the apiserver (CEL + schema) and the operator's models accept the same specs."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from fragrance_api import FragranceRelease, TuningPolicy
from fragrance_dev.cluster import LocalCluster

T = TypeVar("T")
SETTINGS = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
DURATIONS = ["0s", "10s", "30s", "1m", "90s", "5m", "1h", "1h30m"]


class Dimension(Generic[T]):
    """A part of a spec, drawn valid except when it is the one part chosen to go wild."""

    def __init__(self, valid: st.SearchStrategy[T], anything: st.SearchStrategy[T]) -> None:
        self.valid, self.anything = valid, anything


def draw_spec_parts(data: st.DataObject, *dimensions: Dimension[Any]) -> list[Any]:
    """At most one part is drawn from anything, so about half the specs are valid and both
    verdicts are exercised, not just refusals."""
    wild = data.draw(st.integers(0, 2 * len(dimensions) - 1))
    return [
        data.draw(dim.anything if index == wild else dim.valid)
        for index, dim in enumerate(dimensions)
    ]


STEPS = Dimension(
    st.sets(st.integers(1, 99), max_size=4).map(lambda s: [*sorted(s), 100]),
    st.lists(st.integers(-5, 110), max_size=6),
)
# (stepInterval, analysis.interval, progressDeadline), by index into DURATIONS.
TIMING = Dimension(
    st.tuples(st.integers(1, 6), st.integers(1, 6), st.integers(1, 7))
    .filter(lambda t: t[1] <= t[0] < t[2])
    .map(lambda t: (t[0], t[1], t[2])),
    st.tuples(*[st.integers(0, len(DURATIONS) - 1)] * 3),
)
# (replicas, minReplicas, maxReplicas)
REPLICAS = Dimension(
    st.lists(st.integers(0, 10), min_size=3, max_size=3).map(lambda v: tuple(sorted(v)))
    .filter(lambda v: v[2] >= 1)
    .map(lambda v: (v[1], v[0], v[2])),
    st.tuples(st.integers(0, 12), st.integers(0, 10), st.integers(0, 10)),
)  # fmt: skip
MODES = Dimension(
    st.lists(st.sampled_from(["fast", "balanced", "creative"]), min_size=1, max_size=3,
             unique=True),
    st.lists(st.sampled_from(["fast", "balanced", "creative"]), min_size=1, max_size=3),
)  # fmt: skip
SHARES = Dimension(
    st.tuples(st.integers(0, 100), st.integers(0, 100)).map(
        lambda t: (min(t), max(t) - min(t), 100 - max(t))
    ),
    st.tuples(*[st.integers(-5, 105)] * 3),
)
ENTROPY = Dimension(
    st.tuples(st.floats(0, 1), st.floats(0, 1)).map(lambda t: (max(t), min(t))),
    st.tuples(st.floats(0, 1.2), st.floats(0, 1.2)),
)
TTL_CLEANUP = Dimension(
    st.tuples(st.integers(1, 1000), st.integers(1, 1000)).map(lambda t: (max(t), min(t))),
    st.tuples(st.integers(0, 1000), st.integers(0, 1000)),
)
WINDOW = Dimension(
    st.tuples(st.integers(1, 50), st.integers(1, 50)).map(lambda t: (max(t), min(t))),
    st.tuples(st.integers(0, 50), st.integers(0, 50)),
)


def _accepted(doc: dict[str, Any], model: Any) -> bool:
    try:
        model.model_validate({"spec": doc["spec"]})
    except ValidationError:
        return False
    return True


def _check_agreement(
    cluster: LocalCluster, namespace: str, doc: dict[str, Any], model: Any
) -> None:
    result = cluster.kubectl(
        "apply", "--dry-run=server", "-n", namespace, "-f", "-",
        input=yaml.safe_dump(doc), check=False,
    )  # fmt: skip
    python_accepts = _accepted(doc, model)
    event("accepted" if python_accepts else "refused")
    assert (result.returncode == 0) == python_accepts, (doc["spec"], result.stderr)


@SETTINGS
@given(data=st.data())
def test_canary_rules_agree(cluster: LocalCluster, namespace: str, data: st.DataObject) -> None:
    steps, timing, replicas, modes = draw_spec_parts(data, STEPS, TIMING, REPLICAS, MODES)
    step_interval, analysis_interval, deadline = (DURATIONS[i] for i in timing)
    doc = {
        "apiVersion": "fragrance.ai/v1alpha1",
        "kind": "FragranceRelease",
        "metadata": {"name": "prop"},
        "spec": {
            "version": "v1",
            "image": "serving:v1",
            "models": [{"name": f"m{i}", "mode": mode} for i, mode in enumerate(modes)],
            "traffic": {"provider": "rayServe"},
            "workload": {"replicas": replicas[0]},
            "scaling": {"minReplicas": replicas[1], "maxReplicas": replicas[2]},
            "canary": {
                "steps": steps,
                "stepInterval": step_interval,
                "progressDeadline": deadline,
                "analysis": {"interval": analysis_interval},
            },
        },
    }
    _check_agreement(cluster, namespace, doc, FragranceRelease)


@SETTINGS
@given(data=st.data())
def test_policy_rules_agree(cluster: LocalCluster, namespace: str, data: st.DataObject) -> None:
    shares, entropy, ttl_cleanup, window = draw_spec_parts(
        data, SHARES, ENTROPY, TTL_CLEANUP, WINDOW
    )
    doc = {
        "apiVersion": "fragrance.ai/v1alpha1",
        "kind": "TuningPolicy",
        "metadata": {"name": "prop"},
        "spec": {
            "trafficDistribution": dict(zip(("fast", "balanced", "creative"), shares, strict=True)),
            "ppo": {"entropyCoef": {"initial": entropy[0], "final": entropy[1]}},
            "cache": {"ttlSeconds": ttl_cleanup[0], "cleanupIntervalSeconds": ttl_cleanup[1]},
            "circuitBreaker": {"windowSize": window[0], "minimumCalls": window[1]},
        },
    }
    _check_agreement(cluster, namespace, doc, TuningPolicy)
