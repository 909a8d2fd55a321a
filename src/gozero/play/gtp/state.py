"""The game a GTP session plays, shared by the command families.

`GtpState` holds the `Game`, the `Player`, the rules (komi, ko, suicide and how a finished
game is counted), the clocks and which colours the engine played, and answers what
several families ask: a vertex of the current board, the search limits of the next move,
the ownership estimate and the dead stones (`rules.dead_stones`, the one rule shared with
the web page), and playing a generated move.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterable

import numpy as np

from gozero.rules import BLACK, Game, IllegalMove, Rules, dead_stones, to_gtp
from gozero.rules.coords import CoordError, from_gtp, is_gtp_vertex
from gozero.search.player import RESIGN, Analysis, Player, SearchLimits

from ..timecontrol import TimeControl
from .protocol import GtpError

log = logging.getLogger("gozero.gtp")

DEFAULT_INTERVAL = 1.0  # seconds between analysis lines when the command gives none


class GtpState:
    """Game state, player and clocks of one GTP session."""

    def __init__(self, player: Player, size: int, rules: Rules, player_sizes: Iterable[int] | None = None):
        self.player = player
        self.size = size
        self.rules = rules
        self.game = Game(size, rules)
        self.time = TimeControl()
        self.player_sizes = set(player_sizes) if player_sizes is not None else None
        self.engine_colors: set[int] = set()
        self._ownership_cache: tuple[tuple[int, int, int], np.ndarray] | None = None

    # -- the board ------------------------------------------------------------------------
    def new_game(self, size: int | None = None) -> None:
        self.size = size or self.size
        self.game = Game(self.size, self.rules)
        self.time.reset()
        self.engine_colors.clear()
        self._ownership_cache = None

    def set_rules(self, rules: Rules) -> None:
        """New ko, suicide and scoring rules for this game and the next ones (komi stays)."""
        self.rules = dataclasses.replace(rules, komi=self.rules.komi)
        self.game.rules = dataclasses.replace(rules, komi=self.game.rules.komi)

    def set_komi(self, komi: float) -> None:
        self.rules = dataclasses.replace(self.rules, komi=komi)
        self.game.rules = dataclasses.replace(self.game.rules, komi=komi)

    def board_empty(self) -> bool:
        return not self.game.moves and not self.game.setup and not self.game.position.stones.any()

    def vertex(self, token: str) -> int:
        """Flat index of a GTP vertex (``pass`` -> NN). Malformed: `GtpError` syntax error;
        well formed but off this board: `IllegalMove`."""
        if not is_gtp_vertex(token):
            raise GtpError("syntax error", f"{token!r} is not a vertex")
        try:
            return from_gtp(token, self.size)
        except CoordError as exc:
            raise IllegalMove(str(exc)) from None

    def vertices(self, points: Iterable[int]) -> str:
        return " ".join(to_gtp(int(p), self.size) for p in points)

    def with_turn(self, color: int) -> Game:
        """The game with ``color`` to move (a copy when the turn has to change)."""
        if self.game.to_move == color:
            return self.game
        probe = self.game.copy()
        probe.position.to_move = color
        return probe

    # -- the player -----------------------------------------------------------------------
    def limits(self, color: int) -> SearchLimits:
        """The limits of the next move of ``color``: the player's own, with the seconds capped
        by the clock when one runs."""
        own = getattr(self.player, "limits", None) or SearchLimits()
        budget = self.time.budget(color, len(self.game.moves), self.size * self.size)
        if budget is None:
            return own
        seconds = budget if own.seconds is None else min(own.seconds, budget)
        return SearchLimits(visits=own.visits, seconds=max(seconds, 1e-3))

    def can_analyze(self) -> bool:
        return callable(getattr(self.player, "analyze", None))

    def analyze(self, game: Game, limits: SearchLimits | None = None,
                on_update: Callable[[Analysis], None] | None = None, interval: float = DEFAULT_INTERVAL,
                stop: threading.Event | None = None) -> Analysis:
        return self.player.analyze(game, limits, on_update=on_update, stop=stop,  # type: ignore[attr-defined]
                                   interval=interval)

    def genmove(self, color: int) -> int:
        """The player's move for ``color`` within the clock's budget (not played yet)."""
        game = self.with_turn(color)
        start = time.monotonic()
        try:
            move = self.player.genmove(game, self.limits(color))
        finally:
            self.time.spend(color, time.monotonic() - start)
        return int(move)

    def play_generated(self, color: int, move: int) -> str:
        """Play a move the player chose (an illegal one becomes a pass) and name it."""
        if move == RESIGN:
            return "resign"
        nn = self.size * self.size
        if not (0 <= move <= nn) or not self.game.is_legal(move, color):
            log.error("player %s chose an illegal move %r; passing instead", getattr(self.player, "name", "?"), move)
            move = nn
        self.game.play(move, color)
        self.engine_colors.add(color)
        return to_gtp(move, self.size)

    # -- life and death -------------------------------------------------------------------
    def black_ownership(self) -> np.ndarray | None:
        """Ownership (+ black) of the current position from the player's analysis, cached."""
        if not self.can_analyze():
            return None
        key = (self.game.position.hash, len(self.game.moves), self.game.to_move)
        if self._ownership_cache is not None and self._ownership_cache[0] == key:
            return self._ownership_cache[1]
        analysis = self.analyze(self.game.copy())
        if analysis.ownership is None:
            return None
        own = np.asarray(analysis.ownership, np.float64).reshape(-1)[: self.size * self.size]
        own = own if self.game.to_move == BLACK else -own
        self._ownership_cache = (key, own)
        return own

    def dead_mask(self) -> np.ndarray:
        """The stones the count leaves out: none under ``tromp_taylor``; under
        ``area_dead_removed`` those `rules.dead_stones` judges dead by the ownership estimate
        (none without one)."""
        own = self.black_ownership() if self.game.rules.scoring == "area_dead_removed" else None
        if own is None:
            return np.zeros(self.size * self.size, np.bool_)
        return dead_stones(self.game.position, own)

    def status(self) -> tuple[list[list[int]], list[list[int]]]:
        """(alive, dead) strings, dead as `dead_mask` says."""
        groups = self.game.position.groups()
        mask = self.dead_mask()
        return [g for g in groups if not mask[g[0]]], [g for g in groups if mask[g[0]]]
