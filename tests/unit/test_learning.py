"""The learner's safety rails: schedule, normaliser, atomic checkpoints, exact rollback."""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from fragrance_serving.learning.checkpoint import CheckpointError, CheckpointStore
from fragrance_serving.learning.normalizer import RewardNormalizer
from fragrance_serving.learning.ppo import Learner, LearnerSettings, random_policy_rating
from fragrance_serving.learning.rollback import RollbackDetector, RollbackRules
from fragrance_serving.learning.schedule import EntropySchedule
from tests.helpers import ROOT, wait_for


def test_entropy_schedule_at_the_seeds_steps() -> None:
    schedule = EntropySchedule(0.02, 0.005, 10_000, "linear")
    assert schedule(0) == pytest.approx(0.02)
    assert schedule(5_000) == pytest.approx(0.0125)
    assert schedule(10_000) == pytest.approx(0.005)
    assert schedule(20_000) == pytest.approx(0.005)
    for strategy in ("exponential", "cosine"):
        shaped = EntropySchedule(0.02, 0.005, 10_000, strategy)  # type: ignore[arg-type]
        assert shaped(0) == pytest.approx(0.02)
        assert shaped(10_000) == shaped(20_000) == pytest.approx(0.005)
        assert 0.005 < shaped(5_000) < 0.02


@given(st.lists(st.floats(-100, 100), min_size=1, max_size=300), st.integers(1, 50))
def test_normaliser_matches_a_direct_computation(rewards: list[float], window: int) -> None:
    normaliser = RewardNormalizer(window_size=window, clip=3.0)
    for index, reward in enumerate(rewards):
        got = normaliser.normalize(reward)
        recent = rewards[max(0, index + 1 - window) : index + 1]
        mean = statistics.fmean(recent)
        std = statistics.pstdev(recent) if len(recent) > 1 else 1.0
        expected = max(-3.0, min(3.0, (reward - mean) / (std + 1e-8)))
        assert got == pytest.approx(expected, abs=1e-4)


def test_rollback_rules() -> None:
    detector = RollbackDetector(RollbackRules(loss_spike_factor=2.0, reward_drop_threshold=0.5))
    assert detector.check(float("nan"), None, None) == "loss is not finite (nan)"
    for _ in range(20):
        assert detector.check(1.0, 4.0, 4.0) is None
    assert "loss spike" in (detector.check(2.5, 4.0, 4.0) or "")
    assert "reward drop" in (detector.check(1.0, 1.5, 4.0) or "")
    off = RollbackDetector(RollbackRules(enabled=False))
    assert off.check(float("inf"), 0.0, 5.0) is None


def test_checkpoints_keep_the_last_n_and_verify(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path, keep=3)
    for step in range(0, 500, 100):
        store.save(step, {"step": step, "w": torch.full((4,), float(step))})
    assert store.steps() == [200, 300, 400]
    newest = store.path(400)
    newest.write_bytes(newest.read_bytes()[:-10])  # truncated
    store.path(300).write_bytes(store.path(300).read_bytes().replace(b"FRAGRANCE", b"GARBAGE!!"))
    loaded, skipped = store.latest_good()
    assert loaded is not None
    assert loaded.step == 200
    assert torch.equal(loaded.state["w"], torch.full((4,), 200.0))
    assert "truncated" in skipped[0]
    assert str(newest) in skipped[0]
    assert "bad header" in skipped[1]
    with pytest.raises(CheckpointError, match="cannot be read"):
        store.read(999)


def test_a_writer_killed_mid_write_leaves_the_previous_checkpoint(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path, keep=5)
    store.save(100, {"w": torch.ones(3)})
    writer = subprocess.Popen(
        [sys.executable, "-c", (
            "import sys, torch; from pathlib import Path\n"
            "from fragrance_serving.learning.checkpoint import CheckpointStore\n"
            "CheckpointStore(Path(sys.argv[1]), 5).save(200, {'w': torch.ones(60_000_000)})\n"
        ), str(tmp_path)],
        cwd=ROOT,
    )  # fmt: skip
    wait_for(lambda: any(p.name.startswith(".") for p in tmp_path.iterdir()), "a write underway")
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()
    loaded, skipped = store.latest_good()
    assert loaded is not None
    assert loaded.step == 100
    assert skipped == []
    assert store.steps() == [100], "no half-written checkpoint under a real name"


def _learner(tmp_path: Path, **overrides: object) -> Learner:
    settings = LearnerSettings(
        learning_rate=3e-3, entropy=EntropySchedule(0.02, 0.005, 2_000), save_every=64,
        **overrides,  # type: ignore[arg-type]
    )  # fmt: skip
    return Learner(settings, tmp_path, seed=3)


def test_rollback_restores_identical_parameters_and_optimiser(tmp_path: Path) -> None:
    learner = _learner(tmp_path)
    for _ in range(4):
        learner.iterate()  # 64 steps: a checkpoint at 64
    assert learner.progress.last_checkpoint_step == 64
    saved = learner.store.read(64)
    learner.iterate()
    assert learner.progress.step == 80
    assert learner.rollback("manual")
    assert learner.progress.step == 64
    assert learner.progress.rollbacks == 1
    for name, tensor in learner.model.state_dict().items():
        assert torch.equal(tensor, saved["model"][name]), name
    restored = learner.optimizer.state_dict()["state"]
    for key, values in saved["optimizer"]["state"].items():
        for field, tensor in values.items():
            assert torch.equal(restored[key][field], tensor), (key, field)


def test_a_corrupted_newest_checkpoint_falls_back_and_says_so(tmp_path: Path) -> None:
    learner = _learner(tmp_path)
    for _ in range(8):
        learner.iterate()  # checkpoints at 64 and 128
    newest = learner.store.path(128)
    newest.write_bytes(b"\0" * 100)
    resumed = _learner(tmp_path)
    assert resumed.progress.step == 64
    assert any("bad header" in note for note in resumed.progress.notes)
    for path in tmp_path.iterdir():
        path.write_bytes(b"junk")
    fresh = _learner(tmp_path)
    assert fresh.progress.step == 0
    assert "no good checkpoint: starting fresh" in fresh.progress.notes


def test_the_learner_beats_a_random_policy(tmp_path: Path) -> None:
    baseline = random_policy_rating()
    learner = _learner(tmp_path)
    started = time.perf_counter()
    while learner.progress.step < 1_500 and time.perf_counter() - started < 50:
        learner.iterate()
    assert learner.progress.reward_mean is not None
    assert learner.progress.reward_mean > baseline + 0.8, (learner.progress.reward_mean, baseline)
    assert learner.progress.entropy_coef < 0.02
