"""The replay window: the most recent self-play positions, sampled uniformly for training.

The window grows with the run as KataGo's does: with ``T`` positions generated so far it
holds ``min(T, window_min * (1 + beta * ((T / window_min) ** alpha - 1) / alpha))`` of the
newest positions (capped at ``window_max``), so early data leaves the window quickly while
the network changes fast, and later data stays longer. Sealed shards and pending games
(not yet sealed) are both read, newest first. Loaded files are cached in memory.

With ``gae_lambda`` below 1 the window also holds ``advantage``: GAE(lambda) of each
position over its game's stored root values (`gae_advantages`), for PPO.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numba import njit

from gozero.net.features import NUM_PLANES
from gozero.selfplay.shards import FIELDS, load_arrays, pending_paths, shard_paths


def window_size(total: int, window_min: int, window_max: int, alpha: float = 0.75, beta: float = 0.4) -> int:
    if total <= window_min:
        return total
    grown = window_min * (1 + beta * ((total / window_min) ** alpha - 1) / alpha)
    return int(min(grown, window_max, total))


@njit(cache=True)
def _gae(z, v, move_index, game_moves, lam, out):
    n = z.shape[0]
    nxt = 0.0
    for i in range(n - 1, -1, -1):
        last = i == n - 1 or move_index[i + 1] <= move_index[i] or game_moves[i + 1] != game_moves[i]
        if last:
            nxt = z[i] - v[i]
        else:
            sign = 1.0 if (move_index[i + 1] - move_index[i]) % 2 == 0 else -1.0
            nxt = sign * v[i + 1] - v[i] + sign * lam * nxt
        out[i] = nxt


def gae_advantages(z: np.ndarray, value: np.ndarray, move_index: np.ndarray, game_moves: np.ndarray,
                   lam: float) -> np.ndarray:
    """GAE(lambda) advantages (gamma 1, reward z at the end) of positions stored game after
    game, values from the side to move at each position (so the next position's value
    changes sign with each move between them). A game's positions are contiguous with
    rising ``move_index``; a new game starts where it falls or ``game_moves`` changes. At
    lambda 1 it is z - V(s); at 0 the one-step difference. Exact when every move of a game is
    recorded (``selfplay.acting = "policy"``); NaN where a value is unknown."""
    out = np.empty(len(z), np.float32)
    _gae(np.asarray(z, np.float64), np.asarray(value, np.float64), np.asarray(move_index, np.int64),
         np.asarray(game_moves, np.int64), float(lam), out)
    return out


class ReplayWindow:
    """Samples batches from the newest positions of one or more data folders."""

    def __init__(self, run_dir: Path, size: int, window_min: int, window_max: int, alpha: float = 0.75,
                 beta: float = 0.4, seed: int | None = None, gae_lambda: float = 1.0):
        self.run_dir = Path(run_dir)
        self.gae_lambda = gae_lambda
        self.size = size
        self.nn = size * size
        self.window_min, self.window_max, self.alpha, self.beta = window_min, window_max, alpha, beta
        self.rng = np.random.default_rng(seed)
        self._cache: dict[Path, dict[str, np.ndarray]] = {}
        self._counts: dict[Path, int] = {}
        self.arrays: dict[str, np.ndarray] | None = None
        self.total_positions = 0

    def _files(self) -> list[Path]:
        return shard_paths(self.run_dir) + pending_paths(self.run_dir)

    def _count(self, path: Path) -> int:
        if path not in self._counts:
            with np.load(path) as z:
                self._counts[path] = int(z["policy_weight"].shape[0])
        return self._counts[path]

    def _scan(self) -> list[Path]:
        files = []
        for p in self._files():
            try:
                self._count(p)
                files.append(p)
            except (OSError, ValueError, KeyError):
                continue  # a pending file sealed and removed meanwhile
        live = set(files)
        self._counts = {p: n for p, n in self._counts.items() if p in live}
        self.total_positions = int(sum(self._counts[p] for p in files))
        return files

    def scan(self) -> int:
        """Count the positions on disk without loading them (only files not seen before are
        opened, for their length): ``total_positions``, cheap enough to poll."""
        self._scan()
        return self.total_positions

    def refresh(self, run_positions: int = 0) -> int:
        """Re-scan the data on disk; returns the number of positions in the window.

        ``run_positions``: positions the run has generated in all, when more than are on
        disk (old shards pruned or left on another machine): the window's size follows the
        run's history, not what happens to be kept."""
        files = self._scan()
        want = window_size(max(self.total_positions, run_positions), self.window_min, self.window_max, self.alpha,
                           self.beta)
        chosen: list[Path] = []
        have = 0
        for p in reversed(files):
            if have >= want:
                break
            chosen.append(p)
            have += self._counts[p]
        keep = set(chosen)
        self._cache = {p: a for p, a in self._cache.items() if p in keep}
        parts = []
        for p in reversed(chosen):
            if p not in self._cache:
                try:
                    self._cache[p] = load_arrays(p)
                except (OSError, ValueError, KeyError):
                    continue
            parts.append(self._cache[p])
        if not parts:
            self.arrays = None
            return 0
        self.arrays = {k: np.concatenate([a[k] for a in parts]) for k in FIELDS}
        if self.gae_lambda < 1.0:
            a = self.arrays
            a["advantage"] = gae_advantages(a["value"][:, 0] - a["value"][:, 2], a["root_value"], a["move_index"],
                                            a["game_moves"], self.gae_lambda)
        return int(self.arrays["policy_weight"].shape[0])

    def __len__(self) -> int:
        return 0 if self.arrays is None else int(self.arrays["policy_weight"].shape[0])

    def sample(self, batch_size: int) -> dict[str, np.ndarray]:
        """A uniformly sampled batch with planes unpacked to (B, C, N, N) uint8."""
        if not len(self):
            raise RuntimeError("the replay window is empty: no self-play data yet")
        idx = self.rng.integers(0, len(self), size=batch_size)
        out = {k: v[idx] for k, v in self.arrays.items()}
        planes = np.unpackbits(out["planes"], axis=2, count=self.nn)
        out["planes"] = planes.reshape(batch_size, NUM_PLANES, self.size, self.size)
        return out
