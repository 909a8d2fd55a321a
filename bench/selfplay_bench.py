"""Self-play throughput against the network's own inference ceiling, and against the peer.

For each search (Gumbel and PUCT) and simulation count, runs `SelfPlay` with 64 games in
lockstep (every move a full search of ``sims`` simulations, recorded as a training position)
with the 9x9 6x64 net, and in the same rounds times the pure inference ceiling: the same
`NetEvaluator` (same precision, threads, batch = number of games) evaluating a batch of real
positions back to back. Reported as medians over rounds:

- self-play positions/s = games x moves / time (every move counts, the peer's definition),
- network evaluations/s in self-play, and that as a fraction of the evaluator's ceiling and
  of the bare network's: the model alone, compiled, bf16 autocast, channels_last (fp32 where
  the evaluator runs fp32), at the same batch (``net_bench.py --compile``'s figure; the
  target is >= 80 %),
- the evaluator's precision against fp32 eager on real positions (policy KL, top-1
  agreement, value difference), so a faster path cannot hide a less accurate one.

``--compile auto,off`` runs the evaluator as it is by default (compiled where it pays; the
benchmark waits for the build) and eagerly, side by side. ``--procs 2`` also runs two
self-play processes at once against two processes of the bare compiled network (the 2-core
figure).

With ``--peer`` it also runs the pgx + mctx peer (`bench/peer/run_peer.sh`, JAX in its own
venv; gumbel_muzero_policy, the same net shape, 64 games, 16 simulations) between gozero's
rounds and prints gozero / peer.

    taskset -c 1 python bench/selfplay_bench.py --sims 16 --compile auto,off --peer
    taskset -c 0,1 python bench/selfplay_bench.py --sims 16 --algorithms gumbel --procs 2
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
from net_bench import Variant, load_net, median, sample_positions  # noqa: E402

from gozero.net.inference import NetEvaluator  # noqa: E402
from gozero.rules import Rules  # noqa: E402
from gozero.search.mcts import SearchConfig  # noqa: E402
from gozero.selfplay.selfplay import SelfPlay, SelfPlayConfig  # noqa: E402

PEER_SCRIPT = Path(__file__).resolve().parent / "peer" / "run_peer.sh"


CLOCK = time.process_time  # --clock: CPU seconds of this process (all work here is one thread) or wall time


def ceiling_round(ev: NetEvaluator, planes: np.ndarray, glob: np.ndarray, size: int, seconds: float) -> float:
    """Evaluations per second of back-to-back `evaluate` calls on one batch."""
    calls = 0
    t0 = CLOCK()
    while True:
        ev.evaluate(planes, glob, size)
        calls += 1
        dt = CLOCK() - t0
        if calls >= 3 and dt >= seconds:
            return calls * len(planes) / dt


def selfplay_round(sp: SelfPlay, moves: int) -> tuple[float, float, float]:
    """(positions/s by the clock, evaluations/s by the clock, positions/s by wall time) over
    ``moves`` lockstep moves of all games."""
    e0 = sp.ev.evaluations
    positions = 0
    t0, w0 = CLOCK(), time.perf_counter()
    for _ in range(moves):
        positions += sum(s is not None for s in sp.slots)
        sp.step()
    dt, wall = CLOCK() - t0, time.perf_counter() - w0
    return positions / dt, (sp.ev.evaluations - e0) / dt, positions / wall


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


def precision_check(ev: NetEvaluator, ref: NetEvaluator, planes: np.ndarray, glob: np.ndarray,
                    legal: np.ndarray, size: int, batch: int) -> dict[str, float]:
    """The evaluator against fp32 eager on the same positions (no symmetry): KL(ref || ev) and
    top-1 agreement of the policies over legal moves, mean and max |value difference|."""
    sym = ev.random_symmetry
    ev.random_symmetry = False
    kl, top1, dv = [], [], []
    for i in range(0, len(planes) - batch + 1, batch):
        a = ref.evaluate(planes[i:i + batch], glob[i:i + batch], size)
        b = ev.evaluate(planes[i:i + batch], glob[i:i + batch], size)
        mask = legal[i:i + batch]
        lp = torch.log_softmax(torch.from_numpy(np.where(mask, a.policy, -1e9)), dim=1)
        lq = torch.log_softmax(torch.from_numpy(np.where(mask, b.policy, -1e9)), dim=1)
        kl.append(((lp.exp() * (lp - lq)).masked_fill(~torch.from_numpy(mask), 0).sum(dim=1)).numpy())
        top1.append((lp.argmax(1) == lq.argmax(1)).numpy())
        dv.append(np.abs(a.value - b.value))
    ev.random_symmetry = sym
    kl_a, top1_a, dv_a = np.concatenate(kl), np.concatenate(top1), np.concatenate(dv)
    return {"n": len(kl_a), "kl_mean": float(kl_a.mean()), "kl_max": float(kl_a.max()),
            "top1": float(top1_a.mean()), "value_mad": float(dv_a.mean()), "value_maxd": float(dv_a.max())}


def net_ceiling_round(v: Variant, x: torch.Tensor, g: torch.Tensor, seconds: float) -> float:
    """Positions per second of the bare network variant on one batch, back to back."""
    calls = 0
    t0 = CLOCK()
    while True:
        v.run(x, g)
        calls += 1
        dt = CLOCK() - t0
        if calls >= 3 and dt >= seconds:
            return calls * x.shape[0] / dt


def _proc_main(kind: str, args: argparse.Namespace, start, queue) -> None:
    """One process of the 2-process figure: builds its evaluator (or bare net), waits for the
    others at ``start``, then reports evaluations/s (self-play) or positions/s (network)."""
    torch.set_num_threads(1)
    model, _ = load_net(9, args.random_weights)
    size = model.cfg.size
    planes, glob, _ = sample_positions(model, args.games, size, games=args.games, seed=args.seed)
    if kind == "net":
        v = Variant(model, "bf16" if NetEvaluator(model, device="cpu", compile=False).precision == "bf16" else "fp32",
                    True, True)
        x, g = v.inputs(planes, glob, size)
        v.run(x, g)
        start.wait()
        queue.put(("net", net_ceiling_round(v, x, g, args.ceiling_seconds * 2)))
        return
    ev = NetEvaluator(model, device="cpu", compile="auto", random_symmetry=True, seed=args.seed)
    ev.build(batch=args.games)
    sims = int(args.sims.split(",")[0])
    algo = args.algorithms.split(",")[0]
    sp = SelfPlay(ev, size, Rules(), SearchConfig(algorithm=algo, simulations=sims),
                  SelfPlayConfig(parallel_games=args.games, full_simulations=sims, cheap_simulations=sims,
                                 full_fraction=1.0, sgf_every=0), writer=None, seed=args.seed)
    sp.step()
    start.wait()
    pos, evals, _ = selfplay_round(sp, (args.moves or max(2, 96 // sims)) * 2)
    queue.put(("selfplay", evals, pos))


def two_process_figure(args: argparse.Namespace, procs: int) -> dict[str, float]:
    """Sum over ``procs`` simultaneous processes: self-play evaluations/s and positions/s,
    and the bare compiled network's positions/s (each process one torch thread)."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    out: dict[str, float] = {}
    for kind in ("net", "selfplay", "net"):
        start, queue = ctx.Barrier(procs), ctx.Queue()
        ps = [ctx.Process(target=_proc_main, args=(kind, args, start, queue)) for _ in range(procs)]
        for p in ps:
            p.start()
        rows = [queue.get() for _ in ps]
        for p in ps:
            p.join()
        if kind == "net":
            out.setdefault("net", []).append(sum(r[1] for r in rows))  # type: ignore[union-attr]
        else:
            out["selfplay_evals"] = sum(r[1] for r in rows)
            out["selfplay_positions"] = sum(r[2] for r in rows)
    out["net"] = median(out["net"])  # type: ignore[arg-type]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sims", default="16,64", help="comma-separated simulations per move")
    ap.add_argument("--algorithms", default="gumbel,puct", help="comma-separated: gumbel, puct")
    ap.add_argument("--games", type=int, default=64, help="games in lockstep (= network batch)")
    ap.add_argument("--precision", default="auto",
                    help="comma-separated evaluator precisions (auto, fp32, bf16), each timed in every round")
    ap.add_argument("--compile", default="auto",
                    help="comma-separated evaluator compile settings: auto (the default: compiled where it pays), "
                         "off (eager)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1: see bench/README.md)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds (median is reported)")
    ap.add_argument("--moves", type=int, default=0, help="moves per self-play round (default: 96 / sims, >= 2)")
    ap.add_argument("--ceiling-seconds", type=float, default=2.0, help="seconds per ceiling round")
    ap.add_argument("--peer", action="store_true", help="also run the pgx + mctx peer (16 sims, gumbel)")
    ap.add_argument("--peer-seconds", type=float, default=15.0, help="peer's timed seconds per run")
    ap.add_argument("--procs", type=int, default=0, help="also time N self-play processes at once (0: no)")
    ap.add_argument("--accuracy-positions", type=int, default=512, help="positions for the precision check")
    ap.add_argument("--clock", choices=["cpu", "wall"], default="cpu",
                    help="rates by this process's CPU seconds (default; steadier on a shared machine, where other "
                         "processes take slices of the core) or by wall time; the comparison with the peer always "
                         "uses wall time on both sides")
    ap.add_argument("--random-weights", action="store_true", help="ignore the shipped 9x9 model")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
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
    compiles = [c for c in args.compile.split(",") if c]
    for c in compiles:
        if c not in ("auto", "off"):
            ap.error(f"unknown compile setting {c!r}")
    torch.set_num_threads(args.threads)
    os.environ.setdefault("NUMBA_NUM_THREADS", "1")

    model, source = load_net(9, args.random_weights)
    size = model.cfg.size
    evs: dict[tuple[str, str], NetEvaluator] = {}
    for p in precisions:
        for c in compiles:
            ev = NetEvaluator(model, device="cpu", precision=p, compile="auto" if c == "auto" else False,
                              random_symmetry=True, seed=args.seed)
            t0 = time.perf_counter()
            ev.build(batch=args.games)
            print(f"  evaluator {ev.precision} compile={c}: {ev.compile_status} "
                  f"({time.perf_counter() - t0:.1f} s)", flush=True)
            evs[(ev.precision, c)] = ev
    # the bare network, compiled, per precision in use (net_bench.py --compile's variants)
    nets = {prec: Variant(model, prec, True, True) for prec in {k[0] for k in evs}}
    planes, glob, legal = sample_positions(model, max(args.games, args.accuracy_positions), size,
                                           games=args.games, seed=args.seed)
    batch_planes, batch_glob = planes[: args.games], glob[: args.games]
    net_inputs = {prec: v.inputs(batch_planes, batch_glob, size) for prec, v in nets.items()}
    for prec, v in nets.items():
        t0 = time.perf_counter()
        v.run(*net_inputs[prec])
        print(f"  built the bare {v.name} network in {time.perf_counter() - t0:.1f} s", flush=True)
    print(f"torch {torch.__version__} ({args.threads} thread(s)), evaluators {[f'{p}/{c}' for p, c in evs]} "
          f"(asked: {args.precision}), channels_last, net 6x64 ({source}), {args.games} games, "
          f"cpu affinity {sorted(os.sched_getaffinity(0))}")

    rules = Rules()
    runs = {}
    for (prec, comp), ev in evs.items():
        for algo in algos:
            for sims in sims_list:
                sp = SelfPlay(ev, size, rules, SearchConfig(algorithm=algo, simulations=sims),
                              SelfPlayConfig(parallel_games=args.games, full_simulations=sims,
                                             cheap_simulations=sims, full_fraction=1.0, sgf_every=0),
                              writer=None, seed=args.seed)
                sp.step()  # warm-up: numba kernels load, first roots expand
                runs[(prec, comp, algo, sims)] = sp
    ceiling: dict[tuple[str, str], list[float]] = {k: [] for k in evs}
    net_ceiling: dict[str, list[float]] = {p: [] for p in nets}
    sp_pos: dict[tuple, list[float]] = {k: [] for k in runs}
    sp_evals: dict[tuple, list[float]] = {k: [] for k in runs}
    sp_wall: dict[tuple, list[float]] = {k: [] for k in runs}
    peer: list[float] = []

    def ceilings() -> None:
        for k, ev in evs.items():
            ceiling[k].append(ceiling_round(ev, batch_planes, batch_glob, size, args.ceiling_seconds))
        for prec, v in nets.items():
            net_ceiling[prec].append(net_ceiling_round(v, *net_inputs[prec], args.ceiling_seconds))

    for r in range(args.rounds):
        ceilings()
        for key, sp in runs.items():
            pos, e, wall = selfplay_round(sp, args.moves or max(2, 96 // key[3]))
            sp_pos[key].append(pos)
            sp_evals[key].append(e)
            sp_wall[key].append(wall)
        ceilings()
        if args.peer:
            peer.append(peer_round(args.games, 16, args.peer_seconds))
        print(f"  round {r + 1}/{args.rounds} done", flush=True)

    print()
    for (prec, comp), v in ceiling.items():
        print(f"Evaluator ceiling (NetEvaluator.evaluate, batch {args.games}, {prec}, compile {comp}): "
              f"{median(v):,.0f} evaluations/s (median of {len(v)})")
    for prec, v in net_ceiling.items():
        print(f"Network ceiling (bare model, compiled, {prec} channels_last, batch {args.games}): "
              f"{median(v):,.0f} positions/s (median of {len(v)})")
    print()
    print(f"Rates by {'CPU seconds of this process' if args.clock == 'cpu' else 'wall time'}:")
    print("| precision | compile | search | sims/move | self-play positions/s | net evaluations/s "
          "| / evaluator ceiling | / compiled network |")
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for key in runs:
        e = median(sp_evals[key])
        print(f"| {key[0]} | {key[1]} | {key[2]} | {key[3]} | {median(sp_pos[key]):,.1f} | {e:,.0f} | "
              f"{e / median(ceiling[key[:2]]):.0%} | {e / median(net_ceiling[key[0]]):.0%} |")

    ref = NetEvaluator(model, device="cpu", precision="fp32", compile=False, random_symmetry=False)
    print()
    print(f"Precision of each evaluator against fp32 eager ({args.accuracy_positions} self-play positions, "
          "policy over legal moves):")
    print("| evaluator | policy KL mean | policy KL max | top-1 agreement | value mean abs diff | value max abs diff |")
    print("|---|---:|---:|---:|---:|---:|")
    for (prec, comp), ev in evs.items():
        a = precision_check(ev, ref, planes, glob, legal, size, args.games)
        print(f"| {prec} compile {comp} ({ev.compile_status}) | {a['kl_mean']:.2e} | {a['kl_max']:.2e} | "
              f"{a['top1']:.2%} | {a['value_mad']:.4f} | {a['value_maxd']:.4f} |")
    if args.peer:
        p = median(peer)
        print()
        print("| gumbel, 16 sims, 64 games, wall time | self-play positions/s | gozero / peer |")
        print("|---|---:|---:|")
        print(f"| pgx + mctx peer (median of {len(peer)}) | {p:,.1f} | |")
        for (prec, comp) in evs:
            if (prec, comp, "gumbel", 16) in runs:
                g = median(sp_wall[(prec, comp, "gumbel", 16)])
                print(f"| gozero {prec} compile {comp} | {g:,.1f} | {g / p:.2f}x |")
    if args.procs > 1:
        f = two_process_figure(args, args.procs)
        print()
        print(f"{args.procs} processes at once (one torch thread each), batch {args.games}:")
        print("| measure | sum over processes |")
        print("|---|---:|")
        print(f"| bare compiled network, positions/s | {f['net']:,.0f} |")
        print(f"| self-play network evaluations/s | {f['selfplay_evals']:,.0f} |")
        print(f"| self-play positions/s | {f['selfplay_positions']:,.1f} |")
        print(f"| self-play / network | {f['selfplay_evals'] / f['net']:.0%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
