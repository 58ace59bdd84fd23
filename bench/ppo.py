"""PPO learner throughput and checkpoint times on this machine's CPU (or CUDA if present).

Env steps per second of the learner (its task is vectorised in torch) against a CleanRL-style
reference on the same task: the same PPO updates, but the environments stepped one by one
and stacked, as gym's SyncVectorEnv does (goal >= 1.0x). Then checkpoint save and restore.
Usage: python bench/ppo.py [--iterations 40] [--envs 32]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.control_plane import machine  # noqa: E402
from fragrance_serving.learning.ppo import Learner, LearnerSettings  # noqa: E402
from fragrance_serving.learning.task import FormulationTask  # noqa: E402


class SyncVectorTask:
    """The reference: one single-env task per slot, stepped in a Python loop."""

    def __init__(self, envs: int, seed: int) -> None:
        self.tasks = [FormulationTask(1, seed + i) for i in range(envs)]
        self.shape = self.tasks[0].shape
        self.last_final_rating = torch.zeros(0)

    def reset_all(self) -> torch.Tensor:
        return torch.cat([t.reset_all() for t in self.tasks])

    def step(self, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        results = [t.step(a.view(1)) for t, a in zip(self.tasks, action, strict=True)]
        self.last_final_rating = torch.cat([t.last_final_rating for t in self.tasks])
        obs, reward, done = zip(*results, strict=True)
        return torch.cat(obs), torch.cat(reward), torch.cat(done)


def _rate(learner: Learner, iterations: int) -> float:
    learner.iterate()  # warm-up
    s = learner.settings
    started = time.perf_counter()
    for _ in range(iterations):
        learner.iterate()
    return iterations * s.rollout * s.envs / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--iterations", type=int, default=40)
    parser.add_argument("--envs", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    settings = LearnerSettings(learning_rate=3e-3, envs=args.envs, save_every=10**9)
    print(f"machine: {machine()}, torch threads {args.threads}")
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        ours = _rate(Learner(settings, Path(a)), args.iterations)
        reference = Learner(settings, Path(b))
        reference.task = SyncVectorTask(args.envs, 0)  # type: ignore[assignment]
        reference.observation = reference.task.reset_all()
        theirs = _rate(reference, args.iterations)
        print(f"learner (vectorised task):   {ours:,.0f} env steps/s")
        print(f"reference (SyncVectorEnv):   {theirs:,.0f} env steps/s")
        print(f"ratio: {ours / theirs:.2f}x (goal >= 1.0x)")

        learner = Learner(settings, Path(a))
        saves, loads = [], []
        for step in range(20):
            learner.progress.step = step
            started = time.perf_counter()
            learner.store.save(step, learner.state())
            saves.append(time.perf_counter() - started)
            started = time.perf_counter()
            learner.store.read(step)
            loads.append(time.perf_counter() - started)
        size = learner.store.path(19).stat().st_size
        print(
            f"checkpoint ({size / 1024:.0f} KiB, fsynced): save p50 "
            f"{statistics.median(saves) * 1e3:.1f} ms, verify+restore p50 "
            f"{statistics.median(loads) * 1e3:.1f} ms"
        )
    if torch.cuda.is_available():
        print(f"CUDA: {torch.cuda.get_device_name(0)} (the learner runs on CPU in this bench)")


if __name__ == "__main__":
    main()
