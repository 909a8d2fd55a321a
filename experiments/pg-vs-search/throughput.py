"""Throughput of each arm's self-play and training on the study's 7x7 setup (one core), so
that the pilot plan can say how many games and steps an arm gets per CPU-hour.

    taskset -c 1 nice python experiments/pg-vs-search/throughput.py [--seconds 20]
    ... throughput.py --seconds 10 --label A5-s1 --append experiments/pg-vs-search/machines.jsonl

Untrained (random) 4x32 weights: games are longer than a trained network's, so the games
per hour are a floor; positions per second are what the budget buys. With ``--append`` the
rows go, as one JSON line with the run's label, the time and the CPU's name, to a file:
`study.py` measures so before it trains a run, so that the report can say what a CPU-second
bought on the machine each run trained on.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from study import cpu_name  # this folder is on sys.path (the script's own)

from gozero.net.inference import NetEvaluator
from gozero.net.model import build_model
from gozero.rules import Rules
from gozero.selfplay.selfplay import SelfPlay
from gozero.train.config import load_config
from gozero.train.trainer import Trainer

HERE = Path(__file__).parent


def _model(cfg):
    torch.manual_seed(0)  # the same untrained weights for every measurement
    return build_model(cfg.net)


def selfplay_rate(cfg, acting: str, algorithm: str, seconds: float) -> dict:
    model = _model(cfg)
    ev = NetEvaluator(model, device="cpu", precision=cfg.run.precision, seed=0)
    sp_cfg = replace(cfg.selfplay, acting=acting)
    search = replace(cfg.search, algorithm=algorithm)
    sp = SelfPlay(ev, cfg.game.size, Rules(komi=cfg.game.komi), search, sp_cfg, writer=None, seed=0)
    sp.step()  # compile
    sp.stats.games = sp.stats.positions = sp.stats.moves = sp.stats.net_evals = 0
    sp.stats.lengths = []
    t0 = time.process_time()
    while time.process_time() - t0 < seconds:
        sp.step()
    dt = time.process_time() - t0
    st = sp.stats
    return {"acting": acting, "algorithm": algorithm, "cpu_s": round(dt, 1), "moves_per_s": st.moves / dt,
            "recorded_positions_per_s": st.positions / dt, "games_per_s": st.games / dt,
            "mean_length": float(np.mean(st.lengths)) if st.lengths else None, "net_evals_per_s": st.net_evals / dt}


def train_rate(cfg, policy_loss: str, seconds: float) -> dict:
    tcfg = replace(cfg.train, policy_loss=policy_loss)
    model = _model(cfg)
    tr = Trainer(model, tcfg, torch.device("cpu"), seed=0)
    rng = np.random.default_rng(0)
    n, nn = tcfg.batch_size, cfg.game.size ** 2
    from gozero.selfplay.selfplay import empty_batch

    b = empty_batch(n, nn)
    b["planes"] = rng.integers(0, 2, (n, 18, cfg.game.size, cfg.game.size)).astype(np.uint8)
    b["policy"][:, 3] = 1
    b["value"][np.arange(n), rng.integers(0, 3, n)] = 1
    b["action"][:] = 3
    b["behaviour_logp"][:] = -3.0
    b["game_moves"][:] = 40
    tr.train_step(b)
    steps, t0 = 0, time.process_time()
    while time.process_time() - t0 < seconds:
        tr.train_step(b)
        steps += 1
    dt = time.process_time() - t0
    return {"policy_loss": policy_loss, "steps_per_s": steps / dt, "samples_per_s": steps * n / dt}


def reanalyse_rate(cfg, seconds: float) -> dict:
    """Training steps per second with a quarter of each batch re-searched (A7), on real
    positions from raw-policy games (a reanalysed root must be a legal board)."""
    import tempfile

    from gozero.selfplay.shards import ShardWriter
    from gozero.train.reanalyse import Reanalyser
    from gozero.train.replay import ReplayWindow

    with tempfile.TemporaryDirectory() as tmp:
        model = _model(cfg)
        ev = NetEvaluator(model, device="cpu", precision=cfg.run.precision, seed=0)
        sp = SelfPlay(ev, cfg.game.size, Rules(komi=cfg.game.komi), cfg.search,
                      replace(cfg.selfplay, acting="policy"), ShardWriter(tmp, 10**6), seed=0)
        sp.play_games(40)
        window = ReplayWindow(tmp, cfg.game.size, 10**6, 10**6, seed=0)
        window.refresh()
        t = cfg.train
        re = Reanalyser(cfg.search, cfg.game.size, cfg.game.komi, 0.25, t.reanalyse_simulations, t.reanalyse_value_mix,
                        precision=cfg.run.precision, seed=0)
        tr = Trainer(model, t, torch.device("cpu"), seed=0, reanalyser=re)
        tr.train_step(window.sample(t.batch_size))
        steps, t0 = 0, time.process_time()
        while time.process_time() - t0 < seconds:
            tr.train_step(window.sample(t.batch_size))
            steps += 1
        dt = time.process_time() - t0
    return {"policy_loss": "search + reanalyse 0.25", "steps_per_s": steps / dt,
            "samples_per_s": steps * t.batch_size / dt, "reanalysed_per_s": steps * round(0.25 * t.batch_size) / dt}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--append", type=Path, help="add the rows as one JSON line to this file")
    ap.add_argument("--label", default="", help="the run the measure is for (with --append)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    cfg = load_config(file=HERE / "base.toml")
    rows = [selfplay_rate(cfg, "policy", "gumbel", args.seconds),
            selfplay_rate(cfg, "search", "gumbel", args.seconds),
            selfplay_rate(cfg, "search", "puct", args.seconds),
            train_rate(cfg, "search", args.seconds), train_rate(cfg, "ppo", args.seconds),
            reanalyse_rate(cfg, args.seconds)]
    rows = [{k: round(v, 2) if isinstance(v, float) else v for k, v in r.items()} for r in rows]
    for r in rows:
        print(json.dumps(r))
    if args.append:
        line = {"label": args.label, "time": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "cpu": cpu_name(), "seconds": args.seconds, "rows": rows}
        with open(args.append, "a") as f:
            f.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    main()
