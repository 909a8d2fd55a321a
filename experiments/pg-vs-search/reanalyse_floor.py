"""How far reanalyse moves a run's stored policy targets, against the noise floor of the
search itself: the total variation distance between the stored targets and a refresh by
the run's newest network, and between two refreshes that differ only in the random board
symmetry of their network calls. A refresh counts as news only above that floor.
`analyse.collect` takes it into signals.json for every run that reanalysed.

    taskset -c 1 nice python experiments/pg-vs-search/reanalyse_floor.py RUN [--positions 256] [--simulations N ...]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from gozero.net.inference import load_checkpoint_model
from gozero.train.config import load_config
from gozero.train.reanalyse import Reanalyser
from gozero.train.replay import ReplayWindow


def total_variation(p: np.ndarray, q: np.ndarray) -> float:
    return float(0.5 * np.abs(p.astype(np.float64) - q.astype(np.float64)).sum(axis=1).mean())


def floor(run: Path, positions: int = 256, simulations: tuple[int, ...] | None = None) -> list[dict]:
    """Per simulation count (by default the run's own refresh's and 64): the stored targets of
    ``positions`` sampled from the run's replay window against a refresh by its newest
    network, and two such refreshes against each other (total variation, mean over positions)."""
    cfg = load_config(file=run / "config.toml")
    if simulations is None:
        simulations = tuple(sorted({cfg.train.reanalyse_simulations, 64}))
    model, meta = load_checkpoint_model(run / "checkpoints" / "model_latest.pt")
    window = ReplayWindow(run, cfg.game.size, cfg.train.window_min, cfg.train.window_max, cfg.train.window_alpha,
                          cfg.train.window_beta, seed=0)
    if not window.refresh():
        raise FileNotFoundError(f"{run} has no self-play data")
    batch = window.sample(positions)
    out = []
    for sims in simulations:
        refreshed = [Reanalyser(cfg.search, cfg.game.size, cfg.game.komi, 1.0, sims, 0.0, precision="fp32",
                                seed=seed)(batch, model)[0]["policy"] for seed in (1, 2)]
        out.append({"run": str(run), "step": meta.get("step"), "simulations": sims, "positions": positions,
                    "stored_vs_refreshed_tv": round(total_variation(batch["policy"], refreshed[0]), 3),
                    "refresh_vs_refresh_tv": round(total_variation(refreshed[0], refreshed[1]), 3)})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--positions", type=int, default=256)
    ap.add_argument("--simulations", type=int, nargs="+", default=None,
                    help="simulation counts (default: the run's own refresh's and 64)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    try:
        lines = floor(args.run, args.positions, tuple(args.simulations) if args.simulations else None)
    except FileNotFoundError as e:
        raise SystemExit(f"reanalyse_floor: {e}") from None
    for line in lines:
        print(json.dumps(line))


if __name__ == "__main__":
    main()
