"""Network inference benchmark: fp32 vs bf16 autocast vs channels_last, eager or compiled.

Times the 9x9 6x64 network (``NetConfig(size=9)`` defaults, weights from
``src/gozero/models/9x9.pt`` when it exists) at several batch sizes, every variant in the same
run and interleaved round by round so that load from other processes hits them alike; the
figure of each variant is the median over rounds. It then checks bf16 against fp32 on real
positions (from games the network plays against itself by sampling its own policy): policy
KL divergence and top-1 agreement over legal moves, and the mean absolute value difference.

    taskset -c 0,1 python bench/net_bench.py                  # eager variants, batch 64/128/256
    taskset -c 0,1 python bench/net_bench.py --compile        # + torch.compile (minutes here)
    python bench/net_bench.py --threads 1,2 --batches 128     # thread settings side by side

The shared helpers (`load_net`, `sample_positions`, `median`) are imported by the other
benchmarks of the learning core.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
import torch._dynamo

from gozero.net.features import encode_game
from gozero.net.inference import NetEvaluator
from gozero.net.model import GoNet, NetConfig, build_model
from gozero.rules import Game, Rules

REPO = Path(__file__).resolve().parents[1]
MODEL_PATH = REPO / "src" / "gozero" / "models" / "9x9.pt"


def median(xs: list[float]) -> float:
    return float(statistics.median(xs)) if xs else float("nan")


def load_net(size: int = 9, random_weights: bool = False) -> tuple[GoNet, str]:
    """The 6x64 net: the shipped 9x9 model when there is one, else random weights (eval mode)."""
    if size == 9 and not random_weights and MODEL_PATH.exists():
        from gozero.net.inference import load_checkpoint_model

        model, _ = load_checkpoint_model(MODEL_PATH)
        if model.cfg == NetConfig(size=9):
            return model.eval(), f"{MODEL_PATH.relative_to(REPO)}"
    torch.manual_seed(0)
    return build_model(NetConfig(size=size)).eval(), "random weights"


def sample_positions(model: GoNet, n: int, size: int = 9, games: int = 64, seed: int = 0,
                     max_moves: int = 120, keep: float = 0.2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` positions (planes (n, C, NN) uint8, globals, legal masks) from games that ``model``
    plays against itself, each move sampled from its raw policy over legal moves (fp32, one
    thread). Each position is kept with probability ``keep``, so that the sample spreads over
    openings, middle games and endgames (games restart after ``max_moves``)."""
    if n < 1 or not 0 < keep <= 1:
        raise ValueError("n must be positive and keep in (0, 1]")
    rng = np.random.default_rng(seed)
    ev = NetEvaluator(model, device="cpu", precision="fp32", random_symmetry=False)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    planes_out, glob_out, legal_out = [], [], []
    nn = size * size
    boards = [Game(size, Rules()) for _ in range(games)]
    while sum(len(p) for p in planes_out) < n:
        feats = [encode_game(g) for g in boards]
        planes = np.stack([f[0] for f in feats])
        glob = np.stack([f[1] for f in feats])
        legal = np.stack([g.legal_mask() for g in boards])
        chosen = rng.random(len(boards)) < keep
        planes_out.append(planes[chosen])
        glob_out.append(glob[chosen])
        legal_out.append(legal[chosen])
        logits = ev.evaluate(planes, glob, size).policy
        for i, g in enumerate(boards):
            z = np.where(legal[i], logits[i], -np.inf)
            p = np.exp(z - z.max())
            p /= p.sum()
            g.play(int(rng.choice(nn + 1, p=p)))
            if g.is_over or len(g.moves) >= max_moves:
                boards[i] = Game(size, Rules())
    torch.set_num_threads(threads)
    return (np.concatenate(planes_out)[:n], np.concatenate(glob_out)[:n], np.concatenate(legal_out)[:n])


