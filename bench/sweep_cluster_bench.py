"""Sweep trials per wall-hour: one after another against ``--cluster local`` with N slots, in one run.

Two sweeps of ``--trials`` trials each on the same tiny experiment (5x5, the random player
as the panel, a few seconds of CPU per trial; pruning off so that every trial does the same
work), each in a fresh copy of it: first sequential (the local backend), then on a private
local Ray instance of ``--cpus`` CPUs with ``--cpus`` trials in flight (what
``gozero research sweep EXP --cluster local`` does on a machine with that many cores). It
prints each sweep's wall time, trials per wall-hour and the ratio cluster / sequential,
plus the training CPU seconds per trial of both (they should match: the budget is CPU).
On a machine whose cores are busy with other work the ratio says little: run it idle.

    nice python bench/sweep_cluster_bench.py --trials 4 --budget 20 --cpus 2
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
sys.path.insert(0, str(SRC))

from gozero.research.experiment import load_experiment, new_experiment  # noqa: E402
from gozero.research.ledger import Ledger  # noqa: E402
from gozero.research.sweep import run_sweep  # noqa: E402

FAST = {  # runs of a few CPU seconds with several generations (as the research tests use)
    "run.games_per_generation": 8, "selfplay.parallel_games": 8, "selfplay.full_simulations": 4,
    "selfplay.cheap_simulations": 2, "train.batch_size": 32, "train.min_steps_per_generation": 4,
    "run.shard_positions": 48,
}
SPACE = '"train.lr" = { low = 0.001, high = 0.01, log = true }\n"selfplay.full_simulations" = { low = 4, high = 8 }\n'


def make_experiment(root: Path, budget: float) -> Path:
    folder = new_experiment("sweep bench", "tiny", root, budget=budget, members=["random"], date="2026-01-01")
    toml = folder / "experiment.toml"
    text = toml.read_text().replace("games = 10 ", "games = 4 ").replace("visits = 32 ", "visits = 8 ")
    text = text.replace("\n[panel]\n", "\n" + "".join(f'"{k}" = {v}\n' for k, v in FAST.items()) + "\n[panel]\n")
    toml.write_text(text[: text.index("[search_space]")] + "[search_space]\n" + SPACE)
    return folder


def one_sweep(root: Path, trials: int, budget: float, cluster: str | None, parallel: int) -> dict:
    exp = load_experiment(make_experiment(root, budget))
    t0 = time.monotonic()
    run_sweep(exp, trials, budget, prune=False, cluster=cluster, parallel=parallel)
    wall = time.monotonic() - t0
    rows = Ledger(exp.dir).rows()
    return {"wall_s": round(wall, 1), "trials": len(rows), "trials_per_hour": round(3600 * len(rows) / wall, 1),
            "statuses": sorted({r["status"] for r in rows}),
            "cpu_s_per_trial": round(sum(r["cpu_s"] for r in rows) / max(len(rows), 1), 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=4, help="trials per sweep")
    ap.add_argument("--budget", type=float, default=20.0, help="training CPU seconds per trial")
    ap.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray instance (= trial slots)")
    a = ap.parse_args()
    os.environ["PYTHONPATH"] = os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])  # for Ray's workers
    from gozero.train.cluster import ClusterSession

    with tempfile.TemporaryDirectory(prefix="gozero-sweep-bench-") as tmp:
        seq = one_sweep(Path(tmp) / "seq", a.trials, a.budget, None, 0)
        with ClusterSession("local", num_cpus=a.cpus):
            par = one_sweep(Path(tmp) / "ray", a.trials, a.budget, "local", a.cpus)
    out = {"trials": a.trials, "budget_s": a.budget, "cpus": a.cpus, "sequential": seq, "cluster_local": par,
           "ratio": round(par["trials_per_hour"] / seq["trials_per_hour"], 2)}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
