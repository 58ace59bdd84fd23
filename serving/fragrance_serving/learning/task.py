"""The perfume-formulation task, vectorised in torch.

A brief asks for a family and an intensity; its ideal formula is a concentration profile
over twelve notes. An episode adjusts a formula for ``horizon`` steps (raise or lower one
note, or hold); the rater scores the formula 1-5 from its cosine similarity to the ideal
(the scale of ``POST /v1/feedback``). The per-step reward is the change in rating, so a
policy that moves towards the ideal earns exactly the final rating minus the starting one.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

NOTES = (
    "bergamot", "lemon", "rose", "jasmine", "cedar", "sandalwood",
    "vanilla", "amber", "sea salt", "musk", "cardamom", "pink pepper",
)  # fmt: skip
FAMILIES = ("citrus", "floral", "woody", "oriental", "aquatic", "spicy")
#: Which notes each family leans on (index pairs into NOTES).
FAMILY_NOTES = ((0, 1), (2, 3), (4, 5), (6, 7), (8, 9), (10, 11))
STEP = 0.1
#: Where an episode for a real brief starts: every note at the same share, so what the
#: formula leans on is the policy's choice alone.
NEUTRAL = 0.2


@dataclass(frozen=True)
class TaskShape:
    notes: int = len(NOTES)
    families: int = len(FAMILIES)
    horizon: int = 8

    @property
    def observation(self) -> int:
        return self.families + 1 + self.notes + 1

    @property
    def actions(self) -> int:
        return 2 * self.notes + 1  # raise note i, lower note i, or hold


class FormulationTask:
    def __init__(self, envs: int, seed: int = 0, shape: TaskShape | None = None) -> None:
        self.shape = shape or TaskShape()
        self.envs = envs
        self.generator = torch.Generator().manual_seed(seed)
        self.family = torch.zeros(envs, dtype=torch.long)
        self.intensity = torch.zeros(envs)
        self.formula = torch.zeros(envs, self.shape.notes)
        self.ideal = torch.zeros(envs, self.shape.notes)
        self.t = torch.zeros(envs, dtype=torch.long)
        self.reset_all()

    def _ideal(self, family: torch.Tensor, intensity: torch.Tensor) -> torch.Tensor:
        ideal = torch.full((len(family), self.shape.notes), 0.05)
        lean = torch.tensor(FAMILY_NOTES)[family]
        ideal.scatter_(1, lean, (0.3 + 0.5 * intensity).unsqueeze(1).expand(-1, 2).contiguous())
        return ideal

    def _reset(self, mask: torch.Tensor) -> None:
        count = int(mask.sum())
        if not count:
            return
        g = self.generator
        self.family[mask] = torch.randint(0, self.shape.families, (count,), generator=g)
        self.intensity[mask] = torch.rand(count, generator=g)
        self.formula[mask] = torch.rand(count, self.shape.notes, generator=g) * 0.5
        self.ideal[mask] = self._ideal(self.family[mask], self.intensity[mask])
        self.t[mask] = 0

    def reset_all(self) -> torch.Tensor:
        self._reset(torch.ones(self.envs, dtype=torch.bool))
        return self.observe()

    def observe(self) -> torch.Tensor:
        return observation(self.shape, self.family, self.intensity, self.formula, self.t)

    def rating(self) -> torch.Tensor:
        """The simulated rater: 1 + 4 x cosine similarity to the ideal, in [1, 5]."""
        similarity = torch.nn.functional.cosine_similarity(self.formula, self.ideal, dim=1)
        return 1 + 4 * similarity.clamp(min=0)

    def step(self, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(observation, reward, done); finished episodes restart at once."""
        before = self.rating()
        self.formula = apply(self.formula, action)
        reward = self.rating() - before
        self.t += 1
        done = self.t >= self.shape.horizon
        final_rating = self.rating()
        self._reset(done)
        self.last_final_rating = final_rating[done]
        return self.observe(), reward, done


def observation(
    shape: TaskShape,
    family: torch.Tensor,
    intensity: torch.Tensor,
    formula: torch.Tensor,
    t: torch.Tensor,
) -> torch.Tensor:
    """What the policy sees: the brief (family, intensity), the formula so far, the time."""
    one_hot = torch.nn.functional.one_hot(family, shape.families).float()
    progress = (t.float() / shape.horizon).unsqueeze(1)
    return torch.cat([one_hot, intensity.unsqueeze(1), formula, progress], dim=1)


def apply(formula: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
    """The formulas after one action each: raise or lower one note by STEP, or hold."""
    notes = formula.shape[1]
    raise_ = action < notes
    lower = (action >= notes) & (action < 2 * notes)
    index = torch.where(raise_, action, action - notes).clamp(0, notes - 1)
    delta = torch.where(raise_, STEP, torch.where(lower, -STEP, 0.0))
    rows = torch.arange(len(formula))
    changed = formula.clone()
    changed[rows, index] = (formula[rows, index] + delta).clamp(0, 1)
    return changed
