"""Go rules: numba kernels over flat arrays (`kernels`), the `Game`/`Position` API,
coordinates (`coords`) and SGF (`sgf`). Imports nothing else from gozero."""

from .coords import CoordError, from_gtp, from_sgf, to_gtp, to_sgf
from .game import (
    DEAD_THRESHOLD,
    SCORING_RULES,
    Game,
    Geometry,
    IllegalMove,
    Position,
    Rules,
    dead_stones,
    fixed_handicap_points,
    geometry,
)
from .kernels import BLACK, EMPTY, WHITE

__all__ = [
    "BLACK", "DEAD_THRESHOLD", "EMPTY", "SCORING_RULES", "WHITE", "CoordError", "Game", "Geometry", "IllegalMove",
    "Position", "Rules", "dead_stones",
    "fixed_handicap_points", "from_gtp", "from_sgf", "geometry", "to_gtp", "to_sgf",
]
