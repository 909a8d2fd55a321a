"""The uniform random player: any legal move that does not fill its own single-point eye.

It is the floor of the Elo ladder (rated 0) and the engine behind `gozero gtp` when no
model is given and none is shipped.
"""

from __future__ import annotations

import numpy as np

from gozero.rules import Game
from gozero.rules import kernels as K

from .player import SearchLimits


class RandomPlayer:
    """Uniform over legal non-eye-filling moves; passes when none is left."""

    def __init__(self, seed: int | None = None):
        self.name = "random"
        self.rng = np.random.default_rng(seed)

    def genmove(self, game: Game, limits: SearchLimits | None = None, temperature: float | None = None) -> int:
        pos = game.position
        geo = pos.geo
        mask = game.legal_mask()[: geo.nn]
        color = pos.to_move
        moves = [int(p) for p in np.flatnonzero(mask) if not K.is_eyelike(pos.ints, geo.nbr, geo.diag, int(p), color)]
        if not moves:
            return geo.nn
        return int(self.rng.choice(moves))
