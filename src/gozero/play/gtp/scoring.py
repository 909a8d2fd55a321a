"""GTP scoring: ``final_score``, ``final_status_list``, KGS's ``kgs-genmove_cleanup`` and ``kgs-rules``.

A finished game is counted by the session's rules: under ``area_dead_removed`` (the front
ends' default) without the stones `rules.dead_stones` judges dead from the player's
ownership estimate, under ``tromp_taylor`` with every stone. ``kgs-rules`` sets rules the
way KGS names them; all four are counted by area with dead stones removed.
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np

from gozero.rules import BLACK, WHITE, dead_stones
from gozero.rules.sgf import rules_from_name

from .protocol import Color, GtpError
from .state import GtpState

log = logging.getLogger("gozero.gtp")

# kgs-rules names -> SGF RU names whose ko and suicide rules they use (`rules.sgf.RULESETS`)
KGS_RULES = {"chinese": "chinese", "aga": "aga", "new_zealand": "new zealand", "japanese": "japanese"}


class ScoringCommands:
    """Counting a finished game and cleaning up before it is counted."""

    def __init__(self, state: GtpState):
        self.state = state

    def cmd_final_score(self) -> str:
        return self.state.game.result_string(self.state.dead_mask())

    def cmd_final_status_list(self, status: str) -> str:
        status = status.lower()
        if status not in ("alive", "dead", "seki"):
            raise GtpError("syntax error", f"status {status!r} is not alive, dead or seki")
        if status == "seki":
            return ""
        alive, dead = self.state.status()
        groups = alive if status == "alive" else dead
        if not groups:
            return ""
        return "\n" + "\n".join(self.state.vertices(g) for g in groups)

    def cmd_kgs_genmove_cleanup(self, color: Color) -> str:
        """genmove that does not pass while the opponent has dead stones left on the board."""
        s = self.state
        move = s.genmove(color)
        if move == s.size * s.size:
            own = s.black_ownership()
            if own is not None:
                move = self._capturing_move(color, own)
        return s.play_generated(color, move)

    def _capturing_move(self, color: int, own_black: np.ndarray) -> int:
        """A legal move next to a dead opponent stone (as `dead_stones` judges), or pass."""
        s = self.state
        size, nn = s.size, s.size * s.size
        stones = s.game.position.stones
        other = WHITE if color == BLACK else BLACK
        dead = dead_stones(s.game.position, own_black) & (stones[:nn] == other)
        for p in np.flatnonzero(dead):
            r, c = divmod(int(p), size)
            for rr, cc in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)):
                q = rr * size + cc
                if 0 <= rr < size and 0 <= cc < size and stones[q] == 0 and s.game.is_legal(q, color):
                    return q
        return nn

    def cmd_kgs_rules(self, rules: str) -> str:
        """KGS's rule set of the game: chinese, aga, new_zealand or japanese. Each is played
        with its ko and suicide rules and counted by area with dead stones removed (for
        japanese, an area count approximates the territory count KGS makes)."""
        name = KGS_RULES.get(rules.lower())
        if name is None:
            raise GtpError("unknown rules", f"{rules!r}; KGS sends one of {', '.join(KGS_RULES)}")
        if name == "japanese":
            log.info("kgs-rules japanese: playing by area count with dead stones removed")
        ruleset = rules_from_name(name, self.state.rules.komi)
        self.state.set_rules(dataclasses.replace(ruleset, scoring="area_dead_removed"))
        return ""
