"""Speed of the rules kernels on one core, against the plain-Python engine in the same run.

Measures, on 9x9 and 19x19:
  * random playouts per second (uniform legal move that does not fill an own single-point
    eye, simple ko, no suicide, to two passes or 3x the board's area) with
    ``kernels.random_playouts``, and the same playouts with ``bench/pyengine.py``; the ratio
    of the two is the figure to quote;
  * ``kernels.legal_mask`` calls per second on mid-game positions (simple ko, and
    positional superko with the game's history);
  * batched stepping with ``kernels.play_batch`` on 256 boards with legal random moves,
    in boards x moves per second: ``play_batch`` alone, and a full step with
    ``legal_mask_batch`` and the choice of moves.

Run: ``NUMBA_NUM_THREADS=1 taskset -c 0 python bench/rules_bench.py`` (``--quick`` for a
short run). Times are the CPU time of this process (``time.process_time``), so that other
work on a shared machine disturbs them less. It prints a table; bench/README.md holds
the figures.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pyengine  # noqa: E402

from gozero.rules import Game, Rules  # noqa: E402
from gozero.rules import kernels as K  # noqa: E402
from gozero.rules.game import geometry  # noqa: E402


def timed(fn, min_seconds: float) -> tuple[int, float, int]:
    """Call ``fn(reps)`` with doubling reps until it takes ``min_seconds``; (reps, seconds, result)."""
    reps = 1
    while True:
        t = time.process_time()
        out = fn(reps)
        dt = time.process_time() - t
        if dt >= min_seconds:
            return reps, dt, out
        reps = reps * 10 if dt < min_seconds / 20 else int(reps * 1.1 * min_seconds / dt) + 1


def numba_playouts(size: int, seconds: float, kern=K) -> tuple[float, float]:
    geo = geometry(size)
    ints = np.zeros(geo.ints_len, np.int32)
    bits = np.zeros(geo.bits_len, np.uint64)
    kern.seed(1)
    kern.random_playouts(ints, bits, geo.nbr, geo.diag, geo.zob, 2, 3 * geo.nn)  # compile / load cache
    n, dt, moves = timed(lambda r: kern.random_playouts(ints, bits, geo.nbr, geo.diag, geo.zob, r, 3 * geo.nn),
                         seconds)
    return n / dt, moves / n


def python_playouts(size: int, seconds: float) -> tuple[float, float]:
    n, dt, moves = timed(lambda r: pyengine.random_playouts(size, r, 3 * size * size, seed=1), seconds)
    return n / dt, moves / n


def midgame(size: int, moves: int, ko: str, seed: int = 3) -> Game:
    """A game of ``moves`` random non-eye-filling moves (history kept for superko)."""
    game = Game(size, Rules(ko=ko))
    geo = game.position.geo
    rng = np.random.default_rng(seed)
    for _ in range(moves):
        legal = [int(p) for p in np.flatnonzero(game.legal_mask()[:-1])
                 if not K.is_eyelike(game.position.ints, geo.nbr, geo.diag, int(p), game.to_move)]
        game.play(int(rng.choice(legal)) if legal else geo.nn)
    return game


def legal_mask_rate(size: int, ko: str, seconds: float, kern=K) -> float:
    game = midgame(size, size * size // 2, ko)
    pos, geo = game.position, game.position.geo
    hh, ht, hl = game.history
    out = np.zeros(geo.nn + 1, np.bool_)
    code = Rules(ko=ko).ko_code

    def run(reps: int) -> None:
        for _ in range(reps):
            kern.legal_mask(pos.ints, pos.bits, geo.nbr, geo.zob, code, False, hh, ht, hl, out)

    run(1)
    n, dt, _ = timed(run, seconds)
    return n / dt


def batch_rates(size: int, boards: int, steps: int, seed: int = 5, kern=K) -> tuple[float, float]:
    """Boards x moves per second: play_batch alone, and a full step (masks, choice, play)."""
    geo = geometry(size)
    nn = geo.nn
    ints = np.zeros((boards, geo.ints_len), np.int32)
    bits = np.zeros((boards, geo.bits_len), np.uint64)
    for b in range(boards):
        K.init_position(ints[b], bits[b], nn)
    hist_hash = np.zeros((boards, 1), np.uint64)
    hist_turn = np.zeros((boards, 1), np.int8)
    hist_len = np.zeros(boards, np.int32)
    mask = np.zeros((boards, nn + 1), np.bool_)
    rng = np.random.default_rng(seed)
    limit = 3 * nn
    kern.legal_mask_batch(ints, bits, geo.nbr, geo.zob, K.KO_SIMPLE, False, hist_hash, hist_turn, hist_len, mask)
    kern.play_batch(ints[:1].copy(), bits[:1].copy(), geo.nbr, geo.zob, np.zeros(1, np.int32))  # load / compile
    t_play = 0.0
    t0 = time.process_time()
    for _ in range(steps):
        kern.legal_mask_batch(ints, bits, geo.nbr, geo.zob, K.KO_SIMPLE, False, hist_hash, hist_turn, hist_len, mask)
        mask[:, nn] = False  # pass only when nothing else is legal
        scores = rng.random((boards, nn + 1)) * mask
        scores[:, nn] = 1e-9
        moves = np.argmax(scores, axis=1).astype(np.int32)
        t = time.process_time()
        kern.play_batch(ints, bits, geo.nbr, geo.zob, moves)
        t_play += time.process_time() - t
        done = np.flatnonzero(ints[:, 4 * nn + K.S_MOVES] >= limit)
        for b in done:
            kern.init_position(ints[b], bits[b], nn)
    total = time.process_time() - t0
    return boards * steps / t_play, boards * steps / total


def kernels_at(commit: str):
    """The kernels module of an earlier commit, imported from a temporary copy."""
    root = Path(__file__).resolve().parent.parent
    src = subprocess.run(["git", "show", f"{commit}:src/gozero/rules/kernels.py"], cwd=root, check=True,
                         capture_output=True, text=True).stdout
    folder = Path(tempfile.mkdtemp(prefix="gozero-bench-"))
    name = f"kernels_{commit.replace('/', '_').replace('~', '_').replace('^', '_')}"
    (folder / f"{name}.py").write_text(src)
    sys.path.insert(0, str(folder))
    return importlib.import_module(name)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="short timings (for a smoke run)")
    ap.add_argument("--sizes", default="9,19", help="board sizes, comma-separated")
    ap.add_argument("--against", metavar="COMMIT", help="also time kernels.py as it was at this git commit")
    args = ap.parse_args(argv)
    sec = 0.3 if args.quick else 3.0
    sizes = [int(s) for s in args.sizes.split(",")]
    old = kernels_at(args.against) if args.against else None

    def both(fn, *a):
        """(this kernels, the --against kernels or None), each from fn(*a, kern=...)."""
        return fn(*a, kern=K), (fn(*a, kern=old) if old is not None else None)

    rows = []
    for size in sizes:
        (nb, nb_len), then = both(numba_playouts, size, sec)
        py, py_len = python_playouts(size, sec)
        rows.append((f"{size}x{size} random playouts/s", nb, py, then and then[0],
                     f"{nb_len:.0f} / {py_len:.0f} moves per playout (numba / Python)"))
    for size in sizes:
        for ko in ("simple", "positional"):
            nb, then = both(legal_mask_rate, size, ko, sec)
            rows.append((f"{size}x{size} legal_mask calls/s ({ko})", nb, None, then,
                         f"mid-game, {size * size // 2} moves in"))
    for size in sizes:
        steps = 60 if args.quick else 600
        (play_rate, step_rate), then = both(batch_rates, size, 256, steps, 5)
        rows.append((f"{size}x{size} play_batch, 256 boards", play_rate, None, then and then[0],
                     "board-moves/s, play_batch only"))
        rows.append((f"{size}x{size} batch step, 256 boards", step_rate, None, then and then[1],
                     "board-moves/s, legal_mask_batch + numpy choice + play_batch"))
    threads = os.environ.get("NUMBA_NUM_THREADS", "default")
    print(f"gozero rules benchmark - {platform.processor() or platform.machine()}, "
          f"python {platform.python_version()}, numba threads {threads}, CPU seconds")
    against = f"at {args.against}" if old is not None else ""
    print(f"{'measure':38} {'gozero':>11} {'plain Py':>9} {'ratio':>6} {against:>12}  note")
    for name, nb, py, then, note in rows:
        py_s = f"{py:9,.0f}" if py is not None else f"{'':9}"
        ratio = f"{nb / py:5.0f}x" if py is not None else f"{'':6}"
        then_s = f"{then:12,.0f}" if then is not None else f"{'':12}"
        print(f"{name:38} {nb:11,.0f} {py_s} {ratio} {then_s}  {note}")


if __name__ == "__main__":
    main()
