"""Entropy coefficient schedule: initial -> final over decaySteps, then flat (0.02 ->
0.005 over 10k steps)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

Strategy = Literal["linear", "exponential", "cosine"]


@dataclass(frozen=True)
class EntropySchedule:
    initial: float = 0.02
    final: float = 0.005
    decay_steps: int = 10_000
    strategy: Strategy = "linear"

    def __call__(self, step: int) -> float:
        if step >= self.decay_steps:
            return self.final
        progress = max(step, 0) / self.decay_steps
        if self.strategy == "linear":
            return self.initial + (self.final - self.initial) * progress
        if self.strategy == "cosine":
            return self.final + (self.initial - self.final) * (1 + math.cos(math.pi * progress)) / 2
        if self.initial <= 0 or self.final <= 0:  # exponential needs positive ends
            return self.initial + (self.final - self.initial) * progress
        return float(self.initial * (self.final / self.initial) ** progress)
