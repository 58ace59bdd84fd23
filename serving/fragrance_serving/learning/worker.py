"""The PPO worker as a Ray Serve deployment beside the ensemble.

It trains in a background thread with a duty cycle (``pauseSeconds`` between iterations,
so the learner never starves the serving replicas of CPU), takes the TuningPolicy through
``reconfigure``, chooses a formula for each brief and learns from its rating
(:mod:`~fragrance_serving.learning.feedback`), rolls back on demand and exports its metrics.
"""

from __future__ import annotations

import threading
from collections import deque
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from ray import serve

from fragrance_serving import policy_file
from fragrance_serving.learning.choices import ChoiceBook, Refused
from fragrance_serving.learning.feedback import FeedbackLoop
from fragrance_serving.learning.ppo import Learner, LearnerSettings, Progress
from fragrance_serving.learning.settings import from_policy
from fragrance_serving.settings import parse_policy


class LearnerMetrics:
    def __init__(self, release: str, track: str) -> None:
        self.registry = r = CollectorRegistry()
        self.base = {"release": release, "track": track}
        names = list(self.base)
        self.entropy = Gauge("ppo_entropy_coef", "Entropy coefficient now.", names, registry=r)
        self.step = Gauge("ppo_training_step", "Optimiser steps so far.", names, registry=r)
        self.loss = Gauge("ppo_loss", "Mean PPO loss, last iteration.", names, registry=r)
        self.reward = Gauge("ppo_reward", "Mean final rating, recent episodes.", names, registry=r)
        self.norm_mean = Gauge("reward_normalizer_mean", "Window mean.", names, registry=r)
        self.norm_std = Gauge("reward_normalizer_std", "Window std.", names, registry=r)
        self.saves = Counter("checkpoint_saves", "Checkpoints written.", names, registry=r)
        self.rollbacks = Counter("checkpoint_rollbacks", "Rollbacks.", names, registry=r)
        self.feedback = Counter("ppo_feedback", "Feedback ratings received.", names, registry=r)
        self.rating = Gauge("ppo_feedback_rating_mean", "Mean feedback rating.", names, registry=r)
        self.refused = Counter(
            "ppo_feedback_refused", "Ratings refused, by reason.", [*names, "reason"], registry=r
        )
        self.pending = Gauge(
            "ppo_choices_pending", "Briefs' choices waiting for a rating.", names, registry=r
        )
        self.waiting = Gauge(
            "ppo_ratings_waiting", "Ratings not yet learnt from.", names, registry=r
        )
        self.episodes = Gauge(
            "ppo_feedback_episodes", "Rated briefs learnt from so far.", names, registry=r
        )
        self.on_feedback = Gauge(
            "ppo_training_on_feedback",
            "1 once the learner learns from real ratings; 0 while it warms up on its "
            "simulated rater.",
            names,
            registry=r,
        )
        self._saves = self._rollbacks = 0

    def update(self, learner: Learner) -> None:
        p, b = learner.progress, self.base
        self.entropy.labels(**b).set(p.entropy_coef)
        self.step.labels(**b).set(p.step)
        if p.loss is not None:
            self.loss.labels(**b).set(p.loss)
        if p.reward_mean is not None:
            self.reward.labels(**b).set(p.reward_mean)
        self.norm_mean.labels(**b).set(learner.normalizer.mean)
        self.norm_std.labels(**b).set(learner.normalizer.std)
        self.episodes.labels(**b).set(p.feedback_episodes)
        self.on_feedback.labels(**b).set(1 if p.feedback_episodes else 0)
        self.saves.labels(**b).inc(p.checkpoint_saves - self._saves)
        self.rollbacks.labels(**b).inc(p.rollbacks - self._rollbacks)
        self._saves, self._rollbacks = p.checkpoint_saves, p.rollbacks


def progress_body(loop: FeedbackLoop) -> dict[str, Any]:
    progress: Progress = loop.learner.progress
    pending, waiting = loop.book.counts()
    return {
        "trainingOn": loop.training_on,
        "feedbackEpisodes": progress.feedback_episodes,
        "choicesPending": pending,
        "ratingsWaiting": waiting,
        "step": progress.step,
        "entropyCoef": progress.entropy_coef,
        "rewardMean": progress.reward_mean,
        "loss": progress.loss,
        "rollbacks": progress.rollbacks,
        "lastRollbackReason": progress.last_rollback_reason,
        "lastCheckpointStep": progress.last_checkpoint_step,
        "checkpointSaves": progress.checkpoint_saves,
        "notes": [loop.book.note, *progress.notes][-10:],
    }


@serve.deployment(ray_actor_options={"num_cpus": 0.1})
class PPOWorker:
    def __init__(
        self, release: str, track: str, checkpoint_dir: str, pause_seconds: float, seed: int = 0
    ) -> None:
        import torch

        torch.set_num_threads(1)
        self.metrics = LearnerMetrics(release, track)
        self.learner = Learner(LearnerSettings(), Path(checkpoint_dir), seed)
        self.loop = FeedbackLoop(self.learner, ChoiceBook(Path(checkpoint_dir) / "choices.json"))
        self.lock = self.loop.lock
        self.pause = pause_seconds
        self.ratings: deque[float] = deque(maxlen=1000)
        self.stop = threading.Event()
        threading.Thread(target=self._train, daemon=True, name="ppo").start()
        # In a pod: the operator's ConfigMap, the policy's only source (see BriefAPI).
        self._policy_file = policy_file.follow(self._apply_policy)

    def reconfigure(self, config: dict[str, Any]) -> None:
        policy_file.apply_unless_followed(self._policy_file, self._apply_policy, config)
        track = config.get("track")
        with self.lock:
            if track and track != self.metrics.base["track"]:  # promoted: see BriefAPI
                self.metrics = LearnerMetrics(self.metrics.base["release"], str(track))
                self.metrics.update(self.learner)

    def _apply_policy(self, config: dict[str, Any]) -> None:
        settings = from_policy(parse_policy(config.get("policy")), self.learner.settings)
        with self.lock:
            self.learner.reconfigure(settings)

    def _train(self) -> None:
        while not self.stop.wait(self.pause):
            self.loop.train_once()
            with self.lock:
                self.metrics.update(self.learner)

    async def rollback(self) -> dict[str, Any]:
        with self.lock:
            done = self.learner.rollback("manual (admin API)")
            self.metrics.update(self.learner)
            return {"rolledBack": done, **progress_body(self.loop)}

    async def progress(self) -> dict[str, Any]:
        return progress_body(self.loop)

    async def choose(self, brief_id: str, families: list[str], intensity: int) -> Any:
        """The learner's formula for an answered brief (or None), kept for its rating."""
        return self.loop.formula_for(brief_id, families, intensity)

    async def feedback(self, brief_id: str, rating: float) -> dict[str, str] | None:
        """None when the rating is taken; else why not, as ``{"reason", "message"}``."""
        base = self.metrics.base
        try:
            self.loop.rate(brief_id, rating)
        except Refused as refused:
            self.metrics.refused.labels(**base, reason=refused.reason).inc()
            return {"reason": refused.reason, "message": refused.message}
        self.ratings.append(rating)
        self.metrics.feedback.labels(**base).inc()
        self.metrics.rating.labels(**base).set(sum(self.ratings) / len(self.ratings))
        return None

    async def metrics_text(self) -> bytes:
        pending, waiting = self.loop.book.counts()
        self.metrics.pending.labels(**self.metrics.base).set(pending)
        self.metrics.waiting.labels(**self.metrics.base).set(waiting)
        return generate_latest(self.metrics.registry)

    def __del__(self) -> None:
        self.stop.set()
