"""The search's own cost: self-play positions per CPU-second with an instant fake network.

`SelfPlay` (64 games, every move a full search) on 9x9 with an evaluator that answers at
once (random logits and values, zero score and ownership), so what is timed is the tree
code, the rules and the features, not the network. Prints the best of ``--rounds`` rounds
(``--moves`` lockstep moves each) per search setting. Uses only `SelfPlay`'s public API, so
the same file times another checkout: run it with that checkout's ``src`` on PYTHONPATH.

    NUMBA_NUM_THREADS=1 taskset -c 1 python bench/search_overhead.py
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from gozero.net.inference import NetOutput
from gozero.rules import Rules
from gozero.search.mcts import SearchConfig
from gozero.selfplay.selfplay import SelfPlay, SelfPlayConfig


class InstantEvaluator:
    """Random logits and values at no cost (the network's place in the timing left empty)."""

    def __init__(self, seed: int = 0):
        self.rng = np.random.default_rng(seed)
        self.evaluations = 0

    def evaluate(self, planes: np.ndarray, globals_: np.ndarray, size: int | None = None) -> NetOutput:
        b, _, nn = planes.shape
        self.evaluations += b
        return NetOutput(self.rng.normal(size=(b, nn + 1)).astype(np.float32),
                         self.rng.uniform(-0.5, 0.5, b).astype(np.float32), np.zeros(b, np.float32),
                         np.zeros((b, nn), np.float32))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--settings", default="gumbel:16:1,puct:64:1,puct:64:8",
                    help="comma-separated algorithm:simulations:leaves_per_game")
    ap.add_argument("--games", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--moves", type=int, default=6)
    args = ap.parse_args(argv)
    for item in args.settings.split(","):
        algo, sims, leaves = item.split(":")
        sims_n, leaves_n = int(sims), int(leaves)
        sp = SelfPlay(InstantEvaluator(), 9, Rules(),
                      SearchConfig(algorithm=algo, simulations=sims_n, leaves_per_game=leaves_n),
                      SelfPlayConfig(parallel_games=args.games, full_simulations=sims_n, cheap_simulations=sims_n,
                                     full_fraction=1.0, sgf_every=0), writer=None, seed=0)
        sp.step()  # numba kernels load, first roots expand
        best = float("inf")
        for _ in range(args.rounds):
            t0 = time.process_time()
            positions = 0
            for _ in range(args.moves):
                positions += sum(s is not None for s in sp.slots)
                sp.step()
            best = min(best, (time.process_time() - t0) / positions)
        print(f"{algo} {sims_n} sims, {leaves_n} leaves/game: {1 / best:,.0f} positions per CPU-second")
    return 0


if __name__ == "__main__":
    sys.exit(main())
