"""Training: the engine, losses, optimizers and schedules, metrics, checkpoints."""
