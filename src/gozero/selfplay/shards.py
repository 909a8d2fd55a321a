"""Training examples on disk: every finished game at once, then sealed into shards.

A finished self-play game is written immediately and atomically as one small file under
``pending/`` so that a run killed at any moment loses no finished game. When the pending
games hold ``shard_positions`` positions or more they are sealed into one compressed shard
``shards/shard_NNNNNN.npz`` (temp file, then rename) and the pending files are removed;
leftover pending files of a killed run are sealed on the next start.

Arrays of a shard (N positions, C planes, NN points):

- ``planes`` uint8 (N, C, ceil(NN/8)) bit-packed input planes; ``globals`` float32 (N, G)
- ``policy`` float16 (N, NN+1) search policy target; ``policy_weight`` float32 (N,)
  (1 for a full search, 0 for a cheap one: playout cap randomization)
- ``value`` float32 (N, 3) win/draw/loss target of the side to move
- ``ownership`` int8 (N, NN) final owner from the side to move's view (+1/-1/0);
  ``score`` float32 (N,) final lead of the side to move; ``aux_weight`` float32 (N,)
  (0 for resigned or capped games, whose final position is not settled)
- ``size`` int (board size), ``games`` int (games in the shard)

Learning signals (`SIGNAL_FIELDS`; shards written before they existed read with the
defaults of `signal_defaults`, which mark them unknown):

- ``action`` int16 (N,) the move played (-1: unknown)
- ``behaviour_logp`` float32 (N,) its log-probability under the acting distribution (the
  search's move choice, or the raw network's policy with ``selfplay.acting = "policy"``)
- ``root_value`` float32 (N,) network value at the root; ``search_value`` float32 (N,)
  search value at the root (the network's where there was no search), both in [-1, 1]
  from the side to move's view (NaN: unknown)
- ``search_q`` float16 (N, NN+1) mean value of each root edge the search visited, NaN for
  the others (all NaN without a search)
- ``move_index`` int16 (N,) moves played before the position; ``game_moves`` int16 (N,)
  moves of its whole game (0: unknown); ``net_version`` int32 (N,) training step of the
  network that played (-1: unknown)
"""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path

import numpy as np

from gozero.rules import BLACK

SIGNAL_FIELDS = ("action", "behaviour_logp", "root_value", "search_value", "search_q", "move_index", "game_moves",
                 "net_version")
FIELDS = ("planes", "globals", "policy", "policy_weight", "value", "ownership", "score", "aux_weight") + SIGNAL_FIELDS
_SHARD_RE = re.compile(r"shard_(?:([a-z0-9]+)_)?(\d{6})\.npz$")


def outcome_targets(to_move: np.ndarray, winner: int, owner: np.ndarray, score: float) -> dict[str, np.ndarray]:
    """A game's result as per-position targets, each from the side to move's view:
    ``value`` win/draw/loss one-hot (``winner`` 0 is a draw), ``ownership`` (+1 own, -1 the
    opponent's, 0 neutral; ``owner`` holds colours 1/2/0 per point) and ``score``
    (``score`` is black's area lead after komi). ``to_move`` holds each position's colour."""
    to_move = np.asarray(to_move)
    value = np.zeros((len(to_move), 3), np.float32)
    if winner == 0:
        value[:, 1] = 1
    else:
        value[to_move == winner, 0] = 1
        value[to_move != winner, 2] = 1
    sign = np.where(to_move == BLACK, 1.0, -1.0).astype(np.float32)
    own = np.where(owner == BLACK, 1, np.where(owner == 0, 0, -1)).astype(np.int8)
    return {"value": value, "ownership": (own[None, :] * sign[:, None]).astype(np.int8),
            "score": (score * sign).astype(np.float32)}


