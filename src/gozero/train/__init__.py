"""Training: replay window over shards, the trainer, checkpoints, the generation loop."""
