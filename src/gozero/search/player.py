"""What a move-choosing player looks like to GTP, the web page and the match runner.

A `Player` chooses a move for the side to move of a `Game`; an `AnalysisPlayer` also
reports what it thought (priors, visits, win rates, ownership, principal variations) in
the form that `lz-analyze`/`kata-analyze` and the web page show.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from gozero.rules import Game

RESIGN = -1
DEFAULT_VISITS = 1000  # a search player's visits per move when none are given: the shipped model's
# measured setting (about 0.5-0.8 s/move on 2 CPU cores; README, model card)


@dataclass(frozen=True)
class SearchLimits:
    """How long one search may run: a visit count, seconds, or both (whichever ends first).

    It is an argument of every search (`genmove(game, limits)`, `analyze(game, limits, ...)`),
    never an attribute of the player: one player serves many games with different budgets.
    With neither set, a search runs until its ``stop`` event (analysis) or for the player's
    default budget (`genmove`).
    """

    visits: int | None = None
    seconds: float | None = None

    def __post_init__(self) -> None:
        if self.visits is not None and self.visits < 1:
            raise ValueError(f"visits must be at least 1, not {self.visits}")
        if self.seconds is not None and not self.seconds > 0:
            raise ValueError(f"seconds must be positive, not {self.seconds}")

    @property
    def bounded(self) -> bool:
        return self.visits is not None or self.seconds is not None


@dataclass
class MoveInfo:
    """One candidate move of an analysis (KataGo analysis field names)."""

    move: int  # flat index, NN = pass
    visits: int
    winrate: float  # for the side to move, 0..1
    prior: float
    score_lead: float = 0.0  # points, for the side to move: the mean over the move's own subtree
    pv: list[int] = field(default_factory=list)
    score_stdev: float = 0.0  # standard deviation of the score lead over the move's subtree
    lcb: float = 0.0  # lower confidence bound of the win rate (0..1), as KataGo's ``lcb``


@dataclass
class Analysis:
    """What a search found at one position, from the side to move's point of view."""

    moves: list[MoveInfo]  # sorted best first
    policy: np.ndarray  # (NN+1,) network prior
    winrate: float  # root value for the side to move, 0..1
    score_lead: float  # root score estimate for the side to move
    ownership: np.ndarray | None  # (NN,) in [-1, 1], + for the side to move
    visits: int


@runtime_checkable
class Player(Protocol):
    """Chooses moves. ``genmove`` returns a flat index, NN for pass, or RESIGN; ``limits``
    and ``temperature`` (move-choice sampling; None: the player's own) are per call."""

    name: str

    def genmove(self, game: Game, limits: SearchLimits | None = None, temperature: float | None = None) -> int: ...


@runtime_checkable
class AnalysisPlayer(Player, Protocol):
    def analyze(self, game: Game, limits: SearchLimits | None = None, on_update=None, stop=None,
                interval: float = 1.0) -> Analysis: ...
