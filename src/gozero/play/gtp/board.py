"""GTP setup and play: board size, komi, handicap, moves, genmove, undo, GNU Go's queries.

`BoardCommands` holds ``boardsize``, ``clear_board``, ``komi``, the three handicap commands,
``play``, ``genmove``, ``reg_genmove``, ``undo``, ``showboard`` and GNU Go's
``list_stones`` / ``is_legal`` / ``all_legal``; `GoGuiCommands` the menu GoGui shows.
"""

from __future__ import annotations

import numpy as np

from gozero.rules import BLACK, WHITE, IllegalMove, fixed_handicap_points, to_gtp
from gozero.rules.game import MAX_SIZE, MIN_SIZE, render_board
from gozero.search.player import RESIGN

from .protocol import Color, GtpError
from .state import GtpState


class BoardCommands:
    """Setting up a game and playing it."""

    def __init__(self, state: GtpState):
        self.state = state

    # -- setup ----------------------------------------------------------------------------
    def cmd_boardsize(self, size: int) -> str:
        s = self.state
        if not MIN_SIZE <= size <= MAX_SIZE:
            raise GtpError("unacceptable size", f"{size} is outside {MIN_SIZE}..{MAX_SIZE}")
        if s.player_sizes is not None and size not in s.player_sizes:
            raise GtpError("unacceptable size", f"the player plays only {sorted(s.player_sizes)}")
        s.new_game(size)
        return ""

    def cmd_clear_board(self) -> str:
        self.state.new_game()
        return ""

    def cmd_komi(self, komi: float) -> str:
        self.state.set_komi(komi)
        return ""

    def cmd_fixed_handicap(self, stones: int) -> str:
        s = self.state
        if not s.board_empty():
            raise GtpError("board not empty")
        try:
            points = fixed_handicap_points(s.size, stones)
        except ValueError as exc:
            raise GtpError("invalid number of stones", str(exc)) from None
        self._place_handicap(points)
        return s.vertices(points)

    def cmd_place_free_handicap(self, stones: int) -> str:
        s = self.state
        if not s.board_empty():
            raise GtpError("board not empty")
        if not 2 <= stones < s.size * s.size:
            raise GtpError("invalid number of stones", f"{stones} on a {s.size}x{s.size} board")
        points = free_handicap_points(s.size, stones)
        self._place_handicap(points)
        return s.vertices(points)

    def cmd_set_free_handicap(self, *vertices: str) -> str:
        s = self.state
        if not s.board_empty():
            raise GtpError("board not empty")
        points: list[int] = []
        for token in vertices:
            try:
                p = s.vertex(token)
            except (GtpError, IllegalMove):
                raise GtpError("bad vertex list", f"{token!r} is not a point of the board") from None
            if p == s.size * s.size or p in points:
                raise GtpError("bad vertex list", f"{token} is a pass or repeated")
            points.append(p)
        if not 2 <= len(points) < s.size * s.size:
            raise GtpError("bad vertex list", f"{len(points)} stones")
        self._place_handicap(points)
        return ""

    def _place_handicap(self, points: list[int]) -> None:
        game = self.state.game
        for p in points:
            game.place_setup(BLACK, p)
        game.handicap = len(points)
        game.position.to_move = WHITE

    # -- play -----------------------------------------------------------------------------
    def cmd_play(self, color: Color, vertex: str) -> str:
        s = self.state
        try:
            move = s.vertex(vertex)
            if move < s.size * s.size and s.game.position.stones[move] != 0:
                raise IllegalMove(f"{vertex.upper()} is occupied")
            s.game.play(move, color)
        except IllegalMove as exc:
            raise GtpError("illegal move", str(exc)) from None
        return ""

    def cmd_genmove(self, color: Color) -> str:
        return self.state.play_generated(color, self.state.genmove(color))

    def cmd_reg_genmove(self, color: Color) -> str:
        move = self.state.genmove(color)
        return "resign" if move == RESIGN else to_gtp(move, self.state.size)

    def cmd_undo(self) -> str:
        game = self.state.game
        if not game.moves:
            raise GtpError("cannot undo", "no move has been played")
        game.undo()
        return ""

    def cmd_showboard(self) -> str:
        s = self.state
        pos = s.game.position
        caps_b, caps_w = pos.captures
        turn = "black" if pos.to_move == BLACK else "white"
        board = render_board(pos.stones, s.size, pos.last_move)
        return (f"\n{board}\nmove {len(s.game.moves)}, {turn} to play, komi {s.game.rules.komi:g}, "
                f"captures black {caps_b} white {caps_w}")

    # -- GNU Go style queries -------------------------------------------------------------
    def cmd_list_stones(self, color: Color) -> str:
        return self.state.vertices(np.flatnonzero(self.state.game.position.stones == color))

    def cmd_is_legal(self, color: Color, vertex: str) -> str:
        s = self.state
        try:
            move = s.vertex(vertex)
        except IllegalMove:
            return "0"
        return "1" if s.game.is_legal(move, color) else "0"

    def cmd_all_legal(self, color: Color) -> str:
        s = self.state
        mask = s.with_turn(color).legal_mask()[: s.size * s.size]
        return s.vertices(np.flatnonzero(mask))


class GoGuiCommands:
    """GoGui's analyze menu."""

    def cmd_gogui_analyze_commands(self) -> str:
        return "\n" + "\n".join([
            "plist/Dead stones/final_status_list dead",
            "plist/Alive stones/final_status_list alive",
            "plist/All legal moves/all_legal %c",
            "string/Final score/final_score",
            "string/Show board/showboard",
        ])


def free_handicap_points(size: int, n: int) -> list[int]:
    """``n`` well-spread handicap points: the fixed placement where GTP defines one, then
    greedily the empty point farthest from the stones so far (3rd/4th line preferred)."""
    nn = size * size
    if not 1 <= n < nn:
        raise ValueError(f"cannot place {n} handicap stones on a {size}x{size} board")
    try:
        points = fixed_handicap_points(size, min(n, 9 if size % 2 == 1 and size >= 9 else 4))
    except ValueError:
        points = []
    if len(points) > n:
        points = points[:n]
    edge = 2 if size < 13 else 3
    rows, cols = np.divmod(np.arange(nn), size)
    line = np.minimum(np.minimum(rows, cols), np.minimum(size - 1 - rows, size - 1 - cols))
    pref = -np.abs(line - edge).astype(np.float64)
    if not points:
        centre = (size // 2) * size + size // 2
        points = [centre]
    while len(points) < n:
        pr, pc = np.divmod(np.array(points), size)
        dist = np.min(np.abs(rows[:, None] - pr[None, :]) + np.abs(cols[:, None] - pc[None, :]), axis=1)
        score = dist * 10.0 + pref
        score[points] = -np.inf
        points.append(int(np.argmax(score)))
    return points
