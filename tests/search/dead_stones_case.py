"""A finished-looking position whose strict count and dead-stones-removed count disagree,
and a fake network whose ownership calls the disputed stone dead (search and player tests)."""

import numpy as np

from gozero.net.inference import NetOutput
from gozero.rules import BLACK, Game, Rules, from_gtp


def dead_stone_position() -> Game:
    """5x5, white just passed, black to move. Black's wall (row 2) owns row 1; white's wall
    (row 3) owns rows 4-5, where one black stone (C4) is dead. The strict count keeps C4 and
    makes white's area neutral: black +5.5. Without C4: white +5.5."""
    g = Game(5, Rules(komi=0.5, scoring="area_dead_removed"))
    for p in ["A2", "B2", "C2", "D2", "E2", "C4"]:
        g.place_setup(BLACK, from_gtp(p, 5))
    for p in ["A3", "B3", "C3", "D3", "E3"]:
        g.place_setup(3 - BLACK, from_gtp(p, 5))
    g.position.to_move = 3 - BLACK
    g.play(25)
    return g


OWN_BLACK = np.where(np.arange(25) >= 15, 1.0, -1.0).astype(np.float32)  # rows 1-2 (points 15..24) black's


class DeadStoneEvaluator:
    """Uniform policy, value 0 everywhere; ownership: rows 1-2 black's, rows 3-5 white's (so
    a black stone up there is dead), from the side to move; score lead 0."""

    def __init__(self):
        self.evaluations = 0

    def evaluate(self, planes, globals_, size=None):
        b, _, nn = planes.shape
        self.evaluations += b
        black_to_move = globals_[:, 1] > 0.5
        own = np.where(black_to_move[:, None], OWN_BLACK, -OWN_BLACK).astype(np.float32)
        return NetOutput(policy=np.zeros((b, nn + 1), np.float32), value=np.zeros(b, np.float32),
                         score=np.zeros(b, np.float32), ownership=own)
