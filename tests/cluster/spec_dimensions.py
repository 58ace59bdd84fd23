"""The parts of FragranceRelease and TuningPolicy specs the property tests draw: each part
valid, or (one part per spec) anything, so both verdicts of the apiserver are exercised."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from hypothesis import strategies as st

from fragrance_api.canary import COMPARABLE_CHECKS
from fragrance_api.notifications import TRIGGERS

T = TypeVar("T")
DURATIONS = ["0s", "10s", "30s", "1m", "90s", "5m", "1h", "1h30m"]
NAMES = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True)
# JSON a user could write by mistake: numbers, text, booleans, small lists and objects.
JUNK = st.recursive(
    st.one_of(
        st.booleans(),
        st.integers(-(10**6), 10**6),
        st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
        st.text(max_size=12),
    ),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=2)
    ),
    max_leaves=4,
)


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


def _or_junk(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(strategy, JUNK)


STEPS = Dimension(
    st.sets(st.integers(1, 99), max_size=4).map(lambda s: [*sorted(s), 100]),
    _or_junk(st.lists(st.integers(-5, 110), max_size=6)),
)
# (stepInterval, analysis.interval, progressDeadline), by index into DURATIONS.
TIMING = Dimension(
    st.tuples(st.integers(1, 6), st.integers(1, 6), st.integers(1, 7)).filter(
        lambda t: t[1] <= t[0] < t[2]
    ),
    st.tuples(*[st.integers(0, len(DURATIONS) - 1)] * 3),
)
# (replicas, minReplicas, maxReplicas)
REPLICAS = Dimension(
    st.lists(st.integers(0, 10), min_size=3, max_size=3).map(lambda v: tuple(sorted(v)))
    .filter(lambda v: v[2] >= 1)
    .map(lambda v: (v[1], v[0], v[2])),
    st.tuples(st.integers(-2, 12), st.integers(-2, 10), st.integers(-2, 10)),
)  # fmt: skip
MODEL = st.fixed_dictionaries(
    {"mode": st.sampled_from(["fast", "balanced", "creative"])},
    optional={
        "backend": st.just("torch"),
        "vramGiB": st.floats(0, 80, allow_nan=False),
        "gpus": st.floats(0, 4, allow_nan=False),
    },
)
MODELS = Dimension(
    st.lists(MODEL, min_size=1, max_size=3, unique_by=lambda m: m["mode"]).map(
        lambda ms: [{"name": f"m{i}", **m} for i, m in enumerate(ms)]
    ),
    st.lists(
        st.fixed_dictionaries(
            {"name": _or_junk(NAMES), "mode": _or_junk(st.sampled_from(["fast", "creative"]))},
            optional={"backend": _or_junk(st.sampled_from(["openai", "torch"])),
                      "endpoint": _or_junk(st.just("http://llm:8000/v1")),
                      "vramGiB": JUNK},
        ),
        max_size=9,
    ),
)  # fmt: skip
ANALYSIS = Dimension(
    st.fixed_dictionaries(
        {},
        optional={
            "failureLimit": st.integers(0, 5),
            "inconclusiveLimit": st.integers(1, 10),
            "onInconclusive": st.sampled_from(["pause", "rollback"]),
            "minRequests": st.integers(1, 1000),
            "minRequestsPerMode": st.integers(1, 100),
        },
    ),
    st.dictionaries(
        st.sampled_from(["failureLimit", "inconclusiveLimit", "onInconclusive", "minRequests",
                         "minRequestsPerMode", "thresholds"]),
        JUNK, max_size=3,
    ),
)  # fmt: skip
COMPARE = Dimension(
    st.lists(
        st.fixed_dictionaries(
            {"check": st.sampled_from(COMPARABLE_CHECKS), "relative": st.floats(0, 5)},
            optional={"absolute": st.floats(0, 10), "confidence": st.floats(0.5, 0.99),
                      "severity": st.sampled_from(["NO-GO", "WARNING"])},
        ),
        max_size=3, unique_by=lambda c: c["check"],
    ),
    st.lists(
        st.fixed_dictionaries(
            {"check": _or_junk(st.sampled_from([*COMPARABLE_CHECKS, "nope"]))},
            optional={"relative": JUNK, "absolute": JUNK, "confidence": JUNK},
        ),
        max_size=3,
    ),
)  # fmt: skip
# (shadow percent, shadow duration index, evaluation)
SHADOW = Dimension(
    st.tuples(st.integers(0, 100), st.integers(3, 7)),
    st.tuples(_or_junk(st.integers(-5, 150)), st.integers(0, len(DURATIONS) - 1)),
)
EVALUATION = Dimension(
    st.fixed_dictionaries(
        {"enabled": st.booleans()},
        optional={"minSchemaValidRate": st.floats(0, 1), "maxMeanRetries": st.floats(0, 10),
                  "qualityTolerance": st.floats(0, 1), "minAnswered": st.floats(0.01, 1),
                  "concurrency": st.integers(1, 64), "timeout": st.sampled_from(DURATIONS[1:])},
    ),
    st.dictionaries(
        st.sampled_from(["enabled", "minSchemaValidRate", "minAnswered", "concurrency",
                         "prompts", "configMapRef", "timeout"]),
        JUNK, max_size=3,
    ),
)  # fmt: skip
NOTIFICATIONS = Dimension(
    st.lists(
        st.fixed_dictionaries(
            {"name": NAMES, "type": st.sampled_from(["webhook", "slack"]),
             "secretRef": st.fixed_dictionaries({"name": NAMES})},
            optional={"triggers": st.lists(st.sampled_from(TRIGGERS), min_size=1, unique=True)},
        ),
        max_size=3, unique_by=lambda t: t["name"],
    ),
    st.lists(
        st.fixed_dictionaries(
            {"name": _or_junk(NAMES), "type": _or_junk(st.sampled_from(["webhook", "email"]))},
            optional={"secretRef": JUNK, "triggers": st.lists(
                _or_junk(st.sampled_from(TRIGGERS)), max_size=3)},
        ),
        max_size=3,
    ),
)  # fmt: skip
HEADROOM = Dimension(st.floats(0, 1), _or_junk(st.floats(-1, 2)))

# TuningPolicy
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
ROLLOUT = Dimension(  # the policy's rollout mode: an enum, absent by default
    st.sampled_from([None, "canary", "immediate"]),
    _or_junk(st.sampled_from(["Canary", "", "gradual"])),
)
GUARD = Dimension(
    st.fixed_dictionaries(
        {}, optional={"maxRetries": st.integers(0, 5), "strictSchema": st.booleans(),
                      "maxAnswerChars": st.integers(64, 65536)},
    ),
    st.dictionaries(st.sampled_from(["maxRetries", "strictSchema", "maxAnswerChars"]), JUNK,
                    max_size=2),
)  # fmt: skip
