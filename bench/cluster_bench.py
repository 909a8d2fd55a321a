"""Self-play in local worker processes against Ray actors, on the same cores in one run.

For each count N (default 1 and 2) it runs, one after the other and interleaved:

- **processes**: N spawned processes, each a `SelfPlay` writing its games through its own
  `ShardWriter` into a scratch run directory (what ``run.selfplay_workers`` does);
- **ray**: N `SelfPlayActor`s on a local Ray instance (127.0.0.1, token auth, no
  dashboard) returning chunks that this process, the learner, writes through one
  `ShardWriter` (what ``--cluster local`` does), two chunk calls in flight per actor.

Every config first warms up (imports, numba, first network calls), then measures
``--seconds`` of steady state: positions/s (lockstep moves of all games, every move counts,
as bench/selfplay_bench.py), network evaluations/s, and for Ray the recorded positions
that reached the learner. Then Ray's cost per chunk: the round trip of an empty
``play_chunk`` call, the bytes per recorded position a chunk carries, and the learner's time
to receive and write a chunk, as a fraction of the chunk's playing time. The projection per
added node multiplies the 1-actor rate by the actors a node holds, less that overhead.

    taskset -c 0,1 nice python bench/cluster_bench.py --rounds 2
    taskset -c 0,1 nice python bench/cluster_bench.py --seconds 60 --set selfplay.parallel_games=64
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import pickle
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from gozero.train.config import load_config  # noqa: E402

STATS = ("moves", "net_evals", "positions", "games")


def _build_selfplay(cfg, seed: int, writer):
    import torch

    from gozero.net.inference import NetEvaluator
    from gozero.net.model import build_model
    from gozero.rules import Rules
    from gozero.selfplay.selfplay import SelfPlay

    torch.set_num_threads(1)
    torch.manual_seed(0)  # the same weights as the actors get: the same games to play
    ev = NetEvaluator(build_model(cfg.net), device="cpu", precision=cfg.run.precision, seed=seed)
    rules = Rules(komi=cfg.game.komi, ko=cfg.game.ko, suicide=cfg.game.suicide)
    return SelfPlay(ev, cfg.game.size, rules, cfg.search, cfg.selfplay, writer, seed=seed)


def _process_worker(config: dict, k: int, run_dir: str, warm_s: float, seconds: float, ready, go, out) -> None:
    from gozero.selfplay.shards import ShardWriter
    from gozero.train.config import RunConfig

    cfg = RunConfig.from_dict(config)
    sp = _build_selfplay(cfg, 1000 + k, ShardWriter(Path(run_dir), cfg.run.shard_positions, name=f"w{k:02d}"))
    t = time.monotonic()
    while time.monotonic() - t < warm_s:
        sp.step()
    ready.release()
    go.wait()
    s0 = sp.stats.as_dict()
    t0, c0 = time.monotonic(), time.process_time()
    while time.monotonic() - t0 < seconds:
        sp.step()
    s1 = sp.stats.as_dict()
    out.put({k2: s1[k2] - s0[k2] for k2 in STATS} | {"seconds": time.monotonic() - t0,
                                                      "cpu": time.process_time() - c0})


def run_processes(cfg, n: int, warm_s: float, seconds: float) -> dict:
    ctx = mp.get_context("spawn")
    ready, go, out = ctx.Semaphore(0), ctx.Event(), ctx.Queue()
    with tempfile.TemporaryDirectory() as d:
        procs = [ctx.Process(target=_process_worker, args=(cfg.to_dict(), k, d, warm_s, seconds, ready, go, out))
                 for k in range(n)]
        for p in procs:
            p.start()
        for _ in range(n):
            ready.acquire()
        go.set()
        rows = [out.get(timeout=seconds + 600) for _ in range(n)]
        for p in procs:
            p.join()
    total = {k: sum(r[k] for r in rows) for k in STATS}
    span = float(np.mean([r["seconds"] for r in rows]))
    cpu = sum(r["cpu"] for r in rows)
    return {"positions_per_s": total["moves"] / span, "evals_per_s": total["net_evals"] / span,
            "recorded_per_s": total["positions"] / span, "positions_per_cpu_s": total["moves"] / cpu}


def run_actors(cfg, n: int, warm_s: float, seconds: float) -> dict:
    import ray
    import torch

    from gozero.net.model import build_model
    from gozero.selfplay.shards import ShardWriter
    from gozero.train.cluster_selfplay import IN_FLIGHT, SelfPlayActor

    cls = ray.remote(num_cpus=1)(SelfPlayActor)
    torch.manual_seed(0)
    state = {k: v.numpy() for k, v in build_model(cfg.net).state_dict().items()}
    weights = [ray.put(state)]
    chunk_games, chunk_s = cfg.cluster.chunk_games, cfg.cluster.chunk_seconds
    actors = [cls.remote(cfg.to_dict(), k, 1000 + k) for k in range(n)]
    ray.get([a.play_chunk.remote(0, 0, weights, 10**6, warm_s) for a in actors])  # warm up, same version after
    with tempfile.TemporaryDirectory() as d:
        writer = ShardWriter(Path(d), cfg.run.shard_positions)
        inflight = {}
        for a in actors:
            for _ in range(IN_FLIGHT):
                inflight[a.play_chunk.remote(0, 0, weights, chunk_games, chunk_s)] = a
        total = dict.fromkeys(STATS, 0)
        chunks, get_s, write_s, play_s, nbytes, recorded, cpu = 0, 0.0, 0.0, 0.0, 0, 0, 0.0
        t0 = time.monotonic()
        while time.monotonic() - t0 < seconds:
            ready, _ = ray.wait(list(inflight), num_returns=1, timeout=1.0)
            for ref in ready:
                a = inflight.pop(ref)
                h0 = time.perf_counter()
                chunk = ray.get(ref)
                h1 = time.perf_counter()
                for g in chunk["games"]:
                    writer.add_game(g, cfg.game.size)
                get_s += h1 - h0
                write_s += time.perf_counter() - h1
                inflight[a.play_chunk.remote(0, 0, weights, chunk_games, chunk_s)] = a
                for k in STATS:
                    total[k] += chunk["stats"][k]
                chunks += 1
                play_s += chunk["seconds"]
                cpu += chunk["cpu_seconds"]
                recorded += sum(len(g["policy_weight"]) for g in chunk["games"])
                nbytes += len(pickle.dumps(chunk["games"], protocol=5))
        span = time.monotonic() - t0
        # one actor's empty round trip: Ray's fixed cost per chunk call
        ray.wait(list(inflight), num_returns=len(inflight), timeout=chunk_s + 60)
        trips = []
        for _ in range(30):
            r0 = time.perf_counter()
            ray.get(actors[0].play_chunk.remote(0, 0, weights, 0, 0.0))
            trips.append(time.perf_counter() - r0)
    for a in actors:
        ray.kill(a)
    return {"positions_per_s": total["moves"] / span, "evals_per_s": total["net_evals"] / span,
            "recorded_per_s": recorded / span, "positions_per_cpu_s": total["moves"] / max(cpu, 1e-9),
            "chunks": chunks, "round_trip_ms": 1000 * float(np.median(trips)),
            "get_ms_per_chunk": 1000 * get_s / max(chunks, 1), "write_ms_per_chunk": 1000 * write_s / max(chunks, 1),
            "play_s_per_chunk": play_s / max(chunks, 1), "bytes_per_position": nbytes / max(recorded, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="9x9")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--seconds", type=float, default=40.0, help="measured seconds per config")
    ap.add_argument("--warmup", type=float, default=15.0, help="seconds of play before measuring")
    ap.add_argument("--rounds", type=int, default=1, help="rounds of all configs (medians reported)")
    ap.add_argument("--node-actors", type=int, default=16, help="actors per added node in the projection")
    ap.add_argument("--set", dest="sets", action="append", default=[], help="config override section.key=value")
    args = ap.parse_args()
    sets = ["selfplay.parallel_games=32", "cluster.chunk_seconds=5", 'run.device="cpu"', *args.sets]
    cfg = load_config(preset=args.preset, overrides=sets)
    from gozero.train.cluster import ClusterSession

    print(f"preset {args.preset} {' '.join(sets)}; {args.seconds:g} s per config after {args.warmup:g} s warm-up; "
          f"cores {sorted(os.sched_getaffinity(0))}, load {os.getloadavg()[0]:.1f}", flush=True)
    session = ClusterSession("local", num_cpus=max(args.workers))
    runs: dict = {}
    try:
        for rnd in range(args.rounds):
            order = (("processes", run_processes), ("ray", run_actors))
            for n in args.workers:
                for mode, fn in (order if rnd % 2 == 0 else order[::-1]):
                    r = fn(cfg, n, args.warmup, args.seconds)
                    runs.setdefault((mode, n), []).append(r)
                    print(f"round {rnd + 1} {mode:9s} x{n}: {r['positions_per_s']:8.1f} positions/s  "
                          f"{r['evals_per_s']:8.0f} evals/s  {r['recorded_per_s']:6.1f} recorded/s  "
                          f"{r['positions_per_cpu_s']:6.1f} per CPU-s  "
                          f"load {os.getloadavg()[0]:.1f}", flush=True)
    finally:
        session.close()
    results = {key: {k: float(np.median([r[k] for r in rs])) for k in rs[0]} for key, rs in runs.items()}
    print("\n| workers | processes positions/s | Ray actors positions/s | Ray / processes | "
          "positions per CPU-second (processes, Ray) | evals/s (processes, Ray) |")
    print("|---:|---:|---:|---:|---|---|")
    for n in args.workers:
        p, r = results[("processes", n)], results[("ray", n)]
        print(f"| {n} | {p['positions_per_s']:.1f} | {r['positions_per_s']:.1f} | "
              f"{r['positions_per_s'] / p['positions_per_s']:.2f} | {p['positions_per_cpu_s']:.1f}, "
              f"{r['positions_per_cpu_s']:.1f} | {p['evals_per_s']:.0f}, {r['evals_per_s']:.0f} |")
    one = results[("ray", args.workers[0])]
    per_chunk = (one["round_trip_ms"] + one["get_ms_per_chunk"]) / 1000
    frac = per_chunk / max(one["play_s_per_chunk"], 1e-9)
    print(f"\nRay per chunk: empty round trip {one['round_trip_ms']:.1f} ms + ray.get of the games "
          f"{one['get_ms_per_chunk']:.1f} ms = {100 * frac:.2f} % of the {one['play_s_per_chunk']:.1f} s "
          "a chunk plays; "
          f"{one['bytes_per_position']:.0f} bytes per recorded position; the learner then writes the chunk's games "
          f"in {one['write_ms_per_chunk']:.1f} ms (a process worker pays that itself)")
    rate = one["positions_per_s"] / args.workers[0]
    rec = one["recorded_per_s"] / args.workers[0]
    print(f"projection: +{args.node_actors * rate * (1 - frac):.0f} positions/s "
          f"({args.node_actors * rec:.0f} recorded/s, {args.node_actors * rec * one['bytes_per_position'] / 1e6:.2f} "
          f"MB/s to the learner) per added node of {args.node_actors} such cores")


if __name__ == "__main__":
    main()
