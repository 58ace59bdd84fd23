"""When to roll the learner back to its last good checkpoint."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class RollbackRules:
    enabled: bool = True
    loss_spike_factor: float = 2.0
    reward_drop_threshold: float = 0.5
    loss_window: int = 20


class RollbackDetector:
    """Loss > factor x its recent mean magnitude (or not finite), or mean reward down by more
    than the threshold against the checkpoint's. Returns the reason, or None."""

    def __init__(self, rules: RollbackRules) -> None:
        self.rules = rules
        self.losses: deque[float] = deque(maxlen=rules.loss_window)

    def check(
        self, loss: float, reward_mean: float | None, checkpoint_reward: float | None
    ) -> str | None:
        if not self.rules.enabled:
            return None
        if not math.isfinite(loss):
            return f"loss is not finite ({loss})"
        full = len(self.losses) == self.losses.maxlen
        # The recent magnitude, not the mean: a converged learner's loss changes sign around
        # zero, where a mean near zero would make any iteration a "spike".
        recent = sum(abs(x) for x in self.losses) / len(self.losses) if full else None
        self.losses.append(loss)
        if recent is not None and abs(loss) > self.rules.loss_spike_factor * max(recent, 1e-6):
            return f"loss spike: {loss:.4g} > {self.rules.loss_spike_factor} x recent {recent:.4g}"
        if reward_mean is not None and checkpoint_reward is not None and checkpoint_reward > 0:
            drop = (checkpoint_reward - reward_mean) / checkpoint_reward
            if drop > self.rules.reward_drop_threshold:
                return (
                    f"reward drop: mean {reward_mean:.4g} is {drop:.0%} below the checkpoint's "
                    f"{checkpoint_reward:.4g}"
                )
        return None

    def reset(self) -> None:
        self.losses.clear()
