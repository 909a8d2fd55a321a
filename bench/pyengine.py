"""A plain-Python Go engine, used only as the baseline of `bench/rules_bench.py`.

It plays the same kind of random playout as `gozero.rules.kernels.random_playouts`
(uniformly random legal move that does not fill the mover's own single-point eye, simple
ko, no suicide, until two passes in a row or a move limit), written the way one would
write it without numba: a list of colours, neighbour tables, and a flood fill that stops
as soon as it has seen the liberties it needs. No numpy, no compiled code.
"""

from __future__ import annotations

import random

EMPTY, BLACK, WHITE = 0, 1, 2


class PyBoard:
    """Stones, side to move, ko point and consecutive passes of one board."""

    def __init__(self, size: int):
        if not 2 <= size <= 19:
            raise ValueError(f"board size {size} is outside 2..19")
        self.size = size
        self.nn = size * size
        self.nbr: list[list[int]] = []
        self.diag: list[list[int]] = []
        for p in range(self.nn):
            r, c = divmod(p, size)
            self.nbr.append([rr * size + cc for rr, cc in ((r - 1, c), (r, c - 1), (r, c + 1), (r + 1, c))
                             if 0 <= rr < size and 0 <= cc < size])
            self.diag.append([rr * size + cc for rr, cc in ((r - 1, c - 1), (r - 1, c + 1), (r + 1, c - 1),
                                                            (r + 1, c + 1)) if 0 <= rr < size and 0 <= cc < size])
        self.reset()

    def reset(self) -> None:
        self.stones = [EMPTY] * self.nn
        self.to_move = BLACK
        self.ko = -1
        self.passes = 0

    def group(self, p: int) -> tuple[list[int], set[int]]:
        """Stones and liberties of the group at ``p`` (flood fill)."""
        color = self.stones[p]
        stones, libs, seen, frontier = [p], set(), {p}, [p]
        while frontier:
            q = frontier.pop()
            for m in self.nbr[q]:
                c = self.stones[m]
                if c == EMPTY:
                    libs.add(m)
                elif c == color and m not in seen:
                    seen.add(m)
                    stones.append(m)
                    frontier.append(m)
        return stones, libs

    def has_more_liberties_than(self, p: int, k: int, exclude: int) -> bool:
        """Whether the group at ``p`` has more than ``k`` liberties other than ``exclude``."""
        color = self.stones[p]
        libs, seen, frontier = set(), {p}, [p]
        while frontier:
            q = frontier.pop()
            for m in self.nbr[q]:
                c = self.stones[m]
                if c == EMPTY:
                    if m != exclude:
                        libs.add(m)
                        if len(libs) > k:
                            return True
                elif c == color and m not in seen:
                    seen.add(m)
                    frontier.append(m)
        return False

    def is_legal(self, p: int) -> bool:
        """Empty, not the ko point, and not suicide (for the side to move)."""
        if self.stones[p] != EMPTY or p == self.ko:
            return False
        color = self.to_move
        for m in self.nbr[p]:
            c = self.stones[m]
            if c == EMPTY:
                return True
            if c == color:
                if self.has_more_liberties_than(m, 0, p):
                    return True
            elif not self.has_more_liberties_than(m, 0, p):
                return True  # captures
        return False

    def is_eyelike(self, p: int, color: int) -> bool:
        for m in self.nbr[p]:
            if self.stones[m] != color:
                return False
        other = 3 - color
        bad = sum(1 for d in self.diag[p] if self.stones[d] == other)
        return bad == 0 if len(self.diag[p]) < 4 else bad < 2

    def play(self, p: int) -> int:
        """Play a legal point, or ``nn`` for pass; return the stones captured."""
        color = self.to_move
        self.to_move = 3 - color
        if p == self.nn:
            self.passes += 1
            self.ko = -1
            return 0
        self.passes = 0
        self.stones[p] = color
        other = 3 - color
        captured: list[int] = []
        for m in self.nbr[p]:
            if self.stones[m] == other:
                stones, libs = self.group(m)
                if not libs:
                    for s in stones:
                        self.stones[s] = EMPTY
                    captured.extend(stones)
        self.ko = -1
        if len(captured) == 1:
            stones, libs = self.group(p)
            if len(stones) == 1 and len(libs) == 1:
                self.ko = captured[0]
        return len(captured)

    def random_move(self, rng: random.Random) -> int:
        """Uniform over legal moves that do not fill an own eye; pass when none."""
        color = self.to_move
        cand = [p for p in range(self.nn) if self.stones[p] == EMPTY]
        while cand:
            i = rng.randrange(len(cand))
            p = cand[i]
            if not self.is_eyelike(p, color) and self.is_legal(p):
                return p
            cand[i] = cand[-1]
            cand.pop()
        return self.nn

    def random_playout(self, rng: random.Random, max_moves: int) -> int:
        played = 0
        while played < max_moves and self.passes < 2:
            self.play(self.random_move(rng))
            played += 1
        return played


def random_playouts(size: int, n_games: int, max_moves: int, seed: int = 0) -> int:
    """Play ``n_games`` playouts from the empty board; return the total number of moves."""
    board = PyBoard(size)
    rng = random.Random(seed)
    total = 0
    for _ in range(n_games):
        board.reset()
        total += board.random_playout(rng, max_moves)
    return total
