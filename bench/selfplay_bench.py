"""Self-play throughput against the network's own inference ceiling, and against the peer.

For each search (Gumbel and PUCT) and simulation count, runs `SelfPlay` with 64 games in
lockstep (every move a full search of ``sims`` simulations, recorded as a training position)
with the 9x9 6x64 net, and in the same rounds times the pure inference ceiling: the same
`NetEvaluator` (same precision, threads, batch = number of games) evaluating a batch of real
positions back to back. Reported as medians over rounds:

- self-play positions/s = games x moves / time (every move counts, the peer's definition),
- network evaluations/s in self-play, and that as a fraction of the ceiling (target >= 70 %).

With ``--peer`` it also runs the pgx + mctx peer (`bench/peer/run_peer.sh`, JAX in its own
venv; gumbel_muzero_policy, the same net shape, 64 games, 16 simulations) between gozero's
rounds and prints gozero / peer.

    taskset -c 0,1 python bench/selfplay_bench.py --peer
    taskset -c 0,1 python bench/selfplay_bench.py --sims 16 --algorithms gumbel --precision fp32,auto
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from net_bench import load_net, median, sample_positions  # noqa: E402

from gozero.net.inference import NetEvaluator  # noqa: E402
from gozero.rules import Rules  # noqa: E402
from gozero.search.mcts import SearchConfig  # noqa: E402
from gozero.selfplay.selfplay import SelfPlay, SelfPlayConfig  # noqa: E402

PEER_SCRIPT = Path(__file__).resolve().parent / "peer" / "run_peer.sh"


def ceiling_round(ev: NetEvaluator, planes: np.ndarray, glob: np.ndarray, size: int, seconds: float) -> float:
    """Evaluations per second of back-to-back `evaluate` calls on one batch."""
    calls = 0
    t0 = time.perf_counter()
    while True:
        ev.evaluate(planes, glob, size)
        calls += 1
        dt = time.perf_counter() - t0
        if calls >= 3 and dt >= seconds:
            return calls * len(planes) / dt


def selfplay_round(sp: SelfPlay, moves: int) -> tuple[float, float]:
    """(positions/s, evaluations/s) over ``moves`` lockstep moves of all games."""
    e0 = sp.ev.evaluations
    positions = 0
    t0 = time.perf_counter()
    for _ in range(moves):
        positions += sum(s is not None for s in sp.slots)
        sp.step()
    dt = time.perf_counter() - t0
    return positions / dt, (sp.ev.evaluations - e0) / dt


def peer_round(games: int, sims: int, seconds: float) -> float:
    """Self-play positions/s of the pgx + mctx peer (gumbel_muzero_policy), one process run."""
    cmd = [str(PEER_SCRIPT), "search", "--policy", "gumbel", "--batch", str(games), "--sims", str(sims),
           "--min-time", str(seconds), "--header"]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"peer failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    rows = [ln for ln in proc.stdout.splitlines() if ln.startswith("| gumbel")]
    if not rows:
        raise RuntimeError(f"no result row in the peer's output:\n{proc.stdout}")
    cells = [c.strip() for c in rows[-1].strip("|").split("|")]
    print(f"  peer: {proc.stdout.splitlines()[0]}; {rows[-1]}", flush=True)
    return float(re.sub(r"[^0-9.]", "", cells[-1]))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sims", default="16,64", help="comma-separated simulations per move")
    ap.add_argument("--algorithms", default="gumbel,puct", help="comma-separated: gumbel, puct")
    ap.add_argument("--games", type=int, default=64, help="games in lockstep (= network batch)")
    ap.add_argument("--precision", default="auto",
                    help="comma-separated evaluator precisions (auto, fp32, bf16), each timed in every round")
    ap.add_argument("--compile", action="store_true", help="torch.compile the evaluators (slow to build)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1: see bench/README.md)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds (median is reported)")
    ap.add_argument("--moves", type=int, default=0, help="moves per self-play round (default: 96 / sims, >= 2)")
    ap.add_argument("--ceiling-seconds", type=float, default=2.0, help="seconds per ceiling round")
    ap.add_argument("--peer", action="store_true", help="also run the pgx + mctx peer (16 sims, gumbel)")
    ap.add_argument("--peer-seconds", type=float, default=15.0, help="peer's timed seconds per run")
    ap.add_argument("--random-weights", action="store_true", help="ignore the shipped 9x9 model")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    sims_list = [int(s) for s in args.sims.split(",") if s]
    algos = [a for a in args.algorithms.split(",") if a]
    if args.games < 1 or args.threads < 1 or args.rounds < 1 or any(s < 1 for s in sims_list):
        ap.error("games, threads, rounds and simulations must be positive")
    for a in algos:
        if a not in ("gumbel", "puct"):
            ap.error(f"unknown algorithm {a!r}")
    precisions = [p for p in args.precision.split(",") if p]
    for p in precisions:
        if p not in ("auto", "fp32", "bf16"):
            ap.error(f"unknown precision {p!r}")
    torch.set_num_threads(args.threads)
    os.environ.setdefault("NUMBA_NUM_THREADS", "1")

    model, source = load_net(9, args.random_weights)
    size = model.cfg.size
    evs = {}
    for p in precisions:
        ev = NetEvaluator(model, device="cpu", precision=p, compile=args.compile, random_symmetry=True,
                          seed=args.seed)
        evs[ev.precision] = ev
    planes, glob, _ = sample_positions(model, args.games, size, games=args.games, seed=args.seed)
    print(f"torch {torch.__version__} ({args.threads} thread(s)), precisions {list(evs)}"
          f"{' compiled' if args.compile else ''} "
          f"(asked: {args.precision}), channels_last, net 6x64 ({source}), {args.games} games, "
          f"cpu affinity {sorted(os.sched_getaffinity(0))}")

    rules = Rules()
    runs = {}
    for prec, ev in evs.items():
        for algo in algos:
            for sims in sims_list:
                sp = SelfPlay(ev, size, rules, SearchConfig(algorithm=algo, simulations=sims),
                              SelfPlayConfig(parallel_games=args.games, full_simulations=sims,
                                             cheap_simulations=sims, full_fraction=1.0, sgf_every=0),
                              writer=None, seed=args.seed)
                sp.step()  # warm-up: numba kernels load, first roots expand
                runs[(prec, algo, sims)] = sp
    ceiling: dict[str, list[float]] = {p: [] for p in evs}
    sp_pos: dict[tuple[str, str, int], list[float]] = {k: [] for k in runs}
    sp_evals: dict[tuple[str, str, int], list[float]] = {k: [] for k in runs}
    peer: list[float] = []
    for r in range(args.rounds):
        for prec, ev in evs.items():
            ceiling[prec].append(ceiling_round(ev, planes, glob, size, args.ceiling_seconds))
        for key, sp in runs.items():
            pos, e = selfplay_round(sp, args.moves or max(2, 96 // key[2]))
            sp_pos[key].append(pos)
            sp_evals[key].append(e)
        for prec, ev in evs.items():
            ceiling[prec].append(ceiling_round(ev, planes, glob, size, args.ceiling_seconds))
        if args.peer:
            peer.append(peer_round(args.games, 16, args.peer_seconds))
        print(f"  round {r + 1}/{args.rounds} done", flush=True)

    print()
    for prec in evs:
        print(f"Inference ceiling (NetEvaluator.evaluate, batch {args.games}, {prec}): "
              f"{median(ceiling[prec]):,.0f} evaluations/s (median of {len(ceiling[prec])})")
    print()
    print("| precision | search | sims/move | self-play positions/s | net evaluations/s | evals/s / ceiling |")
    print("|---|---|---:|---:|---:|---:|")
    for key in runs:
        e = median(sp_evals[key])
        print(f"| {key[0]} | {key[1]} | {key[2]} | {median(sp_pos[key]):,.1f} | {e:,.0f} | "
              f"{e / median(ceiling[key[0]]):.0%} |")
    if args.peer:
        p = median(peer)
        print()
        print("| gumbel, 16 sims, 64 games | self-play positions/s | gozero / peer |")
        print("|---|---:|---:|")
        print(f"| pgx + mctx peer (median of {len(peer)}) | {p:,.1f} | |")
        for prec in evs:
            if (prec, "gumbel", 16) in runs:
                g = median(sp_pos[(prec, "gumbel", 16)])
                print(f"| gozero {prec} | {g:,.1f} | {g / p:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
