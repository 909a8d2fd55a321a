"""Start-up time of ``gozero gtp``: from launch to the answer of ``quit``, this tree against
a git commit, in one run (alternating, so that load on a shared machine hits both alike).

Run: ``taskset -c 1 python bench/gtp_startup.py --against f0c8fc0 [--runs 12] [--model random]``.
The commit's ``src/`` is unpacked with ``git archive`` into a temporary folder; both trees
run once first to fill their numba caches. Prints the median and the fastest run of each
and their ratio. ``--model`` is passed to ``gozero gtp`` (default ``random``: no torch; ``""``
starts the shipped model).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def unpack(commit: str, into: Path) -> Path:
    data = subprocess.run(["git", "archive", commit, "src"], cwd=REPO, check=True, capture_output=True).stdout
    tar = into / "src.tar"
    tar.write_bytes(data)
    with tarfile.open(tar) as t:
        t.extractall(into, filter="data")
    return into / "src"


def one_start(src: Path, model: str) -> float:
    env = {**os.environ, "PYTHONPATH": str(src)}
    args = [sys.executable, "-m", "gozero.cli", "gtp"] + (["--model", model] if model else [])
    t = time.perf_counter()
    proc = subprocess.run(args, input="quit\n", capture_output=True, text=True, env=env, timeout=600)
    elapsed = time.perf_counter() - t
    if proc.returncode != 0 or not proc.stdout.startswith("="):
        raise RuntimeError(f"gozero gtp from {src} failed: {proc.stderr[-2000:]}")
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--against", required=True, metavar="COMMIT", help="git commit to compare with")
    ap.add_argument("--runs", type=int, default=12)
    ap.add_argument("--model", default="random", help="--model of gozero gtp ('' for the shipped model)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        trees = {"this tree": REPO / "src", args.against: unpack(args.against, Path(tmp))}
        for src in trees.values():
            one_start(src, args.model)  # numba caches
        times: dict[str, list[float]] = {k: [] for k in trees}
        for _ in range(args.runs):
            for name, src in trees.items():
                times[name].append(one_start(src, args.model))
    for name, ts in times.items():
        print(f"{name:>12}: median {statistics.median(ts):.2f} s, fastest {min(ts):.2f} s ({len(ts)} runs)")
    ratio = statistics.median(times["this tree"]) / statistics.median(times[args.against])
    print(f"ratio (this tree / {args.against}, medians): {ratio:.2f}")


if __name__ == "__main__":
    main()
