"""Trainer throughput: training steps and samples per second (9x9, 6x64, batch 256, CPU).

Runs `Trainer.train_step` (symmetry augmentation, all four losses, AdamW, gradient
clipping) on synthetic batches in the replay buffer's layout (planes unpacked to
(B, C, N, N) uint8, float16 policy targets, ownership in {-1, 0, 1}), so that only the trainer
is timed, not sampling from shards. Each thread setting is timed in every round (interleaved),
and the median over rounds is reported.

    taskset -c 0,1 python bench/train_bench.py                 # torch threads 1 and 2
    python bench/train_bench.py --threads 1 --batch 256 --rounds 5
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from net_bench import median  # noqa: E402

from gozero.net.features import NUM_GLOBALS, NUM_PLANES  # noqa: E402
from gozero.net.model import NetConfig, build_model  # noqa: E402
from gozero.train.config import TrainConfig  # noqa: E402
from gozero.train.trainer import Trainer  # noqa: E402


def synthetic_batch(n: int, size: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """A batch shaped like `ReplayBuffer.sample` output, filled with plausible random values."""
    nn = size * size
    policy = rng.dirichlet(np.full(nn + 1, 0.3), size=n).astype(np.float16)
    value = np.zeros((n, 3), np.float32)
    value[np.arange(n), rng.integers(0, 3, n)] = 1
    return {
        "planes": (rng.random((n, NUM_PLANES, size, size)) < 0.3).astype(np.uint8),
        "globals": rng.random((n, NUM_GLOBALS)).astype(np.float32),
        "policy": policy,
        "policy_weight": np.ones(n, np.float32),
        "value": value,
        "ownership": rng.integers(-1, 2, (n, nn)).astype(np.int8),
        "score": rng.normal(0, 10, n).astype(np.float32),
        "aux_weight": np.ones(n, np.float32),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--threads", default="1,2", help="comma-separated torch thread counts")
    ap.add_argument("--rounds", type=int, default=3, help="timing rounds (median is reported)")
    ap.add_argument("--steps", type=int, default=5, help="training steps per round")
    args = ap.parse_args(argv)
    threads = [int(t) for t in args.threads.split(",") if t]
    if args.batch < 1 or args.rounds < 1 or args.steps < 1 or not threads or min(threads) < 1:
        ap.error("batch, rounds, steps and thread counts must be positive")
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    cfg = NetConfig(size=9)
    trainer = Trainer(build_model(cfg), TrainConfig(batch_size=args.batch), torch.device("cpu"), seed=0)
    batches = [synthetic_batch(args.batch, cfg.size, rng) for _ in range(4)]
    trainer.train_step(batches[0])  # warm-up (allocations, oneDNN primitives)
    print(f"torch {torch.__version__}, net {cfg.blocks}x{cfg.channels}, batch {args.batch}, AdamW, fp32")
    times: dict[int, list[float]] = {t: [] for t in threads}
    losses = []
    for r in range(args.rounds):
        for t in threads:
            torch.set_num_threads(t)
            t0 = time.perf_counter()
            for i in range(args.steps):
                losses.append(trainer.train_step(batches[i % len(batches)])["loss"])
            times[t].append((time.perf_counter() - t0) / args.steps)
        print(f"  round {r + 1}/{args.rounds} done", flush=True)
    if not all(np.isfinite(losses)):
        raise RuntimeError("non-finite training loss")
    print()
    print("| torch threads | steps/s | samples/s | s/step |")
    print("|---:|---:|---:|---:|")
    for t in threads:
        s = median(times[t])
        print(f"| {t} | {1 / s:.2f} | {args.batch / s:,.0f} | {s:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