class Variant:
    """One way of running the forward pass: precision, memory format, compiled or not."""

    def __init__(self, model: GoNet, precision: str, channels_last: bool, compiled: bool):
        self.precision = precision
        self.channels_last = channels_last
        self.compiled = compiled
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        import copy

        self.model = copy.deepcopy(model).eval().to(memory_format=fmt)
        if compiled:
            from gozero.net.inference import use_compile_cache

            use_compile_cache()  # the same on-disk cache as NetEvaluator's builds
            torch._dynamo.config.recompile_limit = 64  # type: ignore[attr-defined]
        self.forward = torch.compile(self.model) if compiled else self.model

    @property
    def name(self) -> str:
        return (f"{self.precision}{' channels_last' if self.channels_last else ''}"
                f"{' compiled' if self.compiled else ''}")

    def inputs(self, planes: np.ndarray, glob: np.ndarray, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        b, c, _ = planes.shape
        x = torch.from_numpy(np.ascontiguousarray(planes)).reshape(b, c, size, size).float()
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x, torch.from_numpy(glob)

    @torch.inference_mode()
    def run(self, x: torch.Tensor, g: torch.Tensor) -> dict[str, torch.Tensor]:
        ctx = torch.autocast("cpu", dtype=torch.bfloat16) if self.precision == "bf16" else nullcontext()
        with ctx:
            out = self.forward(x, g)
        return {k: v.float() for k, v in out.items()}


def time_variant(v: Variant, x: torch.Tensor, g: torch.Tensor, min_seconds: float) -> float:
    """Positions per second of one timing round (at least 3 calls and ``min_seconds``)."""
    calls = 0
    t0 = time.perf_counter()
    while True:
        v.run(x, g)
        calls += 1
        dt = time.perf_counter() - t0
        if calls >= 3 and dt >= min_seconds:
            return calls * x.shape[0] / dt


def accuracy(ref: dict[str, torch.Tensor], out: dict[str, torch.Tensor], legal: np.ndarray) -> dict[str, float]:
    """KL(ref || out) and top-1 agreement of the policies over legal moves, mean |value diff|."""
    mask = torch.from_numpy(legal)
    lp = torch.log_softmax(ref["policy"].masked_fill(~mask, -1e9), dim=1)
    lq = torch.log_softmax(out["policy"].masked_fill(~mask, -1e9), dim=1)
    kl = (lp.exp() * (lp - lq)).masked_fill(~mask, 0).sum(dim=1)
    top1 = (lp.argmax(dim=1) == lq.argmax(dim=1)).float()

    def value(o: dict[str, torch.Tensor]) -> torch.Tensor:
        w = torch.softmax(o["value"], dim=1)
        return w[:, 0] - w[:, 2]

    return {"kl_mean": float(kl.mean()), "kl_max": float(kl.max()), "top1": float(top1.mean()),
            "value_mad": float((value(ref) - value(out)).abs().mean()),
            "value_maxd": float((value(ref) - value(out)).abs().max())}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batches", default="64,128,256", help="comma-separated batch sizes")
    ap.add_argument("--threads", default="", help="comma-separated torch thread counts (default: torch's)")
    ap.add_argument("--rounds", type=int, default=5, help="timing rounds per variant (median is reported)")
    ap.add_argument("--seconds", type=float, default=1.0, help="minimum seconds per timing round")
    ap.add_argument("--compile", action="store_true", help="also time torch.compile'd variants (slow to build)")
    ap.add_argument("--positions", type=int, default=2048, help="positions for the bf16 accuracy check")
    ap.add_argument("--random-weights", action="store_true", help="ignore the shipped 9x9 model")
    args = ap.parse_args(argv)
    batches = [int(b) for b in args.batches.split(",") if b]
    threads = [int(t) for t in args.threads.split(",") if t] or [torch.get_num_threads()]
    if any(b < 1 for b in batches) or any(t < 1 for t in threads) or args.rounds < 1:
        ap.error("batch sizes, thread counts and rounds must be positive")

    model, source = load_net(9, args.random_weights)
    size = model.cfg.size
    print(f"torch {torch.__version__}, cpu capability {torch.backends.cpu.get_cpu_capability()}, "
          f"mkldnn {torch.backends.mkldnn.is_available()}, mkldnn bf16 "
          f"{getattr(torch.ops.mkldnn, '_is_mkldnn_bf16_supported', lambda: 'n/a')()}; net 6x64 ({source})")
    t0 = time.perf_counter()
    planes, glob, legal = sample_positions(model, max(args.positions, max(batches)), size)
    stones = planes[:, :2].sum(axis=(1, 2))
    print(f"{len(planes)} positions from self-play sampling in {time.perf_counter() - t0:.1f} s "
          f"(stones on board: mean {stones.mean():.1f}, max {stones.max()})")

    variants = [Variant(model, p, cl, False) for p in ("fp32", "bf16") for cl in (False, True)]
    if args.compile:
        # the compiled copies share GoNet.forward's code object, hence one recompile budget
        torch._dynamo.config.recompile_limit = 64  # type: ignore[attr-defined]
        variants += [Variant(model, p, cl, True) for p in ("fp32", "bf16") for cl in (False, True)]
    for v in variants:  # warm up (and compile) once per batch size
        for b in batches:
            t1 = time.perf_counter()
            v.run(*v.inputs(planes[:b], glob[:b], size))
            if v.compiled:
                print(f"  built {v.name} at batch {b} in {time.perf_counter() - t1:.1f} s", flush=True)

    results: dict[tuple[int, int, str], list[float]] = {}
    for r in range(args.rounds):
        for t in threads:
            torch.set_num_threads(t)
            for b in batches:
                for v in variants:
                    x, g = v.inputs(planes[:b], glob[:b], size)
                    results.setdefault((t, b, v.name), []).append(time_variant(v, x, g, args.seconds))
        print(f"  round {r + 1}/{args.rounds} done", flush=True)

    base = variants[0].name
    print()
    print("| threads | batch | variant | positions/s (median) | vs fp32 eager |")
    print("|---:|---:|---|---:|---:|")
    for t in threads:
        for b in batches:
            ref = median(results[(t, b, base)])
            for v in variants:
                m = median(results[(t, b, v.name)])
                print(f"| {t} | {b} | {v.name} | {m:,.0f} | {m / ref:.2f}x |")

    # accuracy of each variant against fp32 eager NCHW on all sampled positions
    torch.set_num_threads(threads[-1])
    ref_v = variants[0]
    chunk = batches[-1]  # a batch size the compiled variants were built for
    n = max(chunk, len(planes) // chunk * chunk)
    chunks = range(0, n, chunk)

    def outputs(v: Variant) -> dict[str, torch.Tensor]:
        parts = [v.run(*v.inputs(planes[i:i + chunk], glob[i:i + chunk], size)) for i in chunks]
        return {k: torch.cat([p[k] for p in parts]) for k in parts[0]}

    ref = outputs(ref_v)
    print()
    print(f"Accuracy against fp32 eager on {n} self-play positions (policy over legal moves):")
    print("| variant | policy KL mean | policy KL max | top-1 agreement | value mean abs diff | value max abs diff |")
    print("|---|---:|---:|---:|---:|---:|")
    for v in variants[1:]:
        a = accuracy(ref, outputs(v), legal[:n])
        print(f"| {v.name} | {a['kl_mean']:.2e} | {a['kl_max']:.2e} | {a['top1']:.2%} | {a['value_mad']:.4f} "
              f"| {a['value_maxd']:.4f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
