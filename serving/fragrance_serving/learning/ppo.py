"""PPO on the formulation task, with its safety rails.

Clipped surrogate objective, GAE, entropy bonus from the schedule, rewards normalised over
a rolling window, a checkpoint every ``saveEvery`` optimiser steps (atomic, verified), and
an automatic rollback to the last good checkpoint on a loss spike or a reward drop. A
training *step* is one optimiser update (a minibatch), the unit of the schedule.
"""

from __future__ import annotations

import copy
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.distributions import Categorical

from fragrance_serving.learning.checkpoint import CheckpointStore
from fragrance_serving.learning.choices import Rated
from fragrance_serving.learning.episodes import replay
from fragrance_serving.learning.normalizer import RewardNormalizer
from fragrance_serving.learning.rollback import RollbackDetector, RollbackRules
from fragrance_serving.learning.schedule import EntropySchedule
from fragrance_serving.learning.task import FormulationTask, TaskShape


@dataclass(frozen=True)
class LearnerSettings:
    learning_rate: float = 5e-5
    clip_epsilon: float = 0.2
    feedback_batch: int = 64
    entropy: EntropySchedule = field(default_factory=EntropySchedule)
    normalize_rewards: bool = True
    reward_window: int = 1000
    reward_clip: float = 1.0
    save_every: int = 500
    keep: int = 10
    rollback: RollbackRules = field(default_factory=RollbackRules)
    envs: int = 32
    rollout: int = 32
    epochs: int = 4
    minibatches: int = 4
    gamma: float = 0.99
    lam: float = 0.95
    hidden: int = 64


class ActorCritic(nn.Module):
    def __init__(self, shape: TaskShape, hidden: int) -> None:
        super().__init__()
        self.actor = nn.Sequential(
            nn.Linear(shape.observation, hidden), nn.Tanh(),
            nn.Linear(hidden, hidden), nn.Tanh(),
            nn.Linear(hidden, shape.actions),
        )  # fmt: skip
        self.critic = nn.Sequential(
            nn.Linear(shape.observation, hidden), nn.Tanh(),
            nn.Linear(hidden, 1),
        )  # fmt: skip

    def policy(self, observation: torch.Tensor) -> Categorical:
        return Categorical(logits=self.actor(observation))

    def value(self, observation: torch.Tensor) -> torch.Tensor:
        value: torch.Tensor = self.critic(observation).squeeze(-1)
        return value


@dataclass
class Progress:
    step: int = 0
    loss: float | None = None
    entropy_coef: float = 0.0
    reward_mean: float | None = None  # mean final rating (1-5) of recent episodes
    rollbacks: int = 0
    last_rollback_reason: str = ""
    checkpoint_saves: int = 0
    last_checkpoint_step: int | None = None
    checkpoint_reward: float | None = None
    feedback_episodes: int = 0  # real briefs learnt from; until the first, the simulated rater
    notes: list[str] = field(default_factory=list)  # what happened at start (said, not hidden)


