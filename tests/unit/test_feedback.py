"""Feedback closes the loop: the learner's choices for briefs, their ratings, what it learns.

The learner is the real one (torch on CPU) and so is the book of choices with its file; the
users are simulated: they rate what the learner chose with a preference it does not know.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from fragrance_serving.learning.choices import Choice, ChoiceBook, Refused
from fragrance_serving.learning.feedback import FeedbackLoop
from fragrance_serving.learning.ppo import Learner, LearnerSettings
from fragrance_serving.learning.task import FAMILIES, NOTES

WOODY = (NOTES.index("cedar"), NOTES.index("sandalwood"))
#: The test's learning rate (the policy's ppo.learningRate), its batch (ppo.feedbackBatch),
#: and the ratings within which the drift must show: docs/learning.md quotes them.
RATE, BATCH, RATINGS = 3e-4, 64, 1536


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """As in the PPO worker: tiny tensors, where a second thread costs more than it gives."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


MADE = time.time()


def _choice(made: float = MADE) -> Choice:
    return Choice(2, 0.5, (0,) * 8, (-3.0,) * 8, made)


def test_a_brief_is_rated_once_and_unknown_ids_are_refused(tmp_path: Path) -> None:
    book = ChoiceBook(tmp_path / "choices.json")
    book.add("a", _choice())
    rated = book.rate("a", 4.0)
    assert rated.rating == 4.0
    with pytest.raises(Refused) as again:
        book.rate("a", 5.0)
    assert again.value.reason == "rated"
    assert "already rated" in again.value.message
    with pytest.raises(Refused) as unknown:
        book.rate("nope", 3.0)
    assert unknown.value.reason == "unknown"
    assert unknown.value.message.startswith("briefId:")
    assert book.counts() == (0, 1)


def test_expired_and_evicted_choices_cannot_be_rated(tmp_path: Path) -> None:
    now = [1000.0]
    book = ChoiceBook(None, capacity=3, ttl_seconds=60, clock=lambda: now[0])
    book.add("old", _choice(made=now[0]))
    now[0] += 61
    with pytest.raises(Refused, match="older than 60 s"):
        book.rate("old", 3.0)
    for name in "abcd":
        book.add(name, _choice(made=now[0]))
    assert book.counts() == (3, 0), "bounded: the oldest made room"
    with pytest.raises(Refused):
        book.rate("a", 3.0)
    book.rate("d", 3.0)


def test_the_book_survives_a_restart_and_a_bad_file_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "choices.json"
    book = ChoiceBook(path)
    book.add("pending", _choice())
    book.add("rated", _choice())
    book.rate("rated", 5.0)
    book.save()
    restarted = ChoiceBook(path)
    assert restarted.note == "restored 1 pending and 1 rated choices from choices.json"
    assert restarted.counts() == (1, 1)
    with pytest.raises(Refused, match="already rated"):
        restarted.rate("rated", 1.0)
    assert restarted.rate("pending", 2.0).choice == _choice()
    path.write_text("{not json")
    assert ChoiceBook(path).note.startswith(f"skipped {path}")


def _woody_share(formula: dict[str, float]) -> float:
    shares = [formula[note] for note in NOTES]
    return sum(shares[i] for i in WOODY) / sum(shares)


def _loop(tmp_path: Path) -> FeedbackLoop:
    torch.manual_seed(0)
    settings = LearnerSettings(learning_rate=RATE, feedback_batch=BATCH)
    learner = Learner(settings, tmp_path, seed=0)
    return FeedbackLoop(learner, ChoiceBook(tmp_path / "choices.json"))


def _woody_share_of_choices(loop: FeedbackLoop, count: int = 300) -> float:
    """Mean woody share of the formulas chosen for briefs of the other families."""
    others = [f for f in FAMILIES if f != "woody"]
    chosen = (loop.formula_for(f"probe-{i}", [others[i % len(others)]], 50) for i in range(count))
    return statistics.fmean(_woody_share(f) for f in chosen if f is not None)


def test_users_who_like_woody_notes_draw_the_choices_toward_them(tmp_path: Path) -> None:
    loop = _loop(tmp_path)
    for _ in range(30):
        assert loop.train_once() == "simulated"  # the warm start: the rater's ideal formulas
    assert loop.training_on == "simulated rater (warm start)"
    before = _woody_share_of_choices(loop)
    generator = torch.Generator().manual_seed(5)
    ratings = []
    for index in range(RATINGS):
        family = FAMILIES[int(torch.randint(len(FAMILIES), (1,), generator=generator))]
        intensity = int(torch.randint(101, (1,), generator=generator))
        formula = loop.formula_for(f"brief-{index}", [family], intensity)
        assert formula is not None
        assert set(formula) == set(NOTES)
        rating = 1 + 4 * min(1.0, _woody_share(formula) / 0.5)  # the hidden preference
        loop.rate(f"brief-{index}", rating)
        ratings.append(rating)
        if (index + 1) % BATCH == 0:
            assert loop.train_once() == "feedback"
    after = _woody_share_of_choices(loop)
    print(f"woody share of the choices: {before:.3f} -> {after:.3f} after {RATINGS} ratings")
    assert loop.training_on == "feedback"
    assert loop.learner.progress.feedback_episodes == RATINGS
    assert after > before + 0.15, (before, after)
    assert statistics.fmean(ratings[-BATCH:]) > statistics.fmean(ratings[:BATCH]) + 1
    assert loop.train_once() == "waiting", "no simulated rater once real ratings came"


def test_a_flood_of_ratings_for_unknown_ids_changes_nothing(tmp_path: Path) -> None:
    loop = _loop(tmp_path)
    loop.formula_for("real", ["woody"], 40)
    weights = {k: v.clone() for k, v in loop.learner.model.state_dict().items()}
    for index in range(10_000):
        with pytest.raises(Refused):
            loop.rate(f"forged-{index}", 5.0)
    assert loop.book.counts() == (1, 0)
    assert loop.train_once() == "simulated", "nothing to learn from: still the warm start"
    assert loop.learner.progress.feedback_episodes == 0
    fresh = _loop(tmp_path / "fresh")
    fresh.formula_for("real", ["woody"], 40)
    fresh.train_once()
    for name, tensor in loop.learner.model.state_dict().items():
        assert torch.equal(tensor, fresh.learner.model.state_dict()[name]), name
    assert any(not torch.equal(weights[k], v) for k, v in loop.learner.model.state_dict().items())


def test_a_brief_without_a_family_the_task_knows_gets_no_formula(tmp_path: Path) -> None:
    loop = _loop(tmp_path)
    assert loop.formula_for("x", ["gourmand", "fresh"], 50) is None
    assert loop.book.counts() == (0, 0)
