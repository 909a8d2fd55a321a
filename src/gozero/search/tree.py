"""The batched search tree as one value, and the numba kernels that grow it.

`Tree` holds the trees of B games (M nodes per game, A = NN+1 actions); every kernel takes
it whole. Values are in [-1, 1] from the side to move at the node. The search loop is one
kernel, `descend`, that takes the selection functions of a policy (`policies.py`: PUCT and
Gumbel) as arguments; each policy compiles its own entry point around it, so the loop never
asks which algorithm it runs.

A position ended by two passes is a terminal node valued by the scoring rule: under
``SCORING_TROMP_TAYLOR`` at once by the strict area count; under ``SCORING_AREA_DEAD_REMOVED``
it is first evaluated by the network like a leaf, and its result is the area count without
the stones that the network's ownership at that finished position calls dead
(`rules.kernels.dead_from_ownership` at `rules.DEAD_THRESHOLD`), the way people and referees
score a finished game.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit

from gozero.net.features import LAST_MOVES, NUM_GLOBALS, NUM_PLANES, encode
from gozero.rules import kernels as K
from gozero.rules.game import DEAD_THRESHOLD, Geometry

CREATED, EXPANDED, TERMINAL = 0, 1, 2
V2, S1, S2 = 0, 1, 2  # Tree.stats: sums of value squared, score lead, score lead squared
SCORING_TROMP_TAYLOR, SCORING_AREA_DEAD_REMOVED = 0, 1
SCORING_CODES = {"tromp_taylor": SCORING_TROMP_TAYLOR, "area_dead_removed": SCORING_AREA_DEAD_REMOVED}


class Tree(NamedTuple):
    """The search trees of B games, M nodes each, A = NN+1 actions; node 0 is the root.

    ==================  ============  =======================================================
    ``ints``, ``bits``  (B, M, I/Bt)  the rules state of each node (see rules/kernels.py)
    ``parent``          (B, M)        parent node (-1 at the root)
    ``parent_action``   (B, M)        action that led from the parent to the node
    ``child``           (B, M, A)     node reached by each action (-1: not created)
    ``prior``           (B, M, A)     network policy over the legal actions (root: with noise)
    ``legal``           (B, M, A)     legal actions (simple ko inside the tree; the root gets
                                      the game's real mask, superko included)
    ``nsa``, ``wsa``    (B, M, A)     visits and summed values of each edge, from the node's
                                      side to move (virtual loss included while in flight)
    ``value``           (B, M)        network value of the node (terminal: the result)
    ``score``           (B, M)        network score lead of the node, side to move (terminal:
                                      the exact count)
    ``stats``           (B, M, 3)     sums over the node's visits of [value squared, score lead,
                                      score lead squared], the lead from the parent's side to
                                      move (the sign of the edge's ``wsa``); a node's visit
                                      count is its edge's ``nsa`` (indices ``V2, S1, S2``)
    ``state``           (B, M)        CREATED, EXPANDED or TERMINAL
    ``count``           (B,)          nodes in use
    ``root_prev``       (B, 2, NN)    stones one and two moves before the root (features)
    ``root_last``       (B, L)        moves before the root's own last move, newest first
                                      (-1: none), L = ``LAST_MOVES``
    ==================  ============  =======================================================
    """

    ints: np.ndarray
    bits: np.ndarray
    parent: np.ndarray
    parent_action: np.ndarray
    child: np.ndarray
    prior: np.ndarray
    legal: np.ndarray
    nsa: np.ndarray
    wsa: np.ndarray
    value: np.ndarray
    score: np.ndarray
    stats: np.ndarray
    state: np.ndarray
    count: np.ndarray
    root_prev: np.ndarray
    root_last: np.ndarray


def new_tree(batch: int, max_nodes: int, geo: Geometry) -> Tree:
    """Empty trees for ``batch`` games of ``max_nodes`` nodes at the board of ``geo``."""
    B, M, A, nn = batch, max_nodes, geo.nn + 1, geo.nn
    return Tree(
        ints=np.zeros((B, M, geo.ints_len), np.int32),
        bits=np.zeros((B, M, geo.bits_len), np.uint64),
        parent=np.full((B, M), -1, np.int32),
        parent_action=np.full((B, M), -1, np.int32),
        child=np.full((B, M, A), -1, np.int32),
        prior=np.zeros((B, M, A), np.float32),
        legal=np.zeros((B, M, A), np.bool_),
        nsa=np.zeros((B, M, A), np.int32),
        wsa=np.zeros((B, M, A), np.float32),
        value=np.zeros((B, M), np.float32),
        score=np.zeros((B, M), np.float32),
        stats=np.zeros((B, M, 3), np.float64),
        state=np.zeros((B, M), np.int8),
        count=np.zeros(B, np.int32),
        root_prev=np.zeros((B, 2, nn), np.int32),
        root_last=np.full((B, LAST_MOVES), -1, np.int32),
    )


def node_bytes(geo: Geometry) -> int:
    """Memory of one more node per game in a `Tree` at this board (from `new_tree` itself)."""
    one, two = new_tree(1, 1, geo), new_tree(1, 2, geo)
    return sum(b.nbytes - a.nbytes for a, b in zip(one, two, strict=True))


class TreeRules(NamedTuple):
    """The rules the kernels play inside the tree: neighbour table (NN, 4) and Zobrist keys of
    the board, komi, suicide, and how a game ended by two passes is counted (SCORING_*)."""

    nbr: np.ndarray
    zob: np.ndarray
    komi: float
    allow_suicide: bool
    scoring: int


class Leaves(NamedTuple):
    """The leaves of one simulation step waiting for the network, up to C of them: game
    ``game`` (C,), node ``node`` (C,), features ``planes`` (C, NUM_PLANES, NN) and ``glob``
    (C, NUM_GLOBALS)."""

    game: np.ndarray
    node: np.ndarray
    planes: np.ndarray
    glob: np.ndarray


def new_leaves(capacity: int, nn: int) -> Leaves:
    return Leaves(np.zeros(capacity, np.int32), np.zeros(capacity, np.int32),
                  np.zeros((capacity, NUM_PLANES, nn), np.uint8), np.zeros((capacity, NUM_GLOBALS), np.float32))


@njit(cache=True)
def _prev_stones(tree, b, node, back, nn):
    """Stones of the position ``back`` (1 or 2) moves before ``node``."""
    n = node
    for k in range(back):
        p = tree.parent[b, n]
        if p < 0:
            # past the root: root_prev[b, j] is the position j+1 moves before the root
            return tree.root_prev[b, back - k - 1]
        n = p
    return tree.ints[b, n, :nn]


@njit(cache=True)
def _last_moves(tree, b, node, nn, out):
    n = node
    i = 0
    while i < LAST_MOVES:
        if n < 0:
            j = 0
            while i < LAST_MOVES:
                out[i] = tree.root_last[b, j]
                i += 1
                j += 1
            return
        out[i] = tree.ints[b, n, 4 * nn + K.S_LAST]
        i += 1
        n = tree.parent[b, n]


@njit(cache=True)
def node_features(tree, komi, b, node, planes, glob):
    """The network's input planes and globals of one node (history from its ancestors)."""
    nn = tree.prior.shape[2] - 1
    last = np.empty(LAST_MOVES, np.int32)
    _last_moves(tree, b, node, nn, last)
    # the root's own last move is part of ints: root_last holds the moves before it
    prev1 = _prev_stones(tree, b, node, 1, nn)
    prev2 = _prev_stones(tree, b, node, 2, nn)
    encode(tree.ints[b, node], tree.bits[b, node], prev1, prev2, last, tree.legal[b, node], komi, planes, glob)


@njit(cache=True)
def roots_features(tree, komi, games, leaves):
    """Features of the roots of ``games`` into ``leaves`` (one call for all of them)."""
    for i in range(games.shape[0]):
        node_features(tree, komi, games[i], 0, leaves.planes[i], leaves.glob[i])
        leaves.game[i] = games[i]
        leaves.node[i] = 0


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


@njit(cache=True, inline="always")
def puct_select(tree, b, n, c_init, c_base, fpu_red):
    """AlphaZero's PUCT at node ``n``, unvisited actions valued by first-play urgency
    (the node's value less ``fpu_red`` x sqrt(prior of the visited actions))."""
    prior, legal, nsa, wsa = tree.prior, tree.legal, tree.nsa, tree.wsa
    a_n = prior.shape[2]
    total = 0
    visited_prior = 0.0
    for a in range(a_n):
        if nsa[b, n, a] > 0:
            total += nsa[b, n, a]
            visited_prior += prior[b, n, a]
    c = math.log((1.0 + total + c_base) / c_base) + c_init
    fpu = tree.value[b, n] - fpu_red * math.sqrt(visited_prior)
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


@njit(cache=True, inline="always")
def completed_q(tree, b, n, out):
    """Q of visited actions, the mixed value v_mix for unvisited ones, min-max scaled to
    [0, 1] over the legal actions, into ``out`` (A,). Returns the largest visit count."""
    prior, legal, nsa, wsa = tree.prior, tree.legal, tree.nsa, tree.wsa
    a_n = prior.shape[2]
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
    v = tree.value[b, n]
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
def roots_completed_q(tree, out, max_n):
    """`completed_q` of every game's root into ``out`` (B, A), largest visit counts into
    ``max_n`` (B,); a game without a legal root action (an unused slot) gets zeros."""
    for b in range(tree.nsa.shape[0]):
        max_n[b] = completed_q(tree, b, 0, out[b])


@njit(cache=True, inline="always")
def _backup(tree, b, node, v, sc, vloss, visit):
    """Walk from ``node`` up to the root undoing the virtual loss of the descent; with
    ``visit`` = 1 also add one visit of value ``v`` and score lead ``sc`` (``node``'s side
    to move, negated at each level) to the edges and to the nodes' accumulators.
    ``visit`` = 0 only undoes the virtual loss (a discarded descent)."""
    parent, parent_action, nsa, wsa = tree.parent, tree.parent_action, tree.nsa, tree.wsa
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
            tree.stats[b, n, V2] += v * v
            tree.stats[b, n, S1] += sc
            tree.stats[b, n, S2] += sc * sc
        n = p


@njit(cache=True, inline="always")
def _create_child(tree, rules, b, n, a):
    """A new node for action ``a`` of node ``n``: the position after the move, no edges."""
    c = tree.count[b]
    tree.count[b] += 1
    tree.ints[b, c, :] = tree.ints[b, n, :]
    tree.bits[b, c, :] = tree.bits[b, n, :]
    K.play(tree.ints[b, c], tree.bits[b, c], rules.nbr, rules.zob, a)
    tree.parent[b, c] = n
    tree.parent_action[b, c] = a
    tree.child[b, n, a] = c
    tree.stats[b, c, V2] = 0.0
    tree.stats[b, c, S1] = 0.0
    tree.stats[b, c, S2] = 0.0
    tree.state[b, c] = CREATED
    for k in range(tree.prior.shape[2]):
        tree.child[b, c, k] = -1
        tree.nsa[b, c, k] = 0
        tree.wsa[b, c, k] = 0.0
        tree.prior[b, c, k] = 0.0
    return c


@njit(cache=True)
def _leaf_created(tree, rules, leaves, b, node, n_out, vloss):
    """A descent created ``node``: back it up at once if two passes ended it under
    Tromp-Taylor scoring, otherwise put its features among the waiting ``leaves``. Returns
    the new number of waiting leaves."""
    nn = tree.prior.shape[2] - 1
    row = tree.ints[b, node]
    if row[4 * nn + K.S_PASSES] >= 2 and rules.scoring == SCORING_TROMP_TAYLOR:
        tree.state[b, node] = TERMINAL
        v, sc = terminal_result(row, nn, rules.nbr, rules.komi, np.zeros(nn, np.bool_))
        tree.value[b, node] = v
        tree.score[b, node] = sc
        _backup(tree, b, node, v, sc, vloss, 1)
        return n_out
    hh = np.empty(1, np.uint64)
    ht = np.empty(1, np.int8)
    K.legal_mask(row, tree.bits[b, node], rules.nbr, rules.zob, K.KO_SIMPLE, rules.allow_suicide, hh, ht, 0,
                 tree.legal[b, node])
    node_features(tree, rules.komi, b, node, leaves.planes[n_out], leaves.glob[n_out])
    leaves.game[n_out] = b
    leaves.node[n_out] = node
    return n_out + 1


@njit(inline="always")
def descend(tree, rules, select_root, select_interior, params, active, leaves_per_game, vloss, leaves, scratch):
    """Descend each active game's tree ``leaves_per_game`` times and create the leaves;
    returns how many of them wait in ``leaves`` for one network call.

    ``select_root(tree, params, b, scratch)`` and ``select_interior(tree, params, b, n,
    scratch)`` are the policy's action choices (-1, no legal action recorded, means pass);
    ``scratch`` is (A,) float64 for them. New non-terminal leaves get their features in
    ``leaves``; positions ended by two passes are backed up at once under Tromp-Taylor
    scoring and wait for the network (whose ownership judges the dead stones) under area
    scoring with dead stones removed. With more than one leaf per game, virtual loss
    spreads the descents.

    Each policy's entry point compiles it inline (``inline="always"``), so the selection
    functions are constants of that entry and numba can cache it; arrays are allocated by
    the callees or the entry point, not here.
    """
    n_games = tree.ints.shape[0]
    m_nodes = tree.ints.shape[1]
    nn = tree.prior.shape[2] - 1
    state = tree.state
    n_out = 0
    for b in range(n_games):
        if not active[b]:
            continue
        for _rep in range(leaves_per_game):
            if tree.count[b] >= m_nodes:
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
                if n == 0:
                    a = select_root(tree, params, b, scratch)
                else:
                    a = select_interior(tree, params, b, n, scratch)
                if a < 0:
                    a = nn
                # virtual loss on the edge while the leaf is in flight
                tree.nsa[b, n, a] += vloss
                tree.wsa[b, n, a] -= vloss
                c = tree.child[b, n, a]
                if c < 0:
                    created = _create_child(tree, rules, b, n, a)
                    n = created
                    break
                n = c
            if collided:
                _backup(tree, b, n, 0.0, 0.0, vloss, 0)
            elif created < 0:
                # reached a terminal node: back up its result again
                _backup(tree, b, n, tree.value[b, n], tree.score[b, n], vloss, 1)
            else:
                n_out = _leaf_created(tree, rules, leaves, b, created, n_out, vloss)
    return n_out


@njit(cache=True)
def expand_and_backup(tree, rules, leaves, n_out, logits, values, scores, ownership, vloss, backup):
    """Store the network's answer for each waiting leaf and back its value and score lead
    up the tree (``backup`` False: store only, for roots). A waiting position ended by two
    passes (area scoring with dead stones removed) becomes terminal with the count its
    ownership gives instead."""
    prior, legal = tree.prior, tree.legal
    a_n = prior.shape[2]
    nn = a_n - 1
    dead = np.empty(nn, np.bool_)
    for i in range(n_out):
        b = leaves.game[i]
        n = leaves.node[i]
        if tree.ints[b, n, 4 * nn + K.S_PASSES] >= 2 and tree.parent[b, n] >= 0:
            v, sc = finished_result(tree.ints[b, n], nn, rules.nbr, rules.komi, ownership[i], dead)
            tree.value[b, n] = v
            tree.score[b, n] = sc
            tree.state[b, n] = TERMINAL
            if backup:
                _backup(tree, b, n, v, sc, vloss, 1)
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
        tree.value[b, n] = values[i]
        tree.score[b, n] = scores[i]
        tree.state[b, n] = EXPANDED
        if backup:
            _backup(tree, b, n, values[i], scores[i], vloss, 1)


@njit(cache=True)
def root_move_statistics(tree, lcb_stdevs, score_mean, score_stdev, lcb):
    """Per root move of every game, from the move's own subtree: the mean score lead, its
    standard deviation, and the win rate's lower confidence bound (win rate, 0..1, less
    ``lcb_stdevs`` standard errors of the mean; the standard deviation is the unbiased
    estimate from the values backed up through the move, and a move with one visit gets the
    largest possible, 0.5). Unvisited moves get 0. Outputs are (B, A)."""
    n_games = tree.nsa.shape[0]
    a_n = tree.nsa.shape[2]
    for b in range(n_games):
        for a in range(a_n):
            n = tree.nsa[b, 0, a]
            c = tree.child[b, 0, a]
            if n <= 0 or c < 0:
                score_mean[b, a] = 0.0
                score_stdev[b, a] = 0.0
                lcb[b, a] = 0.0
                continue
            mean = tree.stats[b, c, S1] / n
            var = tree.stats[b, c, S2] / n - mean * mean
            score_mean[b, a] = mean
            score_stdev[b, a] = math.sqrt(var) if var > 0 else 0.0
            q = tree.wsa[b, 0, a] / n
            if n > 1:
                var_v = (tree.stats[b, c, V2] / n - q * q) * n / (n - 1)
                if var_v < 0:
                    var_v = 0.0
            else:
                var_v = 1.0
            lcb[b, a] = (q + 1) / 2 - lcb_stdevs * 0.5 * math.sqrt(var_v / n)


@njit(cache=True)
def reroot(tree, b, new_root):
    """Keep only the subtree of ``new_root`` in game ``b``'s tree, renumbered from 0."""
    m = tree.count[b]
    child = tree.child
    keep = np.zeros(m, np.bool_)
    stack = np.empty(m, np.int32)
    top = 0
    stack[top] = new_root
    top += 1
    keep[new_root] = True
    a_n = tree.prior.shape[2]
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
            tree.ints[b, t] = tree.ints[b, n]
            tree.bits[b, t] = tree.bits[b, n]
            tree.prior[b, t] = tree.prior[b, n]
            tree.legal[b, t] = tree.legal[b, n]
            tree.nsa[b, t] = tree.nsa[b, n]
            tree.wsa[b, t] = tree.wsa[b, n]
            tree.value[b, t] = tree.value[b, n]
            tree.score[b, t] = tree.score[b, n]
            tree.stats[b, t] = tree.stats[b, n]
            tree.state[b, t] = tree.state[b, n]
        p = tree.parent[b, n]
        tree.parent[b, t] = mapping[p] if (p >= 0 and n != new_root) else -1
        tree.parent_action[b, t] = tree.parent_action[b, n] if n != new_root else -1
        for a in range(a_n):
            c = child[b, n, a]
            child[b, t, a] = mapping[c] if c >= 0 else -1
    tree.count[b] = k
