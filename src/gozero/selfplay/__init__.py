"""Self-play: many games in lockstep through batched search, written as training shards."""
