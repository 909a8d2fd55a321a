"""Numba kernels of the Go rules over flat arrays: the hot loops of gozero.

A position is two flat arrays, so that copying it is two ``memcpy`` calls and a batch of
positions is two 2-D arrays (one row per board):

``ints`` (int32, length ``4*NN + N_SCALARS``)
    ``[0, NN)``      colour of each point: 0 empty, 1 black, 2 white
    ``[NN, 2NN)``    head (representative point) of the group a stone belongs to
    ``[2NN, 3NN)``   next stone of the same group (circular linked list)
    ``[3NN, 4NN)``   group size, valid at the head
    ``4NN + S_*``    scalars: colour to move, ko point (-1 none), consecutive passes,
                     move count, stones captured by black and by white, last move

``bits`` (uint64, length ``NN*W + NN + 1`` with ``W = ceil(NN/64)``)
    ``[0, NN*W)``    liberties of the group headed at each point, as a bitset of W words
    ``[NN*W, NN*W+NN)`` Zobrist hash of the group headed at each point (XOR of its stones)
    ``NN*W + NN``    Zobrist hash of the whole position (stones only)

Groups and liberties are updated incrementally (merge by relabelling the smaller group,
liberty bitsets OR-ed), so no move needs a flood fill. Superko is checked against a
separate history of position hashes (``hist_hash``) and of the colour to move in each
(``hist_turn``), which a game keeps outside the position so that search nodes stay small.

Moves are flat point indices ``0 .. NN-1``; ``NN`` is pass. Ko rules: 0 simple ko,
1 positional superko, 2 situational superko.
"""

from __future__ import annotations

import numpy as np
from numba import njit

EMPTY, BLACK, WHITE = 0, 1, 2

S_TO_MOVE, S_KO, S_PASSES, S_MOVES, S_CAPS_B, S_CAPS_W, S_LAST = range(7)
N_SCALARS = 8

KO_SIMPLE, KO_POSITIONAL, KO_SITUATIONAL = 0, 1, 2


def ints_len(nn: int) -> int:
    return 4 * nn + N_SCALARS


def words(nn: int) -> int:
    return (nn + 63) // 64


def bits_len(nn: int) -> int:
    return nn * words(nn) + nn + 1


@njit(cache=True, inline="always")
def _popcount(x):
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return (x * np.uint64(0x0101010101010101)) >> np.uint64(56)


@njit(cache=True)
def liberty_count(bits, head, w):
    n = 0
    base = head * w
    for k in range(w):
        n += _popcount(bits[base + k])
    return n


@njit(cache=True, inline="always")
def _no_liberty(bits, head, w):
    """The group headed at ``head`` has no liberty (all bitset words zero)."""
    base = head * w
    for k in range(w):
        if bits[base + k] != 0:
            return False
    return True


@njit(cache=True, inline="always")
def _liberties_upto2(bits, head, w):
    """Liberty count of the group headed at ``head``, capped at 2 (no popcount)."""
    base = head * w
    n = 0
    for k in range(w):
        x = bits[base + k]
        if x != 0:
            if x & (x - np.uint64(1)) != 0:
                return 2
            n += 1
            if n == 2:
                return 2
    return n


@njit(cache=True)
def _first_liberty(bits, head, w):
    base = head * w
    for k in range(w):
        x = bits[base + k]
        if x != 0:
            i = 0
            while (x >> np.uint64(i)) & np.uint64(1) == 0:
                i += 1
            return k * 64 + i
    return -1


