"""A strict guard is strict: property tests, one per class of answer it must refuse."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from fragrance_serving.brief import FAMILIES, NOTES
from fragrance_serving.guards.json_guard import check

words = st.text(st.characters(categories=["L", "N"]), min_size=1, max_size=40)
briefs = st.fixed_dictionaries(
    {
        "description": st.lists(words, min_size=1, max_size=8).map(" ".join),
        "notes": st.lists(st.sampled_from(NOTES), min_size=1, max_size=12, unique=True),
        "families": st.lists(st.sampled_from(FAMILIES), min_size=1, max_size=4, unique=True),
        "intensity": st.integers(0, 100),
        "longevity": st.sampled_from(["short", "medium", "long"]),
    }
)
#: Where a string sits in a brief: the description, or one item of a list.
places = st.sampled_from([("description", None), ("notes", 0), ("families", 0)])


def _put(brief: dict[str, Any], place: tuple[str, int | None], text: str) -> dict[str, Any]:
    key, index = place
    changed = {**brief, key: list(brief[key]) if index is not None else text}
    if index is not None:
        changed[key][index] = text
    return changed


@given(briefs)
def test_an_exact_brief_passes(brief: dict[str, Any]) -> None:
    result = check(json.dumps(brief))
    assert result.brief is not None, result.detail
    assert result.brief.model_dump(exclude={"error"}) == brief


@given(briefs, st.one_of(st.booleans(), st.integers(0, 100).map(str), st.floats(0, 100)))
def test_no_type_is_coerced(brief: dict[str, Any], intensity: object) -> None:
    result = check(json.dumps({**brief, "intensity": intensity}))
    assert (result.brief, result.error) == (None, "type"), result.detail


@given(briefs, places, st.text(" \u00a0\u2003\u3000", min_size=0, max_size=5))
def test_no_blank_string(brief: dict[str, Any], place: tuple[str, int | None], blank: str) -> None:
    result = check(json.dumps(_put(brief, place, blank)))
    assert result.brief is None
    assert result.error in ("blank", "schema")  # "" is also shorter than the schema allows


@given(briefs, places, st.characters(categories=["Cc", "Cf"]), st.integers(0, 50))
def test_no_control_or_format_character(
    brief: dict[str, Any], place: tuple[str, int | None], char: str, at: int
) -> None:
    key, index = place
    text = brief[key] if index is None else brief[key][index]
    at = min(at, len(text))
    result = check(json.dumps(_put(brief, place, text[:at] + char + text[at:])))
    assert (result.brief, result.error) == (None, "control"), result.detail


@given(briefs, st.integers(1, 5000))
def test_an_answer_over_the_cap_is_refused_before_parsing(
    brief: dict[str, Any], extra: int
) -> None:
    answer = json.dumps(brief)
    padded = answer + " " * (1024 - len(answer) + extra)
    result = check(padded, max_chars=1024)
    assert (result.brief, result.error) == (None, "too_long")
    assert check(answer, max_chars=1024).brief is not None


def test_the_lenient_guard_still_coerces_what_it_can() -> None:
    lenient = check(
        json.dumps(
            {"description": "x", "notes": ["rose"], "families": ["floral"], "intensity": "60",
             "longevity": "long"}
        ),
        strict=False,
    )  # fmt: skip
    assert lenient.brief is not None
    assert lenient.brief.intensity == 60
