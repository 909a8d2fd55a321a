"""Numba kernels of the batched search tree: select leaves, create them, back values up.

One `Tree` holds the trees of B games as arrays (M nodes per game, A = NN+1 actions):

=====================  ===============  ====================================================
``ints``, ``bits``     (B, M, I/Bt)     the rules state of each node (see rules/kernels.py)
``parent``             (B, M)           parent node (-1 at the root, node 0)
``parent_action``      (B, M)           action that led from the parent to the node
``child``              (B, M, A)        node reached by each action (-1: not created)
``prior``              (B, M, A)        network policy over the legal actions
``legal``              (B, M, A)        legal actions (simple ko inside the tree; the root
                                        gets the game's real mask, superko included)
``nsa``, ``wsa``       (B, M, A)        visits and summed values of each edge, from the
                                        node's side to move
``value``              (B, M)           network value of the node (terminal: the result)
``score``              (B, M)           network score lead of the node, side to move (terminal:
                                        the exact count)
``vsq``                (B, M)           sum over the node's visits of value squared
``ssum``, ``ssq``      (B, M)           sums over the node's visits of the score lead and its
                                        square, from the parent's side to move (the sign of
                                        the edge's ``wsa``); the node's visit count is its
                                        edge's ``nsa``
``state``              (B, M)           0 created, 1 expanded, 2 terminal
``count``              (B,)             nodes in use
=====================  ===============  ====================================================

Values are in [-1, 1] from the side to move at the node. A position ended by two passes is
a terminal node valued by the game's scoring rule: under ``SCORING_TROMP_TAYLOR`` at once by
the strict area count; under ``SCORING_AREA_DEAD_REMOVED`` it is first evaluated by the
network like a leaf, and its result is the area count without the stones that the
network's ownership at that finished position calls dead (`rules.kernels.dead_from_ownership`
at `rules.DEAD_THRESHOLD`), the way people and referees score a finished game. Two root policies share the same
tree: PUCT (AlphaGo Zero, with first-play urgency and virtual loss) and Gumbel (Danihelka et
al. 2022: sequential halving at the root, deterministic completed-Q selection inside).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from gozero.net.features import LAST_MOVES, encode
from gozero.rules import kernels as K
from gozero.rules.game import DEAD_THRESHOLD

CREATED, EXPANDED, TERMINAL = 0, 1, 2
ALGO_PUCT, ALGO_GUMBEL = 0, 1
SCORING_TROMP_TAYLOR, SCORING_AREA_DEAD_REMOVED = 0, 1
SCORING_CODES = {"tromp_taylor": SCORING_TROMP_TAYLOR, "area_dead_removed": SCORING_AREA_DEAD_REMOVED}


@njit(cache=True)
def _prev_stones(ints, parent, root_prev, b, node, back, nn):
    """Stones of the position ``back`` (1 or 2) moves before ``node``."""
    n = node
    for k in range(back):
        p = parent[b, n]
        if p < 0:
            # past the root: root_prev[b, j] is the position j+1 moves before the root
            return root_prev[b, back - k - 1]
        n = p
    return ints[b, n, :nn]


@njit(cache=True)
def _last_moves(ints, parent, root_last, b, node, nn, out):
    n = node
    i = 0
    while i < LAST_MOVES:
        if n < 0:
            j = 0
            while i < LAST_MOVES:
                out[i] = root_last[b, j]
                i += 1
                j += 1
            return
        out[i] = ints[b, n, 4 * nn + K.S_LAST]
        i += 1
        n = parent[b, n]


@njit(cache=True)
def node_features(ints, bits, parent, legal, root_prev, root_last, komi, b, node, nn, planes, glob):
    last = np.empty(LAST_MOVES, np.int32)
    _last_moves(ints, parent, root_last, b, node, nn, last)
    # the root's own last moves are part of ints: root_last holds moves before it
    prev1 = _prev_stones(ints, parent, root_prev, b, node, 1, nn)
    prev2 = _prev_stones(ints, parent, root_prev, b, node, 2, nn)
    encode(ints[b, node], bits[b, node], prev1, prev2, last, legal[b, node], komi, planes, glob)


@njit(cache=True)
def terminal_result(ints_row, nn, nbr, komi, dead):
    """(result +1 win / -1 loss / 0 draw, score lead) for the side to move of a finished
    position, counted by area after removing the ``dead`` stones (none: Tromp-Taylor)."""
    s, _ = K.area_score(ints_row, nn, nbr, dead, komi)
    if ints_row[4 * nn + K.S_TO_MOVE] != K.BLACK:
        s = -s
    if s == 0:
        return 0.0, 0.0
    return (1.0 if s > 0 else -1.0), s


@njit(cache=True)
def finished_result(ints_row, nn, nbr, komi, own, dead):
    """(result, score lead) for the side to move of a position ended by two passes, counted
    by area without the stones that ``own`` (the network's ownership, + for the side to
    move) calls dead; ``dead`` is scratch (NN,)."""
    sign = 1.0 if ints_row[4 * nn + K.S_TO_MOVE] == K.BLACK else -1.0
    own_black = np.empty(nn, np.float64)
    for p in range(nn):
        own_black[p] = sign * own[p]
    K.dead_from_ownership(ints_row, nn, own_black, DEAD_THRESHOLD, dead)
    return terminal_result(ints_row, nn, nbr, komi, dead)


@njit(cache=True)
def _puct_select(prior, legal, nsa, wsa, value, b, n, c_init, c_base, fpu_red, a_n):
    total = 0
    visited_prior = 0.0
    for a in range(a_n):
        if nsa[b, n, a] > 0:
            total += nsa[b, n, a]
            visited_prior += prior[b, n, a]
    c = math.log((1.0 + total + c_base) / c_base) + c_init
    fpu = value[b, n] - fpu_red * math.sqrt(visited_prior)
    sq = math.sqrt(total + 1.0)
    best = -1
    best_score = -1e30
    for a in range(a_n):
        if not legal[b, n, a]:
            continue
        na = nsa[b, n, a]
        q = wsa[b, n, a] / na if na > 0 else fpu
        s = q + c * prior[b, n, a] * sq / (1.0 + na)
        if s > best_score:
            best_score = s
            best = a
    return best


@njit(cache=True)
def completed_q(prior, legal, nsa, wsa, value, b, n, a_n, out):
    """Q of visited actions, the mixed value v_mix for unvisited ones, min-max scaled to
    [0, 1] over the legal actions. Returns the largest visit count."""
    total = 0
    visited_prior = 0.0
    weighted_q = 0.0
    max_n = 0
    for a in range(a_n):
        na = nsa[b, n, a]
        if na > 0 and legal[b, n, a]:
            total += na
            visited_prior += prior[b, n, a]
            weighted_q += prior[b, n, a] * wsa[b, n, a] / na
            if na > max_n:
                max_n = na
    v = value[b, n]
    if total > 0 and visited_prior > 0:
        v_mix = (v + total * weighted_q / visited_prior) / (1.0 + total)
    else:
        v_mix = v
    lo = 1e30
    hi = -1e30
    for a in range(a_n):
        if not legal[b, n, a]:
            out[a] = 0.0
            continue
        na = nsa[b, n, a]
        q = wsa[b, n, a] / na if na > 0 else v_mix
        out[a] = q
        if q < lo:
            lo = q
        if q > hi:
            hi = q
    span = hi - lo
    if span < 1e-8:
        span = 1e-8
    for a in range(a_n):
        if legal[b, n, a]:
            out[a] = (out[a] - lo) / span
    return max_n


@njit(cache=True)
def _gumbel_interior_select(prior, legal, nsa, wsa, value, b, n, c_visit, c_scale, a_n, scratch):
    max_n = completed_q(prior, legal, nsa, wsa, value, b, n, a_n, scratch)
    total = 0
    for a in range(a_n):
        total += nsa[b, n, a]
    sig = (c_visit + max_n) * c_scale
    hi = -1e30
    for a in range(a_n):
        if legal[b, n, a]:
            z = math.log(prior[b, n, a] + 1e-12) + sig * scratch[a]
            scratch[a] = z
            if z > hi:
                hi = z
    norm = 0.0
    for a in range(a_n):
        if legal[b, n, a]:
            scratch[a] = math.exp(scratch[a] - hi)
            norm += scratch[a]
    best = -1
    best_score = -1e30
    for a in range(a_n):
        if legal[b, n, a]:
            s = scratch[a] / norm - nsa[b, n, a] / (1.0 + total)
            if s > best_score:
                best_score = s
                best = a
    return best


@njit(cache=True)
def _gumbel_root_select(prior, legal, nsa, wsa, value, gumbel, b, considered, c_visit, c_scale, a_n, scratch):
    max_n = completed_q(prior, legal, nsa, wsa, value, b, 0, a_n, scratch)
    sig = (c_visit + max_n) * c_scale
    best = -1
    best_score = -1e30
    for a in range(a_n):
        if legal[b, 0, a] and nsa[b, 0, a] == considered:
            s = gumbel[b, a] + math.log(prior[b, 0, a] + 1e-12) + sig * scratch[a]
            if s > best_score:
                best_score = s
                best = a
    if best < 0:  # nothing at exactly that count (tiny action sets): least visited legal
        low = 1 << 30
        for a in range(a_n):
            if legal[b, 0, a] and nsa[b, 0, a] < low:
                low = nsa[b, 0, a]
                best = a
    return best


@njit(cache=True)
def _backup(parent, parent_action, nsa, wsa, vsq, ssum, ssq, b, node, v, sc, vloss, visit):
    """Walk from ``node`` up to the root undoing the virtual loss of the descent; with
    ``visit`` = 1 also add one visit of value ``v`` and score lead ``sc`` (``node``'s side
    to move, negated at each level) to the edges and to the nodes' accumulators.
    ``visit`` = 0 only undoes the virtual loss (a discarded descent)."""
    n = node
    while True:
        p = parent[b, n]
        if p < 0:
            break
        a = parent_action[b, n]
        v = -v
        sc = -sc
        nsa[b, p, a] += visit - vloss
        wsa[b, p, a] += vloss + visit * v
        if visit:
            vsq[b, n] += v * v
            ssum[b, n] += sc
            ssq[b, n] += sc * sc
        n = p


@njit(cache=True)
def select_leaves(ints, bits, parent, parent_action, child, prior, legal, nsa, wsa, value, score, vsq, ssum, ssq,
                  state, count,
                  root_prev, root_last, gumbel, considered, active, nbr, zob, allow_suicide, komi, scoring,
                  algo, c_init, c_base, fpu_red, fpu_red_root, c_visit, c_scale, leaves_per_game, vloss,
                  out_game, out_node, planes, glob):
    """Descend each active game's tree ``leaves_per_game`` times and create the leaves.

    New non-terminal leaves get their features in ``planes``/``glob`` and are listed in
    ``out_game``/``out_node`` (returned count) for one network call; finished positions are
    backed up at once under Tromp-Taylor ``scoring`` and listed for the network (their
    ownership judges the dead stones) under area scoring with dead stones removed. With more
    than one leaf per game, virtual loss spreads the descents.
    """
    n_games = ints.shape[0]
    m_nodes = ints.shape[1]
    a_n = prior.shape[2]
    nn = a_n - 1
    scratch = np.empty(a_n, np.float64)
    n_out = 0
    for b in range(n_games):
        if not active[b]:
            continue
        for _rep in range(leaves_per_game):
            if count[b] >= m_nodes:
                break  # tree full: the search of this game stops growing
            n = 0
            created = -1
            collided = False
            while True:
                if state[b, n] == TERMINAL:
                    break
                if state[b, n] != EXPANDED:
                    collided = True
                    break
                if algo == ALGO_GUMBEL:
                    if n == 0:
                        a = _gumbel_root_select(prior, legal, nsa, wsa, value, gumbel, b, considered[b],
                                                c_visit, c_scale, a_n, scratch)
                    else:
                        a = _gumbel_interior_select(prior, legal, nsa, wsa, value, b, n, c_visit, c_scale,
                                                    a_n, scratch)
                else:
                    a = _puct_select(prior, legal, nsa, wsa, value, b, n, c_init, c_base,
                                     fpu_red_root if n == 0 else fpu_red, a_n)
                if a < 0:
                    a = nn  # no legal action recorded: pass (always legal)
                # virtual loss on the edge while the leaf is in flight
                nsa[b, n, a] += vloss
                wsa[b, n, a] -= vloss
                c = child[b, n, a]
                if c < 0:
                    c = count[b]
                    count[b] += 1
                    ints[b, c, :] = ints[b, n, :]
                    bits[b, c, :] = bits[b, n, :]
                    K.play(ints[b, c], bits[b, c], nbr, zob, a)
                    parent[b, c] = n
                    parent_action[b, c] = a
                    child[b, n, a] = c
                    vsq[b, c] = 0.0
                    ssum[b, c] = 0.0
                    ssq[b, c] = 0.0
                    for k in range(a_n):
                        child[b, c, k] = -1
                        nsa[b, c, k] = 0
                        wsa[b, c, k] = 0.0
                        prior[b, c, k] = 0.0
                    created = c
                    n = c
                    break
                n = c
            if collided:
                _backup(parent, parent_action, nsa, wsa, vsq, ssum, ssq, b, n, 0.0, 0.0, vloss, 0)
                continue
            if created < 0:
                # reached a terminal node: back up its result again
                _backup(parent, parent_action, nsa, wsa, vsq, ssum, ssq, b, n, value[b, n], score[b, n], vloss, 1)
                continue
            row = ints[b, created]
            if row[4 * nn + K.S_PASSES] >= 2 and scoring == SCORING_TROMP_TAYLOR:
                state[b, created] = TERMINAL
                v, sc = terminal_result(row, nn, nbr, komi, np.zeros(nn, np.bool_))
                value[b, created] = v
                score[b, created] = sc
                _backup(parent, parent_action, nsa, wsa, vsq, ssum, ssq, b, created, v, sc, vloss, 1)
                continue
            hh = np.empty(1, np.uint64)
            ht = np.empty(1, np.int8)
            K.legal_mask(row, bits[b, created], nbr, zob, K.KO_SIMPLE, allow_suicide, hh, ht, 0, legal[b, created])
            node_features(ints, bits, parent, legal, root_prev, root_last, komi, b, created, nn,
                          planes[n_out], glob[n_out])
            out_game[n_out] = b
            out_node[n_out] = created
            n_out += 1
    return n_out


@njit(cache=True)
def expand_and_backup(ints, parent, parent_action, prior, legal, nsa, wsa, value, score, vsq, ssum, ssq, state,
                      out_game, out_node, n_out, logits, values, scores, ownership, nbr, komi, vloss, backup):
    """Store the network's answer for each listed leaf and back its value and score lead
    up the tree. A listed position ended by two passes (area scoring with dead stones
    removed) becomes terminal with the count its ownership gives instead."""
    a_n = prior.shape[2]
    nn = a_n - 1
    dead = np.empty(nn, np.bool_)
    for i in range(n_out):
        b = out_game[i]
        n = out_node[i]
        if ints[b, n, 4 * nn + K.S_PASSES] >= 2 and parent[b, n] >= 0:
            v, sc = finished_result(ints[b, n], nn, nbr, komi, ownership[i], dead)
            value[b, n] = v
            score[b, n] = sc
            state[b, n] = TERMINAL
            if backup:
                _backup(parent, parent_action, nsa, wsa, vsq, ssum, ssq, b, n, v, sc, vloss, 1)
            continue
        hi = -1e30
        for a in range(a_n):
            if legal[b, n, a] and logits[i, a] > hi:
                hi = logits[i, a]
        norm = 0.0
        for a in range(a_n):
            if legal[b, n, a]:
                e = math.exp(logits[i, a] - hi)
                prior[b, n, a] = e
                norm += e
            else:
                prior[b, n, a] = 0.0
        for a in range(a_n):
            prior[b, n, a] /= norm
        value[b, n] = values[i]
        score[b, n] = scores[i]
        state[b, n] = EXPANDED
        if backup:
            _backup(parent, parent_action, nsa, wsa, vsq, ssum, ssq, b, n, values[i], scores[i], vloss, 1)


@njit(cache=True)
def reroot(ints, bits, parent, parent_action, child, prior, legal, nsa, wsa, value, score, vsq, ssum, ssq, state,
           count, b, new_root):
    """Keep only the subtree of ``new_root`` in game ``b``'s tree, renumbered from 0."""
    m = count[b]
    keep = np.zeros(m, np.bool_)
    stack = np.empty(m, np.int32)
    top = 0
    stack[top] = new_root
    top += 1
    keep[new_root] = True
    a_n = prior.shape[2]
    while top > 0:
        top -= 1
        n = stack[top]
        for a in range(a_n):
            c = child[b, n, a]
            if c >= 0 and not keep[c]:
                keep[c] = True
                stack[top] = c
                top += 1
    mapping = np.full(m, -1, np.int32)
    k = 0
    for n in range(m):
        if keep[n]:
            mapping[n] = k
            k += 1
    for n in range(m):
        if not keep[n]:
            continue
        t = mapping[n]
        if t != n:
            ints[b, t] = ints[b, n]
            bits[b, t] = bits[b, n]
            prior[b, t] = prior[b, n]
            legal[b, t] = legal[b, n]
            nsa[b, t] = nsa[b, n]
            wsa[b, t] = wsa[b, n]
            value[b, t] = value[b, n]
            score[b, t] = score[b, n]
            vsq[b, t] = vsq[b, n]
            ssum[b, t] = ssum[b, n]
            ssq[b, t] = ssq[b, n]
            state[b, t] = state[b, n]
        p = parent[b, n]
        parent[b, t] = mapping[p] if (p >= 0 and n != new_root) else -1
        parent_action[b, t] = parent_action[b, n] if n != new_root else -1
        for a in range(a_n):
            c = child[b, n, a]
            child[b, t, a] = mapping[c] if c >= 0 else -1
    count[b] = k
