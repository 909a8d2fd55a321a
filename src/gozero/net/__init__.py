"""Network: input features from the rules engine, the residual policy/value net, symmetries."""
