"""Feedback closes the loop: a brief gets the learner's formula, its rating trains the learner.

For each answered brief whose families include one the task knows, the served policy chooses
a formula (``episodes.choose``), which the answer carries and the book keeps under the
brief's id. ``POST /v1/feedback`` turns a rating of that id into the reward of that choice.
The learner warms up on its simulated rater until the first ``ppo.feedbackBatch`` ratings
are in; from then on it learns from real ratings alone, a batch at a time, and waits between
batches: the simulated rater's idea of a good formula must not pull back what users taught.
"""

from __future__ import annotations

import threading
from typing import Literal

from fragrance_serving.learning.choices import ChoiceBook, Rated
from fragrance_serving.learning.episodes import choose
from fragrance_serving.learning.ppo import Learner
from fragrance_serving.learning.task import FAMILIES, NOTES

TrainedOn = Literal["simulated", "feedback", "waiting"]


class FeedbackLoop:
    def __init__(self, learner: Learner, book: ChoiceBook) -> None:
        self.learner, self.book = learner, book
        self.lock = threading.Lock()  # one training iteration (or rollback) at a time

    def formula_for(
        self, brief_id: str, families: list[str], intensity: int
    ) -> dict[str, float] | None:
        """The learner's formula for a brief (note -> share, 0-1), kept for its rating; None
        when the brief names no family the task knows."""
        family = next((FAMILIES.index(f) for f in families if f in FAMILIES), None)
        if family is None:
            return None
        choice, formula = choose(
            self.learner.served,
            self.learner.task.shape,
            family,
            intensity / 100,
            self.book.clock(),
        )
        self.book.add(brief_id, choice)
        return {note: round(share, 3) for note, share in zip(NOTES, formula, strict=True)}

    def rate(self, brief_id: str, rating: float) -> Rated:
        """The rating becomes its choice's reward at the next batch; ``Refused`` if the id is
        unknown here, expired or already rated."""
        return self.book.rate(brief_id, rating)

    def train_once(self) -> TrainedOn:
        batch = self.book.take(self.learner.settings.feedback_batch)
        with self.lock:
            if batch:
                self.learner.learn(batch)
                trained: TrainedOn = "feedback"
            elif not self.learner.progress.feedback_episodes:
                self.learner.iterate()
                trained = "simulated"
            else:
                trained = "waiting"
        self.book.save()
        return trained

    @property
    def training_on(self) -> str:
        if self.learner.progress.feedback_episodes:
            return "feedback"
        return "simulated rater (warm start)"