class Learner:
    def __init__(self, settings: LearnerSettings, directory: Path, seed: int = 0) -> None:
        torch.manual_seed(seed)
        self.settings = settings
        self.task = FormulationTask(settings.envs, seed)
        self.model = ActorCritic(self.task.shape, settings.hidden)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=settings.learning_rate)
        self.normalizer = RewardNormalizer(
            settings.reward_window, settings.reward_clip, settings.normalize_rewards
        )
        self.detector = RollbackDetector(settings.rollback)
        self.store = CheckpointStore(directory, settings.keep)
        self.progress = Progress(entropy_coef=settings.entropy(0))
        # Real ratings on their own window: their scale is not the simulated rewards'.
        self.feedback_normalizer = RewardNormalizer(
            settings.reward_window, settings.reward_clip, settings.normalize_rewards
        )
        self.ratings: deque[float] = deque(maxlen=256)
        self.observation = self.task.reset_all()
        self._resume()
        self._publish()

    # --- state -----------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {
            "step": self.progress.step,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "normalizer": self.normalizer.state(),
            "feedback_normalizer": self.feedback_normalizer.state(),
            "reward_mean": self.progress.reward_mean,
            "feedback_episodes": self.progress.feedback_episodes,
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.normalizer.restore(state["normalizer"])
        self.feedback_normalizer.restore(state.get("feedback_normalizer") or {})
        self.progress.step = int(state["step"])
        self.progress.reward_mean = state.get("reward_mean")
        # Once real ratings were learnt from, a rollback to an older checkpoint does not send
        # the learner back to its simulated rater.
        self.progress.feedback_episodes = max(
            self.progress.feedback_episodes, int(state.get("feedback_episodes", 0))
        )
        self.progress.entropy_coef = self.settings.entropy(self.progress.step)

    def _resume(self) -> None:
        loaded, skipped = self.store.latest_good()
        self.progress.notes.extend(f"skipped {reason}" for reason in skipped)
        if loaded is None:
            if skipped:
                self.progress.notes.append("no good checkpoint: starting fresh")
            return
        self.load_state(loaded.state)
        self.progress.last_checkpoint_step = loaded.step
        self.progress.checkpoint_reward = self.progress.reward_mean
        self.progress.notes.append(f"resumed from {loaded.path.name}")

    def reconfigure(self, settings: LearnerSettings) -> None:
        """New TuningPolicy settings, live: the learning rate and clip apply next update."""
        self.settings = replace(settings, envs=self.settings.envs, hidden=self.settings.hidden)
        for group in self.optimizer.param_groups:
            group["lr"] = settings.learning_rate
        for normalizer in (self.normalizer, self.feedback_normalizer):
            normalizer.clip = settings.reward_clip
            normalizer.enabled = settings.normalize_rewards
        self.detector.rules = settings.rollback
        self.store.keep = settings.keep

    def save(self) -> Path:
        path = self.store.save(self.progress.step, self.state())
        self.progress.checkpoint_saves += 1
        self.progress.last_checkpoint_step = self.progress.step
        self.progress.checkpoint_reward = self.progress.reward_mean
        return path

    def rollback(self, reason: str) -> bool:
        """Back to the last good checkpoint, exactly; False if there is none."""
        loaded, skipped = self.store.latest_good()
        self.progress.notes.extend(f"skipped {r}" for r in skipped)
        if loaded is None:
            return False
        self.load_state(loaded.state)
        if self.progress.feedback_episodes and not loaded.state.get("feedback_episodes"):
            # A checkpoint from the warm start: its mean rating is the simulated rater's.
            self.ratings.clear()
            self.progress.reward_mean = None
        self.progress.rollbacks += 1
        self.progress.last_rollback_reason = reason
        self.progress.last_checkpoint_step = loaded.step
        self.progress.checkpoint_reward = self.progress.reward_mean
        self.detector.reset()
        return True

    # --- training --------------------------------------------------------------------
    @torch.no_grad()
    def _collect(self) -> dict[str, torch.Tensor]:
        s = self.settings
        shape = (s.rollout, s.envs)
        obs = torch.zeros(*shape, self.task.shape.observation)
        actions = torch.zeros(shape, dtype=torch.long)
        logprobs, rewards, dones, values = (torch.zeros(shape) for _ in range(4))
        for t in range(s.rollout):
            obs[t] = self.observation
            dist = self.model.policy(self.observation)
            action = dist.sample()  # type: ignore[no-untyped-call]
            actions[t] = action
            logprobs[t] = dist.log_prob(action)  # type: ignore[no-untyped-call]
            values[t] = self.model.value(self.observation)
            self.observation, reward, done = self.task.step(action)
            rewards[t] = torch.tensor([self.normalizer.normalize(float(r)) for r in reward])
            dones[t] = done.float()
            self.ratings.extend(self.task.last_final_rating.tolist())
        advantages = self._gae(rewards, values, dones, self.model.value(self.observation))
        return _batch(obs, actions, logprobs, advantages, values)

    def _gae(
        self,
        rewards: torch.Tensor,
        values: torch.Tensor,
        dones: torch.Tensor,
        next_value: torch.Tensor,
    ) -> torch.Tensor:
        """Generalised advantage estimates over [time, episode] tensors."""
        s = self.settings
        advantages = torch.zeros_like(rewards)
        last = torch.zeros_like(next_value)
        for t in reversed(range(len(rewards))):
            following = next_value if t == len(rewards) - 1 else values[t + 1]
            alive = 1.0 - dones[t]
            delta = rewards[t] + s.gamma * following * alive - values[t]
            last = delta + s.gamma * s.lam * alive * last
            advantages[t] = last
        return advantages

    def iterate(self) -> Progress:
        """One rollout with the simulated rater and its updates (the warm start)."""
        return self._optimise(self._collect())

    def _optimise(self, batch: dict[str, torch.Tensor]) -> Progress:
        """PPO's updates on a batch; then the checkpoint and rollback rules, and only then
        do the weights reach the briefs (``episodes.choose``)."""
        s = self.settings
        size = len(batch["actions"])
        losses: list[float] = []
        for _ in range(s.epochs):
            order = torch.randperm(size)
            for chunk in order.chunk(s.minibatches):
                losses.append(self._update({k: v[chunk] for k, v in batch.items()}))
                if self.progress.step % s.save_every == 0:
                    self.save()
        if self.ratings:
            self.progress.reward_mean = sum(self.ratings) / len(self.ratings)
        loss = sum(losses) / len(losses)
        self.progress.loss = loss
        reason = self.detector.check(
            loss, self.progress.reward_mean, self.progress.checkpoint_reward
        )
        if reason:
            self.rollback(reason)
        self._publish()
        return self.progress

    def _publish(self) -> None:
        """The weights that passed the checks become the ones briefs are chosen with: a copy,
        so choosing never waits for (or sees half of) a training update."""
        self.served = copy.deepcopy(self.model.actor)

    def _update(self, mb: dict[str, torch.Tensor]) -> float:
        s = self.settings
        coef = s.entropy(self.progress.step)
        dist = self.model.policy(mb["obs"])
        logprob = dist.log_prob(mb["actions"])  # type: ignore[no-untyped-call]
        ratio = (logprob - mb["logprobs"]).exp()
        advantages = mb["advantages"]
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
        clipped = ratio.clamp(1 - s.clip_epsilon, 1 + s.clip_epsilon)
        policy_loss = -torch.min(ratio * advantages, clipped * advantages).mean()
        value_loss = 0.5 * (self.model.value(mb["obs"]) - mb["returns"]).pow(2).mean()
        entropy = dist.entropy().mean()  # type: ignore[no-untyped-call]
        loss = policy_loss + 0.5 * value_loss - coef * entropy
        self.optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(self.model.parameters(), 0.5)
        self.optimizer.step()
        self.progress.step += 1
        self.progress.entropy_coef = coef
        return float(loss.detach())

    # --- real briefs -----------------------------------------------------------------
    def learn(self, rated: Sequence[Rated]) -> Progress:
        """One PPO iteration on rated real briefs: each rating, normalised over the window of
        recent ratings, is the reward of its choice's last step."""
        if not self.progress.feedback_episodes:
            # Real ratings replace the simulated ones: the reward-drop rule compares like
            # with like from the first checkpoint saved on them.
            self.ratings.clear()
            self.progress.checkpoint_reward = None
        obs, actions, values, rewards, dones = replay(
            rated, self.task.shape, self.model.value, self.feedback_normalizer
        )
        advantages = self._gae(rewards, values, dones, torch.zeros(len(rated)))
        logprobs = torch.tensor([r.choice.logprobs for r in rated]).T
        self.ratings.extend(r.rating for r in rated)
        self.progress.feedback_episodes += len(rated)
        return self._optimise(_batch(obs, actions, logprobs, advantages, values))


def _batch(
    obs: torch.Tensor,
    actions: torch.Tensor,
    logprobs: torch.Tensor,
    advantages: torch.Tensor,
    values: torch.Tensor,
) -> dict[str, torch.Tensor]:
    """PPO's samples from [time, episode] tensors, one row per step."""
    return {
        "obs": obs.flatten(0, 1),
        "actions": actions.flatten(),
        "logprobs": logprobs.flatten(),
        "advantages": advantages.flatten(),
        "returns": (advantages + values).flatten(),
    }


def random_policy_rating(episodes: int = 512, seed: int = 1) -> float:
    """Mean final rating of a uniformly random policy: the baseline to beat."""
    task = FormulationTask(episodes, seed)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(task.shape.horizon):
        action = torch.randint(0, task.shape.actions, (episodes,), generator=generator)
        task.step(action)
    return float(task.last_final_rating.mean())
