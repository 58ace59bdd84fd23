"""The TuningPolicy's learning fields as the learner's settings."""

from __future__ import annotations

from dataclasses import replace

from fragrance_api.policy import TuningPolicySpec
from fragrance_serving.learning.ppo import LearnerSettings
from fragrance_serving.learning.rollback import RollbackRules
from fragrance_serving.learning.schedule import EntropySchedule


def from_policy(policy: TuningPolicySpec, base: LearnerSettings | None = None) -> LearnerSettings:
    ppo, norm, ckpt = policy.ppo, policy.reward_normalization, policy.checkpoint
    entropy = ppo.entropy_coef
    return replace(
        base or LearnerSettings(),
        learning_rate=ppo.learning_rate,
        clip_epsilon=ppo.clip_epsilon,
        feedback_batch=ppo.feedback_batch,
        entropy=EntropySchedule(
            entropy.initial, entropy.final, entropy.decay_steps, entropy.strategy
        ),
        normalize_rewards=norm.enabled,
        reward_window=norm.window_size,
        reward_clip=norm.clip,
        save_every=ckpt.save_every,
        keep=ckpt.keep,
        rollback=RollbackRules(
            enabled=ckpt.rollback.enabled,
            loss_spike_factor=ckpt.rollback.loss_spike_factor,
            reward_drop_threshold=ckpt.rollback.reward_drop_threshold,
        ),
    )