def atomic_savez(path: Path, **arrays) -> None:
    """``np.savez_compressed`` to a temp file in the same folder, fsync, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with open(tmp, "wb") as fh:
        np.savez_compressed(fh, **arrays)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def shard_paths(run_dir: Path, writer: str | None = None) -> list[Path]:
    """Sealed shards of a run (of one writer, if named), oldest first."""
    d = Path(run_dir) / "shards"
    if not d.is_dir():
        return []
    out = []
    for p in d.iterdir():
        m = _SHARD_RE.search(p.name)
        if m and (writer is None or (m.group(1) or "") == writer):
            out.append((p.stat().st_mtime, p.name, p))
    return [p for _, _, p in sorted(out)]


def pending_paths(run_dir: Path) -> list[Path]:
    """Finished games not sealed yet (of every writer), oldest first."""
    d = Path(run_dir) / "pending"
    if not d.is_dir():
        return []
    found = []
    for p in d.rglob("game_*.npz"):
        try:
            found.append((p.stat().st_mtime, p.name, p))
        except FileNotFoundError:
            continue
    return [p for _, _, p in sorted(found)]


def signal_defaults(n: int, nn: int) -> dict[str, np.ndarray]:
    """Signal arrays for ``n`` positions whose signals were not recorded (all unknown)."""
    return {
        "action": np.full(n, -1, np.int16),
        "behaviour_logp": np.full(n, np.nan, np.float32),
        "root_value": np.full(n, np.nan, np.float32),
        "search_value": np.full(n, np.nan, np.float32),
        "search_q": np.full((n, nn + 1), np.nan, np.float16),
        "move_index": np.full(n, -1, np.int16),
        "game_moves": np.zeros(n, np.int16),
        "net_version": np.full(n, -1, np.int32),
    }


def load_arrays(path: Path) -> dict[str, np.ndarray]:
    """The arrays of a shard or pending game; signals missing from older files are filled
    with `signal_defaults`."""
    with np.load(path) as z:
        out = {k: z[k] for k in z.files}
    if "policy" in out and any(k not in out for k in SIGNAL_FIELDS):
        n, a = out["policy"].shape
        for k, v in signal_defaults(n, a - 1).items():
            out.setdefault(k, v)
    return out


class ShardWriter:
    """Writes finished games (pending files) and seals them into shards."""

    def __init__(self, run_dir: Path, shard_positions: int = 4096, name: str = ""):
        """``name`` tells concurrent writers (self-play workers) apart: each has its own
        pending folder and shard names."""
        if name and not name.isalnum():
            raise ValueError(f"writer name {name!r} must be letters and digits")
        self.run_dir = Path(run_dir)
        self.name = name
        self.pending_dir = self.run_dir / "pending" / name if name else self.run_dir / "pending"
        self.shard_dir = self.run_dir / "shards"
        self.pending_dir.mkdir(parents=True, exist_ok=True)
        self.shard_dir.mkdir(parents=True, exist_ok=True)
        self.shard_positions = shard_positions
        for tmp in list(self.pending_dir.glob(".*.tmp")) + list(self.shard_dir.glob(".*.tmp")):
            tmp.unlink(missing_ok=True)  # half-written files of a killed run
        self._drop_sealed_pending()
        self._pending = sorted(self.pending_dir.glob("game_*.npz"))
        self._pending_positions = sum(self._positions(p) for p in self._pending)

    def _drop_sealed_pending(self) -> None:
        """A kill between sealing a shard and deleting its pending files leaves games that
        are already in the shard: the shard lists its sources, so delete those."""
        existing = shard_paths(self.run_dir, self.name)
        if not existing:
            return
        with np.load(existing[-1]) as z:
            sources = set(z["sources"].tolist()) if "sources" in z.files else set()
        for name in sources:
            (self.pending_dir / name).unlink(missing_ok=True)

    @staticmethod
    def _positions(path: Path) -> int:
        with np.load(path) as z:
            return int(z["policy_weight"].shape[0])

    def next_index(self) -> int:
        existing = shard_paths(self.run_dir, self.name)
        if not existing:
            return 0
        return max(int(_SHARD_RE.search(p.name).group(2)) for p in existing) + 1

    def add_game(self, arrays: dict[str, np.ndarray], size: int) -> None:
        path = self.pending_dir / f"game_{uuid.uuid4().hex}.npz"
        atomic_savez(path, size=np.int32(size), games=np.int32(1), **arrays)
        self._pending.append(path)
        self._pending_positions += int(arrays["policy_weight"].shape[0])
        if self._pending_positions >= self.shard_positions:
            self.seal()

    def seal(self) -> Path | None:
        """Seal all pending games into a new shard; returns its path (None if none pending)."""
        if not self._pending:
            return None
        parts = [load_arrays(p) for p in self._pending]
        merged = {k: np.concatenate([p[k] for p in parts]) for k in FIELDS}
        prefix = f"{self.name}_" if self.name else ""
        path = self.shard_dir / f"shard_{prefix}{self.next_index():06d}.npz"
        atomic_savez(path, size=parts[0]["size"], games=np.int32(sum(int(p["games"]) for p in parts)),
                     sources=np.array([p.name for p in self._pending]), **merged)
        for p in self._pending:
            p.unlink(missing_ok=True)
        self._pending = []
        self._pending_positions = 0
        return path

    @property
    def pending_positions(self) -> int:
        return self._pending_positions
