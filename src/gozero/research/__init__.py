"""Research: budgeted experiments, a results ledger, hyperparameter search."""
