"""The Python face of the rules: `Rules`, `Geometry`, `Position` and `Game`.

Everything here is a thin layer over the numba kernels in `kernels.py`: a `Position` is
the two flat arrays of the kernels, a `Game` is a position plus the history that superko
and undo need. Use these for anything that is not a hot loop (GTP, SGF, tests, the web
page); search and self-play call the kernels directly on batches of rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from . import kernels as K
from .coords import CoordError, from_gtp, to_gtp

MIN_SIZE, MAX_SIZE = 2, 19

KO_RULES = {"simple": K.KO_SIMPLE, "positional": K.KO_POSITIONAL, "situational": K.KO_SITUATIONAL}
SCORING_RULES = ("tromp_taylor", "area_dead_removed")
DEAD_THRESHOLD = -0.3  # a group whose mean ownership for its own colour is below this is dead


class IllegalMove(ValueError):
    """A move the rules do not allow (occupied point, ko, superko, suicide)."""


@dataclass(frozen=True)
class Rules:
    """Rule options. Defaults: positional superko, no suicide, komi 7.5, Tromp-Taylor area.

    ``scoring``: how a game ended by two passes is counted. ``tromp_taylor`` counts every
    stone left on the board as alive (self-play, strict servers); ``area_dead_removed``
    counts area after removing the stones judged dead (GNU Go, Pachi, KGS and people score
    this way), gozero judging by its ownership estimate (`dead_stones`).
    """

    komi: float = 7.5
    ko: str = "positional"
    suicide: bool = False
    scoring: str = "tromp_taylor"

    def __post_init__(self) -> None:
        if self.ko not in KO_RULES:
            raise ValueError(f"unknown ko rule {self.ko!r}; choose one of {sorted(KO_RULES)}")
        if self.scoring not in SCORING_RULES:
            raise ValueError(f"unknown scoring rule {self.scoring!r}; choose one of {list(SCORING_RULES)}")

    @property
    def ko_code(self) -> int:
        return KO_RULES[self.ko]


class Geometry:
    """Constant tables of one board size: neighbours, diagonals and Zobrist keys."""

    def __init__(self, size: int):
        if not MIN_SIZE <= size <= MAX_SIZE:
            raise ValueError(f"board size {size} is outside {MIN_SIZE}..{MAX_SIZE}")
        self.size = size
        self.nn = size * size
        nn = self.nn
        self.nbr = np.full((nn, 4), -1, np.int32)
        self.diag = np.full((nn, 4), -1, np.int32)
        for p in range(nn):
            r, c = divmod(p, size)
            k = 0
            for dr, dc in ((-1, 0), (0, -1), (0, 1), (1, 0)):
                rr, cc = r + dr, c + dc
                if 0 <= rr < size and 0 <= cc < size:
                    self.nbr[p, k] = rr * size + cc
                    k += 1
            k = 0
            for dr, dc in ((-1, -1), (-1, 1), (1, -1), (1, 1)):
                rr, cc = r + dr, c + dc
                if 0 <= rr < size and 0 <= cc < size:
                    self.diag[p, k] = rr * size + cc
                    k += 1
        rng = np.random.default_rng(0x60_2E_50 + size)
        self.zob = rng.integers(1, 2**63, size=(nn, 3), dtype=np.uint64)
        self.zob[:, 0] = 0
        self.ints_len = K.ints_len(nn)
        self.bits_len = K.bits_len(nn)
        self.scalars = 4 * nn


@cache
def geometry(size: int) -> Geometry:
    return Geometry(size)


class Position:
    """A board position: stones, groups, liberties, ko point, side to move, hash."""

    __slots__ = ("geo", "ints", "bits")

    def __init__(self, size: int, ints: np.ndarray | None = None, bits: np.ndarray | None = None):
        self.geo = geometry(size)
        if ints is None:
            self.ints = np.zeros(self.geo.ints_len, np.int32)
            self.bits = np.zeros(self.geo.bits_len, np.uint64)
            K.init_position(self.ints, self.bits, self.geo.nn)
        else:
            if ints is None or bits is None or ints.shape != (self.geo.ints_len,) or bits.shape != (self.geo.bits_len,):
                raise ValueError(f"a {size}x{size} position needs ints of length {self.geo.ints_len} "
                                 f"and bits of length {self.geo.bits_len}")
            self.ints, self.bits = ints, bits

    @property
    def size(self) -> int:
        return self.geo.size

    def copy(self) -> Position:
        return Position(self.geo.size, self.ints.copy(), self.bits.copy())

    def _scalar(self, k: int) -> int:
        return int(self.ints[self.geo.scalars + k])

    @property
    def to_move(self) -> int:
        return self._scalar(K.S_TO_MOVE)

    @to_move.setter
    def to_move(self, color: int) -> None:
        if color not in (K.BLACK, K.WHITE):
            raise ValueError("colour must be 1 (black) or 2 (white)")
        self.ints[self.geo.scalars + K.S_TO_MOVE] = color

    @property
    def ko_point(self) -> int:
        return self._scalar(K.S_KO)

    @property
    def passes(self) -> int:
        return self._scalar(K.S_PASSES)

    @property
    def move_count(self) -> int:
        return self._scalar(K.S_MOVES)

    @property
    def last_move(self) -> int:
        return self._scalar(K.S_LAST)

    @property
    def captures(self) -> tuple[int, int]:
        """Stones captured by black and by white."""
        return self._scalar(K.S_CAPS_B), self._scalar(K.S_CAPS_W)

    @property
    def hash(self) -> int:
        return int(self.bits[-1])

    @property
    def stones(self) -> np.ndarray:
        """Colour of each point (0 empty, 1 black, 2 white) as an int8 array of NN."""
        return self.ints[: self.geo.nn].astype(np.int8)

    def board(self) -> np.ndarray:
        return self.stones.reshape(self.size, self.size)

    def groups(self) -> list[list[int]]:
        """The strings of stones on the board, each a sorted list of points (from the
        engine's incremental group tracking: no flood fill)."""
        nn = self.geo.nn
        heads: dict[int, list[int]] = {}
        for p in np.flatnonzero(self.ints[:nn]):
            heads.setdefault(int(self.ints[nn + p]), []).append(int(p))
        return list(heads.values())

    def liberties(self) -> np.ndarray:
        out = np.zeros(self.geo.nn, np.int32)
        K.liberties_map(self.ints, self.bits, self.geo.nn, out)
        return out

    def place_stone(self, color: int, point: int) -> None:
        """Put a setup stone (handicap, SGF AB/AW) without changing whose turn it is."""
        if not 0 <= point < self.geo.nn:
            raise IllegalMove(f"setup point {point} is off the board")
        if self.ints[point] != K.EMPTY:
            raise IllegalMove(f"setup point {to_gtp(point, self.size)} is occupied")
        if color not in (K.BLACK, K.WHITE):
            raise ValueError("colour must be 1 (black) or 2 (white)")
        sc = self.geo.scalars
        saved_ints, saved_bits = self.ints.copy(), self.bits.copy()
        self.ints[sc + K.S_TO_MOVE] = color
        changed = K.play(self.ints, self.bits, self.geo.nbr, self.geo.zob, point)
        self.ints[sc : sc + K.N_SCALARS] = saved_ints[sc : sc + K.N_SCALARS]
        if changed != 0:
            self.ints[:], self.bits[:] = saved_ints, saved_bits
            what = "has no liberties" if changed < 0 else "would capture stones"
            raise IllegalMove(f"setup stone at {to_gtp(point, self.size)} {what}")

    def score(self, komi: float, dead: np.ndarray | None = None) -> tuple[float, np.ndarray]:
        """Area score (black - white - komi) and owner map, optionally without dead stones."""
        if dead is None:
            dead = np.zeros(self.geo.nn, np.bool_)
        elif np.shape(dead) != (self.geo.nn,):
            raise ValueError(f"dead must be a flat array of {self.geo.nn} points, got shape {np.shape(dead)}")
        s, owner = K.area_score(self.ints, self.geo.nn, self.geo.nbr, dead.astype(np.bool_), float(komi))
        return float(s), owner

    def __str__(self) -> str:
        return render_board(self.stones, self.size, self.last_move)


def dead_stones(position: Position, own_black: np.ndarray, threshold: float = DEAD_THRESHOLD) -> np.ndarray:
    """Bool mask (NN,) of the stones judged dead by an ownership estimate (+ black): every
    group whose mean ownership for its own colour is below ``threshold``."""
    nn = position.geo.nn
    own = np.ascontiguousarray(np.asarray(own_black, np.float64).reshape(-1)[:nn])
    return K.dead_from_ownership(position.ints, nn, own, float(threshold), np.zeros(nn, np.bool_))


def render_board(stones: np.ndarray, size: int, last: int = -1) -> str:
    """Text diagram of a board: X black, O white, the last move in parentheses."""
    cols = "ABCDEFGHJKLMNOPQRST"[:size]
    lines = ["   " + " ".join(cols)]
    for r in range(size):
        row = list(" " + " ".join(".XO"[int(stones[r * size + c])] for c in range(size)) + " ")
        if 0 <= last < size * size and last // size == r:
            c = last % size
            row[2 * c], row[2 * c + 2] = "(", ")"
        lines.append(f"{size - r:2d}" + "".join(row) + f"{size - r:2d}")
    lines.append("   " + " ".join(cols))
    return "\n".join(lines)


class Game:
    """A game in progress: position, rules, full history (superko and undo), result."""

    def __init__(self, size: int = 9, rules: Rules | None = None):
        self.rules = rules or Rules()
        self.position = Position(size)
        self.moves: list[tuple[int, int]] = []  # (colour, move) in order, setup excluded
        self.setup: list[tuple[int, int]] = []  # (colour, point) setup stones
        self.handicap = 0
        self._hist_hash = np.zeros(64, np.uint64)
        self._hist_turn = np.zeros(64, np.int8)
        self._hist_len = 0
        self._snapshots: list[tuple[np.ndarray, np.ndarray, int]] = []
        self._record()

    # -- history -------------------------------------------------------------------------
    def _record(self) -> None:
        if self._hist_len == len(self._hist_hash):
            self._hist_hash = np.concatenate([self._hist_hash, np.zeros_like(self._hist_hash)])
            self._hist_turn = np.concatenate([self._hist_turn, np.zeros_like(self._hist_turn)])
        self._hist_hash[self._hist_len] = self.position.hash
        self._hist_turn[self._hist_len] = self.position.to_move
        self._hist_len += 1

    @property
    def history(self) -> tuple[np.ndarray, np.ndarray, int]:
        """(hashes, colours to move, length) of every position of the game so far."""
        return self._hist_hash, self._hist_turn, self._hist_len

    def stones_history(self, k: int) -> list[np.ndarray]:
        """Stones of the current and up to ``k-1`` earlier positions, newest first."""
        out = [self.position.stones]
        for ints, _, _ in reversed(self._snapshots[-(k - 1) :] if k > 1 else []):
            out.append(ints[: self.position.geo.nn].astype(np.int8))
        return out

    # -- queries ---------------------------------------------------------------------------
    @property
    def size(self) -> int:
        return self.position.size

    @property
    def to_move(self) -> int:
        return self.position.to_move

    @property
    def pass_move(self) -> int:
        return self.position.geo.nn

    @property
    def is_over(self) -> bool:
        return self.position.passes >= 2

    def is_legal(self, move: int, color: int | None = None) -> bool:
        pos = self.position
        if color is not None and color != pos.to_move:
            probe = self._with_color(color)
            return probe.is_legal(move)
        g = pos.geo
        return bool(
            K.is_legal(pos.ints, pos.bits, g.nbr, g.zob, int(move), self.rules.ko_code, self.rules.suicide,
                       self._hist_hash, self._hist_turn, self._hist_len)
        )

    def _with_color(self, color: int) -> Game:
        probe = Game.__new__(Game)
        probe.rules = self.rules
        probe.position = self.position.copy()
        probe.position.to_move = color
        probe._hist_hash, probe._hist_turn, probe._hist_len = self._hist_hash, self._hist_turn, self._hist_len
        return probe

    def legal_mask(self, color: int | None = None) -> np.ndarray:
        """Legal moves (bool, NN+1, pass last) of ``color`` (default: the side to move)."""
        if color is not None and color != self.position.to_move:
            if color not in (K.BLACK, K.WHITE):
                raise ValueError("colour must be 1 (black) or 2 (white)")
            return self._with_color(color).legal_mask()
        pos, g = self.position, self.position.geo
        out = np.zeros(g.nn + 1, np.bool_)
        K.legal_mask(pos.ints, pos.bits, g.nbr, g.zob, self.rules.ko_code, self.rules.suicide,
                     self._hist_hash, self._hist_turn, self._hist_len, out)
        return out

    def legal_moves(self) -> list[int]:
        return [int(m) for m in np.flatnonzero(self.legal_mask())]

    def score(self, dead: np.ndarray | None = None) -> float:
        return self.position.score(self.rules.komi, dead)[0]

    def result_string(self, dead: np.ndarray | None = None) -> str:
        """SGF/GTP style result such as ``B+3.5``, ``W+0.5`` or ``0`` (jigo)."""
        s = self.score(dead)
        if s > 0:
            return f"B+{s:g}"
        if s < 0:
            return f"W+{-s:g}"
        return "0"

    # -- changes ---------------------------------------------------------------------------
    def play(self, move: int, color: int | None = None) -> int:
        """Play ``move`` (flat index; NN is pass) for ``color`` (default: the side to move).

        Raises IllegalMove. Returns the number of stones captured.
        """
        pos = self.position
        if color is not None:
            if color not in (K.BLACK, K.WHITE):
                raise ValueError("colour must be 1 (black) or 2 (white)")
        if not 0 <= move <= pos.geo.nn:
            raise IllegalMove(f"move {move} is off the board")
        snap = (pos.ints.copy(), pos.bits.copy(), self._hist_len)
        if color is not None and color != pos.to_move:
            pos.to_move = color
        if not self.is_legal(move):
            pos.ints[:] = snap[0]
            raise IllegalMove(f"illegal move {to_gtp(move, pos.size)}")
        col = pos.to_move
        g = pos.geo
        captured = K.play(pos.ints, pos.bits, g.nbr, g.zob, int(move))
        self._snapshots.append(snap)
        self.moves.append((col, int(move)))
        self._record()
        return int(captured)

    def play_gtp(self, vertex: str) -> int:
        return self.play(from_gtp(vertex, self.size))

    def undo(self) -> None:
        if not self._snapshots:
            raise IndexError("no move to undo")
        ints, bits, hl = self._snapshots.pop()
        self.position.ints[:] = ints
        self.position.bits[:] = bits
        self._hist_len = hl
        self.moves.pop()

    def place_setup(self, color: int, point: int) -> None:
        """Add a setup stone (before the first move)."""
        if self.moves:
            raise IllegalMove("setup stones must come before the first move")
        self.position.place_stone(color, point)
        self.setup.append((color, int(point)))
        self._hist_len = 0
        self._record()

    def copy(self) -> Game:
        g = Game.__new__(Game)
        g.rules = self.rules
        g.position = self.position.copy()
        g.moves = list(self.moves)
        g.setup = list(self.setup)
        g.handicap = self.handicap
        g._hist_hash = self._hist_hash.copy()
        g._hist_turn = self._hist_turn.copy()
        g._hist_len = self._hist_len
        g._snapshots = list(self._snapshots)
        return g

    def __str__(self) -> str:
        return str(self.position)


def fixed_handicap_points(size: int, n: int) -> list[int]:
    """GTP ``fixed_handicap`` placements (GTP 2 spec, section 4.1.1)."""
    if size < 7:
        raise ValueError(f"fixed handicap is not defined on a {size}x{size} board")
    maximum = 9 if (size % 2 == 1 and size >= 9) else 4
    if not 2 <= n <= maximum:
        raise ValueError(f"handicap {n} is not between 2 and {maximum} on a {size}x{size} board")
    edge = 3 if size < 13 else 4
    lo, hi = edge - 1, size - edge
    mid = size // 2

    def pt(col: int, line: int) -> int:  # line counted from the bottom, 0-based
        return (size - 1 - line) * size + col

    d4, q16, d16, q4 = pt(lo, lo), pt(hi, hi), pt(lo, hi), pt(hi, lo)
    d10, q10, k4, k16, k10 = pt(lo, mid), pt(hi, mid), pt(mid, lo), pt(mid, hi), pt(mid, mid)
    table = {
        2: [d4, q16],
        3: [d4, q16, d16],
        4: [d4, q16, d16, q4],
        5: [d4, q16, d16, q4, k10],
        6: [d4, q16, d16, q4, d10, q10],
        7: [d4, q16, d16, q4, d10, q10, k10],
        8: [d4, q16, d16, q4, d10, q10, k4, k16],
        9: [d4, q16, d16, q4, d10, q10, k4, k16, k10],
    }
    return table[n]


__all__ = [
    "CoordError",
    "Game",
    "Geometry",
    "IllegalMove",
    "Position",
    "Rules",
    "fixed_handicap_points",
    "geometry",
    "render_board",
]
