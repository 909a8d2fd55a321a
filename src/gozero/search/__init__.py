"""Search: batched MCTS (PUCT and Gumbel root policies) over the network, and players."""
