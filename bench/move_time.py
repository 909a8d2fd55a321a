"""Seconds per move of a model at a visit budget: how many visits fit a time limit.

Plays no game: it takes positions from SGF files (every ``--every``-th move of each game),
gives each one to a fresh `MCTSPlayer` (no tree reuse, the slow case) and times `genmove`.
Reports the mean and the 95th percentile per torch thread count, and visits per second;
also a time-bounded search (``--time``) to show the visits a budget buys.

    python bench/move_time.py --visits 1000 --threads 1 2 --sgf docs/model-ladder/sgf
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from gozero.play.players import load_search_config, shipped_model
from gozero.rules.sgf import read_sgf_file, replay
from gozero.search.mcts_player import MCTSPlayer
from gozero.search.player import SearchLimits


def positions(folder: Path, every: int, limit: int):
    out = []
    for path in sorted(folder.rglob("*.sgf")):
        record = read_sgf_file(path)
        for n in range(every, len(record.moves), every):
            out.append(replay(record, n))
        if len(out) >= limit:
            break
    return out[:limit]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="checkpoint (default: the shipped 9x9 model)")
    ap.add_argument("--visits", type=int, default=1000)
    ap.add_argument("--time", type=float, default=1.0, help="also: visits reached in this many seconds")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--sgf", type=Path, default=Path("docs/model-ladder/sgf"))
    ap.add_argument("--every", type=int, default=10, help="take every k-th position of each game")
    ap.add_argument("--positions", type=int, default=40)
    args = ap.parse_args()
    model = Path(args.model) if args.model else shipped_model()
    games = positions(args.sgf, args.every, args.positions)
    print(f"{model}, {len(games)} positions from {args.sgf}, plies {min(len(g.moves) for g in games)}"
          f"-{max(len(g.moves) for g in games)}")
    search = load_search_config()  # the settings gozero gtp / play use
    for threads in args.threads:
        torch.set_num_threads(threads)
        warm = MCTSPlayer.from_checkpoint(model, visits=64, device="cpu", seed=0, config=search)
        warm.genmove(games[0])
        secs = []
        for i, g in enumerate(games):
            p = MCTSPlayer.from_checkpoint(model, visits=args.visits, device="cpu", seed=i, config=search)
            p.ev = warm.ev  # one evaluator: load the weights once
            t = time.perf_counter()
            p.genmove(g)
            secs.append(time.perf_counter() - t)
        reached = []
        for i, g in enumerate(games[:10]):
            p = MCTSPlayer(warm.ev, seconds=args.time, seed=i, config=search)
            reached.append(p.analyze(g, SearchLimits(seconds=args.time)).visits)
        s = np.array(secs)
        print(f"threads {threads}: {args.visits} visits: mean {s.mean():.3f} s/move, p95 {np.percentile(s, 95):.3f}, "
              f"max {s.max():.3f}; {args.visits / s.mean():.0f} visits/s; "
              f"{args.time:g} s buys {np.mean(reached):.0f} visits")


if __name__ == "__main__":
    main()