@njit(cache=True, inline="always")
def _set_lib(bits, head, p, w):
    bits[head * w + p // 64] |= np.uint64(1) << np.uint64(p % 64)


@njit(cache=True, inline="always")
def _clear_lib(bits, head, p, w):
    bits[head * w + p // 64] &= ~(np.uint64(1) << np.uint64(p % 64))


@njit(cache=True)
def init_position(ints, bits, nn):
    """Set ``ints``/``bits`` to the empty board, black to move."""
    ints[:] = 0
    bits[:] = 0
    ints[4 * nn + S_TO_MOVE] = BLACK
    ints[4 * nn + S_KO] = -1
    ints[4 * nn + S_LAST] = -1


@njit(cache=True)
def _remove_group(ints, bits, nbr, zob, head, w):
    """Remove the group headed at ``head``; give its points back as liberties to neighbours."""
    nn = nbr.shape[0]
    hpos = nn * w + nn
    color = ints[head]
    s = head
    count = 0
    while True:
        nxt = ints[2 * nn + s]
        ints[s] = EMPTY
        bits[hpos] ^= zob[s, color]
        count += 1
        s = nxt
        if s == head:
            break
    # second pass: now that all stones are gone, add liberties to adjacent groups
    s = head
    while True:
        nxt = ints[2 * nn + s]
        for k in range(4):
            m = nbr[s, k]
            if m < 0:
                break
            if ints[m] != EMPTY:
                _set_lib(bits, ints[nn + m], s, w)
        s = nxt
        if s == head:
            break
    return count


@njit(cache=True)
def _merge(ints, bits, a, b, w):
    """Merge the groups headed at ``a`` and ``b``; return the surviving head."""
    nn = (ints.shape[0] - N_SCALARS) // 4
    if ints[3 * nn + a] < ints[3 * nn + b]:
        a, b = b, a
    # relabel b's stones to a
    s = b
    while True:
        ints[nn + s] = a
        s = ints[2 * nn + s]
        if s == b:
            break
    # splice circular lists
    na = ints[2 * nn + a]
    nb = ints[2 * nn + b]
    ints[2 * nn + a] = nb
    ints[2 * nn + b] = na
    ints[3 * nn + a] += ints[3 * nn + b]
    for k in range(w):
        bits[a * w + k] |= bits[b * w + k]
    gh = nn * w
    bits[gh + a] ^= bits[gh + b]
    return a


@njit(cache=True)
def play(ints, bits, nbr, zob, move):
    """Play ``move`` (a point, or NN for pass) for the colour to move. No legality check.

    Returns the number of stones captured (negative for the stones lost by a suicide).
    """
    nn = nbr.shape[0]
    w = (nn + 63) // 64
    sc = 4 * nn
    color = ints[sc + S_TO_MOVE]
    other = 3 - color
    ints[sc + S_MOVES] += 1
    ints[sc + S_LAST] = move
    ints[sc + S_TO_MOVE] = other
    if move == nn:
        ints[sc + S_PASSES] += 1
        ints[sc + S_KO] = -1
        return 0
    ints[sc + S_PASSES] = 0
    p = move
    hpos = nn * w + nn
    ints[p] = color
    ints[nn + p] = p
    ints[2 * nn + p] = p
    ints[3 * nn + p] = 1
    for k in range(w):
        bits[p * w + k] = 0
    bits[nn * w + p] = zob[p, color]
    bits[hpos] ^= zob[p, color]
    head = p
    for k in range(4):
        m = nbr[p, k]
        if m < 0:
            break
        c = ints[m]
        if c == EMPTY:
            _set_lib(bits, p, m, w)
        else:
            _clear_lib(bits, ints[nn + m], p, w)
    for k in range(4):
        m = nbr[p, k]
        if m < 0:
            break
        if ints[m] == color:
            hm = ints[nn + m]
            if hm != head:
                head = _merge(ints, bits, head, hm, w)
    captured = 0
    last_captured = -1
    for k in range(4):
        m = nbr[p, k]
        if m < 0:
            break
        if ints[m] == other:
            hm = ints[nn + m]
            if _no_liberty(bits, hm, w):
                last_captured = m
                captured += _remove_group(ints, bits, nbr, zob, hm, w)
    if captured > 0:
        if color == BLACK:
            ints[sc + S_CAPS_B] += captured
        else:
            ints[sc + S_CAPS_W] += captured
    ints[sc + S_KO] = -1
    if _no_liberty(bits, head, w):
        # suicide (only reached when the rules allow it)
        lost = _remove_group(ints, bits, nbr, zob, head, w)
        if color == BLACK:
            ints[sc + S_CAPS_W] += lost
        else:
            ints[sc + S_CAPS_B] += lost
        return -lost
    if captured == 1 and ints[3 * nn + head] == 1 and _liberties_upto2(bits, head, w) == 1:
        ints[sc + S_KO] = last_captured
    return captured


@njit(cache=True)
def hash_after(ints, bits, nbr, zob, p, color):
    """Zobrist hash of the position after ``color`` plays at ``p``; -1 status via ok flag.

    Returns ``(hash, suicide)`` where ``suicide`` is True when the move captures nothing
    and leaves its own group without liberties.
    """
    nn = nbr.shape[0]
    w = (nn + 63) // 64
    gh = nn * w
    h = bits[gh + nn] ^ zob[p, color]
    has_lib = False
    seen0 = -1
    seen1 = -1
    seen2 = -1
    captures = False
    for k in range(4):
        m = nbr[p, k]
        if m < 0:
            break
        c = ints[m]
        if c == EMPTY:
            has_lib = True
        elif c == color:
            if _liberties_upto2(bits, ints[nn + m], w) > 1:
                has_lib = True
        else:
            hm = ints[nn + m]
            if _liberties_upto2(bits, hm, w) == 1:
                if hm != seen0 and hm != seen1 and hm != seen2:
                    h ^= bits[gh + hm]
                    captures = True
                    if seen0 < 0:
                        seen0 = hm
                    elif seen1 < 0:
                        seen1 = hm
                    else:
                        seen2 = hm
    if not has_lib and not captures:
        # suicide: own stones (the new one and the friendly groups) all leave the board
        h = bits[gh + nn]
        f0 = -1
        f1 = -1
        f2 = -1
        for k in range(4):
            m = nbr[p, k]
            if m < 0:
                break
            if ints[m] == color:
                hm = ints[nn + m]
                if hm != f0 and hm != f1 and hm != f2:
                    h ^= bits[gh + hm]
                    if f0 < 0:
                        f0 = hm
                    elif f1 < 0:
                        f1 = hm
                    else:
                        f2 = hm
        return h, True
    return h, False


@njit(cache=True)
def _legal_on_board(ints, bits, nbr, zob, move, ko_rule, allow_suicide):
    """Legality of a point (0 .. NN-1) before the superko test: ``(status, hash)`` where
    status 0 is illegal, 1 legal, 2 legal unless the board after it (``hash``) repeats."""
    nn = nbr.shape[0]
    if ints[move] != EMPTY:
        return 0, np.uint64(0)
    sc = 4 * nn
    color = ints[sc + S_TO_MOVE]
    # the ko ban binds the side that lost the stone: all neighbours of the ko point are the
    # capturer's stones, so the capturer itself (playing out of turn) may fill the point
    if move == ints[sc + S_KO] and ints[nbr[move, 0]] != color:
        return 0, np.uint64(0)
    if ko_rule == KO_SIMPLE:
        # an empty neighbour means no suicide
        for k in range(4):
            m = nbr[move, k]
            if m < 0:
                break
            if ints[m] == EMPTY:
                return 1, np.uint64(0)
    h, suicide = hash_after(ints, bits, nbr, zob, move, color)
    if suicide and not allow_suicide:
        return 0, h
    if ko_rule == KO_SIMPLE:
        return 1, h
    return 2, h


@njit(cache=True)
def is_legal(ints, bits, nbr, zob, move, ko_rule, allow_suicide, hist_hash, hist_turn, hist_len):
    """Whether ``move`` is legal for the colour to move. Pass is always legal."""
    nn = nbr.shape[0]
    if move == nn:
        return True
    if move < 0 or move > nn:
        return False
    status, h = _legal_on_board(ints, bits, nbr, zob, move, ko_rule, allow_suicide)
    if status != 2:
        return status == 1
    nxt = 3 - ints[4 * nn + S_TO_MOVE]
    for i in range(hist_len):
        if hist_hash[i] == h:
            if ko_rule == KO_POSITIONAL or hist_turn[i] == nxt:
                return False
    return True


@njit(cache=True)
def legal_mask(ints, bits, nbr, zob, ko_rule, allow_suicide, hist_hash, hist_turn, hist_len, out):
    """Fill ``out`` (bool, NN+1) with the legal moves of the colour to move; pass included.

    Under superko the history goes into an open-addressing hash table first, so that the
    mask costs O(NN + history) rather than O(NN x history)."""
    nn = nbr.shape[0]
    out[nn] = True
    if ko_rule == KO_SIMPLE:
        for p in range(nn):
            status, _ = _legal_on_board(ints, bits, nbr, zob, p, ko_rule, allow_suicide)
            out[p] = status == 1
        return
    size = 32
    while size < 2 * hist_len:
        size *= 2
    mask = np.uint64(size - 1)
    slots = np.full(size, -1, np.int32)
    for i in range(hist_len):
        j = np.int64(hist_hash[i] & mask)
        while slots[j] >= 0:
            j = (j + 1) & (size - 1)
        slots[j] = i
    nxt = 3 - ints[4 * nn + S_TO_MOVE]
    for p in range(nn):
        status, h = _legal_on_board(ints, bits, nbr, zob, p, ko_rule, allow_suicide)
        if status != 2:
            out[p] = status == 1
            continue
        legal = True
        j = np.int64(h & mask)
        while slots[j] >= 0:
            i = slots[j]
            if hist_hash[i] == h and (ko_rule == KO_POSITIONAL or hist_turn[i] == nxt):
                legal = False
                break
            j = (j + 1) & (size - 1)
        out[p] = legal


@njit(cache=True)
def is_eyelike(ints, nbr, diag, p, color):
    """``p`` is an own single-point eye of ``color``: all neighbours own stones, and not a
    false eye (at most one opposing diagonal in the centre, none on the edge)."""
    for k in range(4):
        m = nbr[p, k]
        if m < 0:
            break
        if ints[m] != color:
            return False
    other = 3 - color
    bad = 0
    n_diag = 0
    for k in range(4):
        d = diag[p, k]
        if d < 0:
            break
        n_diag += 1
        if ints[d] == other:
            bad += 1
    if n_diag < 4:
        return bad == 0
    return bad < 2


@njit(cache=True)
def area_score(ints, nn, nbr, dead, komi):
    """Tromp-Taylor area score (black minus white minus komi) after removing ``dead`` stones.

    ``dead`` is a bool array over the points (all False for plain Tromp-Taylor).
    Returns ``(score, owner)`` where owner[p] is 1 black, 2 white, 0 neutral.
    """
    stones = np.empty(nn, np.int8)
    for p in range(nn):
        stones[p] = ints[p]
        if dead[p]:
            stones[p] = EMPTY
    owner = np.zeros(nn, np.int8)
    visited = np.zeros(nn, np.bool_)
    stack = np.empty(nn, np.int32)
    region = np.empty(nn, np.int32)
    black = 0
    white = 0
    for p in range(nn):
        c = stones[p]
        if c == BLACK:
            black += 1
            owner[p] = BLACK
        elif c == WHITE:
            white += 1
            owner[p] = WHITE
        elif not visited[p]:
            top = 0
            stack[top] = p
            top += 1
            visited[p] = True
            rn = 0
            reach_b = False
            reach_w = False
            while top > 0:
                top -= 1
                q = stack[top]
                region[rn] = q
                rn += 1
                for k in range(4):
                    m = nbr[q, k]
                    if m < 0:
                        break
                    cm = stones[m]
                    if cm == EMPTY:
                        if not visited[m]:
                            visited[m] = True
                            stack[top] = m
                            top += 1
                    elif cm == BLACK:
                        reach_b = True
                    else:
                        reach_w = True
            if reach_b and not reach_w:
                black += rn
                for i in range(rn):
                    owner[region[i]] = BLACK
            elif reach_w and not reach_b:
                white += rn
                for i in range(rn):
                    owner[region[i]] = WHITE
    return black - white - komi, owner


@njit(cache=True)
def dead_from_ownership(ints, nn, own_black, threshold, out):
    """Mark in ``out`` (bool, NN) the stones of every group whose mean ownership for its own
    colour is below ``threshold`` (``own_black``: ownership in [-1, 1], + for black). The one
    rule by which gozero calls stones dead: GTP final_status_list, the web page's score and the
    search's valuation of a finished game under area scoring with dead stones removed."""
    for p in range(nn):
        out[p] = False
    sums = np.zeros(nn, np.float64)
    for p in range(nn):
        c = ints[p]
        if c != EMPTY:
            sums[ints[nn + p]] += own_black[p] if c == BLACK else -own_black[p]
    for p in range(nn):
        if ints[p] != EMPTY:
            h = ints[nn + p]
            out[p] = sums[h] / ints[3 * nn + h] < threshold
    return out


@njit(cache=True)
def full_hash(ints, nn, zob):
    """Zobrist hash of the stones computed from scratch (for checking the incremental one)."""
    h = np.uint64(0)
    for p in range(nn):
        c = ints[p]
        if c != EMPTY:
            h ^= zob[p, c]
    return h


@njit(cache=True)
def playout_move(ints, bits, nbr, diag, empty, n_empty):
    """A uniformly random legal move (simple ko, no suicide) that does not fill the mover's
    own single-point eye, drawn from the empty points ``empty[:n_empty]``; NN (pass) when
    there is none. Returns ``(move, index of the move in empty)`` (index -1 for pass).

    The fast path of random playouts: the same legality as ``is_legal`` with ``KO_SIMPLE``
    and no suicide, but without hashing, and the caller keeps ``empty`` up to date between
    moves. Rejected points are swapped to the back of ``empty[:n_empty]`` (the set of
    points it holds does not change).
    """
    nn = nbr.shape[0]
    w = (nn + 63) // 64
    color = ints[4 * nn + S_TO_MOVE]
    ko = ints[4 * nn + S_KO]
    n = n_empty
    while n > 0:
        i = np.random.randint(n)
        p = empty[i]
        ok = False
        own = 0
        n_nbr = 0
        for k in range(4):
            m = nbr[p, k]
            if m < 0:
                break
            n_nbr += 1
            c = ints[m]
            if c == EMPTY:
                ok = True  # an empty neighbour: not an eye, not suicide, not the ko point
                break
            if c == color:
                own += 1
        if not ok:
            if own == n_nbr:
                # surrounded by own stones (never the ko point): a real eye is skipped, a
                # false one is legal unless every neighbouring group is in atari
                if not is_eyelike(ints, nbr, diag, p, color):
                    for k in range(n_nbr):
                        if _liberties_upto2(bits, ints[nn + nbr[p, k]], w) > 1:
                            ok = True
                            break
            elif p != ko:
                # legal when it joins a group with another liberty or captures a group
                for k in range(n_nbr):
                    m = nbr[p, k]
                    lib2 = _liberties_upto2(bits, ints[nn + m], w)
                    if (lib2 > 1) if ints[m] == color else (lib2 == 1):
                        ok = True
                        break
        if ok:
            return p, i
        n -= 1
        empty[i] = empty[n]
        empty[n] = p
    return nn, -1


@njit(cache=True)
def empty_points(ints, nn, out):
    """Write the empty points into ``out``; return how many there are."""
    n = 0
    for p in range(nn):
        if ints[p] == EMPTY:
            out[n] = p
            n += 1
    return n


@njit(cache=True)
def random_playout(ints, bits, nbr, diag, zob, max_moves):
    """Play random non-eye-filling legal moves (simple ko, no suicide) until two passes or
    ``max_moves``; return the number of moves played."""
    nn = nbr.shape[0]
    sc = 4 * nn
    empty = np.empty(nn, np.int32)
    n_empty = empty_points(ints, nn, empty)
    played = 0
    while played < max_moves and ints[sc + S_PASSES] < 2:
        mv, i = playout_move(ints, bits, nbr, diag, empty, n_empty)
        captured = play(ints, bits, nbr, zob, mv)
        played += 1
        if mv < nn:
            if captured > 0:  # rare: rescan rather than track the removed stones
                n_empty = empty_points(ints, nn, empty)
            else:
                n_empty -= 1
                empty[i] = empty[n_empty]
    return played


@njit(cache=True)
def seed(s):
    """Seed numba's own random generator (separate from numpy's)."""
    np.random.seed(s)


@njit(cache=True)
def play_batch(ints, bits, nbr, zob, moves):
    """Play ``moves[b]`` on board ``b`` for every row of the batch (no legality check)."""
    for b in range(ints.shape[0]):
        play(ints[b], bits[b], nbr, zob, moves[b])


@njit(cache=True)
def legal_mask_batch(ints, bits, nbr, zob, ko_rule, allow_suicide, hist_hash, hist_turn, hist_len,
                     out):
    """Legal-move masks (B, NN+1) for a batch; history arrays are (B, H) with lengths (B,)."""
    for b in range(ints.shape[0]):
        legal_mask(ints[b], bits[b], nbr, zob, ko_rule, allow_suicide, hist_hash[b], hist_turn[b],
                   hist_len[b], out[b])


@njit(cache=True)
def random_playouts(ints, bits, nbr, diag, zob, n_games, max_moves):
    """Play ``n_games`` random playouts from the empty board; return total moves played."""
    nn = nbr.shape[0]
    total = 0
    for _ in range(n_games):
        init_position(ints, bits, nn)
        total += random_playout(ints, bits, nbr, diag, zob, max_moves)
    return total


@njit(cache=True)
def liberties_map(ints, bits, nn, out):
    """Fill ``out`` (int32, NN) with the liberty count of the group at each stone (0 if empty)."""
    w = (nn + 63) // 64
    for p in range(nn):
        if ints[p] == EMPTY:
            out[p] = 0
        else:
            out[p] = liberty_count(bits, ints[nn + p], w)
