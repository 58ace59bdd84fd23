"""The JSON hard guard: any string in, a schema-valid brief or a marked fallback out."""

from __future__ import annotations

import asyncio
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from fragrance_serving.brief import Brief
from fragrance_serving.guards.json_guard import GuardSettings, check, guarded

GOOD = {
    "description": "A bright citrus opening over soft woods.",
    "notes": ["bergamot", "cedar", "musk"],
    "families": ["citrus", "woody"],
    "intensity": 60,
    "longevity": "long",
}


def _run(answers: list[str], **overrides: object) -> tuple[object, list[float]]:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    async def generate(attempt: int) -> str:
        return answers[min(attempt, len(answers) - 1)]

    outcome = asyncio.run(guarded(generate, GuardSettings(**overrides), sleep))  # type: ignore[arg-type]
    return outcome, waits


def test_valid_json_passes_untouched() -> None:
    result = check(json.dumps(GOOD))
    assert result.brief is not None
    assert result.fixes == 0
    assert not result.brief.error


def test_common_slips_are_repaired_and_counted() -> None:
    text = "Sure! ```json\n" + json.dumps({**GOOD, "longevity": "Moderate"}) + "\n```"
    result = check(text)
    assert result.brief is not None
    assert result.brief.longevity == "medium"
    assert result.fixes >= 2


def test_schema_violations_name_the_field() -> None:
    bad = check(json.dumps({**GOOD, "intensity": 180}))
    assert (bad.brief, bad.error) == (None, "schema")
    assert "intensity" in bad.detail
    assert check('{"description": "x"').error == "parse"
    assert "unknown notes" in check(json.dumps({**GOOD, "notes": ["unobtainium"]})).detail
    assert check(json.dumps({**GOOD, "notes": ["unobtainium"]}), strict=False).brief is not None


def test_garbage_retries_with_exponential_backoff_then_falls_back() -> None:
    outcome, waits = _run(["not json"], max_retries=3, backoff_base=1.0, jitter=0.5)
    assert outcome.fallback
    assert outcome.brief is not None
    assert outcome.brief.error
    assert outcome.retries == 3
    assert outcome.parse_failures == 4
    assert len(waits) == 3
    for wait, base in zip(waits, (1.0, 2.0, 4.0), strict=True):
        assert base <= wait <= base + 0.5


def test_a_good_answer_after_a_bad_one_is_used() -> None:
    outcome, waits = _run(["{oops", json.dumps(GOOD)])
    assert not outcome.fallback
    assert outcome.retries == 1
    assert outcome.brief == Brief.model_validate(GOOD)  # type: ignore[attr-defined]
    assert len(waits) == 1


def test_no_fallback_when_disabled() -> None:
    outcome, _ = _run(["nope"], max_retries=1, fallback_enabled=False)
    assert outcome.brief is None
    assert not outcome.fallback


def test_a_model_cannot_pass_off_its_own_error_brief() -> None:
    assert check(json.dumps({**GOOD, "error": True})).brief is None


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=400), st.binary(max_size=200).map(lambda b: b.decode("latin-1"))))
def test_property_any_string_gives_a_valid_brief_or_a_fallback(text: str) -> None:
    result = check(text)
    assert result.brief is None or isinstance(result.brief, Brief)
    outcome, _ = _run([text], max_retries=1, backoff_base=0.0, jitter=0.0)
    assert outcome.brief is not None  # type: ignore[attr-defined]
    Brief.model_validate(outcome.brief.model_dump())  # type: ignore[attr-defined]
    assert outcome.fallback == outcome.brief.error  # type: ignore[attr-defined]


@settings(max_examples=100, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
        max_leaves=20,
    )
)
def test_property_any_json_value_never_raises(value: object) -> None:
    result = check(json.dumps(value))
    assert (result.brief is None) == bool(result.error)
