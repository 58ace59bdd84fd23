"""The PPO learner: schedule, reward normalisation, checkpoints, rollback, the task."""
