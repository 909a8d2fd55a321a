"""In-process matches between two network players (or a network and the random player),
many games in lockstep: the fast way to compare checkpoints (gating, tests, the ladder's
gozero-vs-gozero games). Colours alternate game by game; the result is from player A's side.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gozero.net.inference import NetEvaluator
from gozero.rules import BLACK, Game, Rules
from gozero.search.mcts import BatchedSearch, SearchConfig
from gozero.search.random_player import RandomPlayer


@dataclass
class MatchResult:
    wins: int = 0
    losses: int = 0
    draws: int = 0
    games: list[tuple[list[int], int, float]] = field(default_factory=list)  # (moves, A's colour, score)

    @property
    def total(self) -> int:
        return self.wins + self.losses + self.draws

    @property
    def win_rate(self) -> float:
        return (self.wins + 0.5 * self.draws) / max(self.total, 1)


class _Side:
    """One side of a match: a network with its search, or the random player."""

    def __init__(self, evaluator: NetEvaluator | None, size: int, n: int, search: SearchConfig | None,
                 rules: Rules, seed: int):
        self.random = evaluator is None
        if self.random:
            self.player = RandomPlayer(seed)
        else:
            self.search = BatchedSearch(evaluator, size, n, search, komi=rules.komi, allow_suicide=rules.suicide,
                                        seed=seed, scoring=rules.scoring)

    def moves(self, games: list[Game], idx: list[int]) -> dict[int, int]:
        if self.random:
            return {b: self.player.genmove(games[b]) for b in idx}
        for b in idx:
            self.search.set_root_from_game(b, games[b])
        res = self.search.run(games=np.asarray(idx, np.int64))
        return {b: int(res.action[b]) for b in idx}


def play_match(a: NetEvaluator | None, b: NetEvaluator | None, games: int, size: int, rules: Rules | None = None,
               search: SearchConfig | None = None, search_b: SearchConfig | None = None,
               max_moves: int | None = None, seed: int = 0, opening_moves: int = 0) -> MatchResult:
    """Play ``games`` games of A against B (``None`` = the random player) in lockstep.

    ``opening_moves``: random moves played first in every game, for variety between
    deterministic players (both colours of an opening are played).
    """
    rules = rules or Rules()
    search = search or SearchConfig(algorithm="gumbel", simulations=16)
    search_b = search_b or search
    rng = np.random.default_rng(seed)
    side_a = _Side(a, size, games, search, rules, seed + 1)
    side_b = _Side(b, size, games, search_b, rules, seed + 2)
    max_moves = max_moves or 3 * size * size
    boards = [Game(size, rules) for _ in range(games)]
    a_color = [BLACK if i % 2 == 0 else 3 - BLACK for i in range(games)]
    opener = RandomPlayer(int(rng.integers(2**31)))
    for i in range(0, games, 2):
        for _ in range(opening_moves):
            mv = opener.genmove(boards[i])
            boards[i].play(mv)
            if i + 1 < games:
                boards[i + 1].play(mv)
    result = MatchResult()
    live = set(range(games))
    while live:
        to_a = [i for i in sorted(live) if boards[i].to_move == a_color[i]]
        to_b = [i for i in sorted(live) if boards[i].to_move != a_color[i]]
        chosen = {}
        if to_a:
            chosen.update(side_a.moves(boards, to_a))
        if to_b:
            chosen.update(side_b.moves(boards, to_b))
        for i, mv in chosen.items():
            g = boards[i]
            g.play(mv)
            if g.is_over or len(g.moves) >= max_moves:
                s = g.score()
                a_sign = 1 if a_color[i] == BLACK else -1
                if s * a_sign > 0:
                    result.wins += 1
                elif s == 0:
                    result.draws += 1
                else:
                    result.losses += 1
                result.games.append(([m for _, m in g.moves], a_color[i], s))
                live.discard(i)
    return result
