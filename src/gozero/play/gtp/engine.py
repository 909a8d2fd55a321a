"""`GtpEngine`: the GTP protocol with gozero's command families registered.

Families (one module each): the protocol's own commands (`protocol.ProtocolCommands`),
setup and play (`board`), scoring (`scoring`), time (`timing`), analysis (`analysis`),
SGF (`sgf`) and GoGui's menu. They share one `GtpState`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import IO

from gozero import __version__
from gozero.rules import Game, Rules
from gozero.rules.game import MAX_SIZE, MIN_SIZE
from gozero.search.player import Player

from ..timecontrol import TimeControl
from .analysis import AnalysisCommands
from .board import BoardCommands, GoGuiCommands
from .protocol import GtpProtocol, ProtocolCommands
from .scoring import ScoringCommands
from .sgf import SgfCommands
from .state import GtpState
from .timing import TimeCommands


class GtpEngine(GtpProtocol):
    """One GTP session: a player, the game it plays and every command family.

    ``rules`` (default: area count with dead stones removed, as people and engines score)
    gives ko, suicide and scoring; ``komi`` its komi.
    """

    def __init__(self, player: Player, size: int = 19, komi: float = 7.5, name: str = "gozero",
                 version: str = __version__, out: IO[str] | None = None,
                 player_sizes: Iterable[int] | None = None, rules: Rules | None = None):
        if not MIN_SIZE <= size <= MAX_SIZE:
            raise ValueError(f"board size {size} is outside {MIN_SIZE}..{MAX_SIZE}")
        if not math.isfinite(komi):
            raise ValueError("komi must be a finite number")
        super().__init__(out)
        base = rules if rules is not None else Rules(scoring="area_dead_removed")
        self.name, self.version = name, version
        self.state = GtpState(player, size, Rules(komi=float(komi), ko=base.ko, suicide=base.suicide,
                                                  scoring=base.scoring), player_sizes)
        self.register(ProtocolCommands(self, name, version), BoardCommands(self.state),
                      ScoringCommands(self.state), TimeCommands(self.state), AnalysisCommands(self.state, self),
                      SgfCommands(self.state, name, version), GoGuiCommands())

    # the session's state, for callers that look at it
    @property
    def player(self) -> Player:
        return self.state.player

    @property
    def game(self) -> Game:
        return self.state.game

    @property
    def size(self) -> int:
        return self.state.size

    @property
    def time(self) -> TimeControl:
        return self.state.time

    @property
    def rules(self) -> Rules:
        return self.state.rules
