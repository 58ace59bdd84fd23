"""Episodes for real briefs: a formula chosen by the served policy, and its replay to learn.

An episode for a real brief starts from the neutral formula, so the choice is kept as its
actions alone (and their log-probabilities under the policy that chose them): replaying the
actions through the task's dynamics gives back every observation for the PPO update.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.distributions import Categorical

from fragrance_serving.learning.choices import Choice, Rated
from fragrance_serving.learning.normalizer import RewardNormalizer
from fragrance_serving.learning.task import NEUTRAL, TaskShape, apply, observation


@torch.no_grad()
def choose(
    served: nn.Module, shape: TaskShape, family: int, intensity: float, made: float
) -> tuple[Choice, list[float]]:
    """A formula sampled from the served policy (so it keeps exploring), and its choice."""
    families, intensities = torch.tensor([family]), torch.tensor([intensity])
    formula = torch.full((1, shape.notes), NEUTRAL)
    actions: list[int] = []
    logprobs: list[float] = []
    for t in range(shape.horizon):
        seen = observation(shape, families, intensities, formula, torch.tensor([t]))
        dist = Categorical(logits=served(seen))
        action = dist.sample()  # type: ignore[no-untyped-call]
        actions.append(int(action))
        logprobs.append(float(dist.log_prob(action)))  # type: ignore[no-untyped-call]
        formula = apply(formula, action)
    return Choice(family, intensity, tuple(actions), tuple(logprobs), made), formula[0].tolist()


@torch.no_grad()
def replay(
    rated: Sequence[Rated],
    shape: TaskShape,
    value: Callable[[torch.Tensor], torch.Tensor],
    normalizer: RewardNormalizer,
) -> tuple[torch.Tensor, ...]:
    """(observations, actions, values, rewards, dones), each [time, episode]: the rating,
    normalised over the window of recent ratings, is the reward of the last step."""
    count = len(rated)
    families = torch.tensor([r.choice.family for r in rated])
    intensities = torch.tensor([r.choice.intensity for r in rated])
    actions = torch.tensor([r.choice.actions for r in rated]).T
    formula = torch.full((count, shape.notes), NEUTRAL)
    obs = torch.zeros(shape.horizon, count, shape.observation)
    for t in range(shape.horizon):
        obs[t] = observation(shape, families, intensities, formula, torch.full((count,), t))
        formula = apply(formula, actions[t])
    rewards, dones = torch.zeros(shape.horizon, count), torch.zeros(shape.horizon, count)
    rewards[-1] = torch.tensor([normalizer.normalize(r.rating) for r in rated])
    dones[-1] = 1.0
    return obs, actions, value(obs), rewards, dones
