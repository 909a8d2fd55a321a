"""Input features of the network, computed by numba straight from the rules arrays.

Binary planes (``NUM_PLANES`` x NN), from the side to move's point of view:

====  ===========================================================
0-1   own / opponent stones now
2-3   own / opponent stones one move ago
4-5   own / opponent stones two moves ago
6     on-board (all ones: lets convolutions see the edge)
7-9   own stones whose group has 1, 2, 3+ liberties
10-12 opponent stones whose group has 1, 2, 3+ liberties
13    simple-ko ban point
14-16 last, second-to-last and third-to-last move (one point each)
17    legal moves of the side to move
====  ===========================================================

Global inputs (``NUM_GLOBALS``): komi from the side to move's view / 15, side to move is
black, the last move was a pass, the two last moves were passes.

The search asks for features of tree leaves: it hands over the current position, the two
previous positions' stones and the last moves, so nothing here needs the game object.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from gozero.rules import kernels as K

NUM_PLANES = 18
NUM_GLOBALS = 4
HISTORY = 3  # positions whose stones are planes (now and two before)
LAST_MOVES = 3


@njit(cache=True)
def encode(ints, bits, prev1, prev2, last_moves, legal, komi, planes, globals_):
    """Fill ``planes`` (uint8, NUM_PLANES x NN) and ``globals_`` (float32, NUM_GLOBALS).

    ``prev1``/``prev2``: stones (0/1/2) of the positions one and two moves ago (zeros when
    the game is younger). ``last_moves``: the last LAST_MOVES moves, newest first (-1 none,
    NN pass). ``legal``: legal mask (NN+1) of the side to move.
    """
    nn = prev1.shape[0]
    w = (nn + 63) // 64
    me = ints[4 * nn + K.S_TO_MOVE]
    opp = 3 - me
    planes[:, :] = 0
    for p in range(nn):
        c = ints[p]
        planes[6, p] = 1
        if c == me:
            planes[0, p] = 1
        elif c == opp:
            planes[1, p] = 1
        c1 = prev1[p]
        if c1 == me:
            planes[2, p] = 1
        elif c1 == opp:
            planes[3, p] = 1
        c2 = prev2[p]
        if c2 == me:
            planes[4, p] = 1
        elif c2 == opp:
            planes[5, p] = 1
        if c != K.EMPTY:
            libs = K.liberty_count(bits, ints[nn + p], w)
            k = 2 if libs >= 3 else libs - 1
            if c == me:
                planes[7 + k, p] = 1
            else:
                planes[10 + k, p] = 1
        if legal[p]:
            planes[17, p] = 1
    ko = ints[4 * nn + K.S_KO]
    if ko >= 0:
        planes[13, ko] = 1
    for i in range(LAST_MOVES):
        m = last_moves[i]
        if 0 <= m < nn:
            planes[14 + i, m] = 1
    globals_[0] = komi / 15.0 if me == K.WHITE else -komi / 15.0
    globals_[1] = 1.0 if me == K.BLACK else 0.0
    globals_[2] = 1.0 if last_moves[0] == nn else 0.0
    globals_[3] = 1.0 if (last_moves[0] == nn and last_moves[1] == nn) else 0.0


def encode_game(game) -> tuple[np.ndarray, np.ndarray]:
    """Features of a `gozero.rules.Game` (its real legal mask, superko included)."""
    pos = game.position
    nn = pos.geo.nn
    hist = game.stones_history(HISTORY)
    prev1 = hist[1] if len(hist) > 1 else np.zeros(nn, np.int8)
    prev2 = hist[2] if len(hist) > 2 else np.zeros(nn, np.int8)
    last = np.full(LAST_MOVES, -1, np.int32)
    for i, (_, mv) in enumerate(reversed(game.moves[-LAST_MOVES:])):
        last[i] = mv
    planes = np.zeros((NUM_PLANES, nn), np.uint8)
    glob = np.zeros(NUM_GLOBALS, np.float32)
    encode(pos.ints, pos.bits, prev1.astype(np.int32), prev2.astype(np.int32), last, game.legal_mask(),
           float(game.rules.komi), planes, glob)
    return planes, glob


def symmetry_indices(size: int) -> np.ndarray:
    """(8, NN) gathers: ``transformed[p] = original[idx[s, p]]`` for the 8 board symmetries."""
    grid = np.arange(size * size).reshape(size, size)
    out = []
    for k in range(4):
        g = np.rot90(grid, k)
        out.append(g.reshape(-1))
        out.append(np.fliplr(g).reshape(-1))
    return np.stack(out).astype(np.int64)


def inverse_symmetry_indices(size: int) -> np.ndarray:
    idx = symmetry_indices(size)
    inv = np.empty_like(idx)
    for s in range(8):
        inv[s, idx[s]] = np.arange(size * size)
    return inv
