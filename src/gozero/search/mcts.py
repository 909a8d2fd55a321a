"""Batched Monte Carlo tree search over many games at once, one network call per step.

`BatchedSearch` owns the tree arrays of `tree.py` for B games. Each simulation step selects
one leaf per game (or several, spread by virtual loss), evaluates all new leaves in a single
network call and backs the values up. Two root policies:

- ``puct``: AlphaGo Zero's PUCT with Dirichlet noise at the root, first-play urgency, visit
  counts as the policy target and move choice by visit count with a temperature; the
  subtree of the chosen move is kept for the next move (tree reuse).
- ``gumbel``: Gumbel-top-k sampling and Sequential Halving at the root, completed-Q improved
  policy as the target (Danihelka et al. 2022); strong with 8 to 32 simulations.

Shapes: B games, M nodes per game, A = NN+1 actions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gozero.net.features import LAST_MOVES, NUM_GLOBALS, NUM_PLANES
from gozero.net.inference import NetEvaluator
from gozero.rules import geometry

from . import tree as T


@dataclass
class SearchConfig:
    """Search settings (defaults: AlphaZero / KataGo-like values)."""

    algorithm: str = "gumbel"  # "puct" or "gumbel"
    simulations: int = 32
    c_puct_init: float = 1.25
    c_puct_base: float = 19652.0
    fpu_reduction: float = 0.2
    fpu_reduction_root: float = 0.0
    dirichlet_alpha: float = 0.15  # about 10 / typical number of legal moves
    dirichlet_fraction: float = 0.25
    gumbel_considered: int = 16
    gumbel_c_visit: float = 50.0
    gumbel_c_scale: float = 1.0
    leaves_per_game: int = 1  # >1: virtual loss batches leaves within one game (PUCT)
    virtual_loss: int = 1
    reuse_tree: bool = True  # PUCT only: keep the chosen child's subtree

    def __post_init__(self) -> None:
        if self.algorithm not in ("puct", "gumbel"):
            raise ValueError(f"search algorithm must be 'puct' or 'gumbel', not {self.algorithm!r}")
        if self.simulations < 1:
            raise ValueError("simulations must be at least 1")


def considered_visits(m: int, n: int) -> np.ndarray:
    """Visit count a root action must have to be picked at each of ``n`` simulations,
    for Sequential Halving over ``m`` actions (each phase halves the candidates)."""
    if m <= 1:
        return np.arange(n, dtype=np.int32)
    phases = max(1, math.ceil(math.log2(m)))
    seq: list[int] = []
    visits = [0] * m
    k = m
    while len(seq) < n:
        per_action = max(1, n // (phases * k))
        for _ in range(per_action):
            seq.extend(visits[:k])
            for i in range(k):
                visits[i] += 1
        k = max(2, k // 2)
    return np.asarray(seq[:n], dtype=np.int32)


LCB_STDEVS = 5.0  # a move's win-rate LCB lies this many standard errors below its mean (KataGo's lcbStdevs)


def move_statistics(visits: np.ndarray, wsa: np.ndarray, child: np.ndarray, vsq: np.ndarray, ssum: np.ndarray,
                    ssq: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean score lead, score stdev, win-rate LCB) of each root move from its subtree.

    ``visits``, ``wsa``, ``child``: (B, A) root edges; ``vsq``, ``ssum``, ``ssq``: (B, M) node
    accumulators (`tree.py`). The LCB is the move's win rate less ``LCB_STDEVS`` standard
    errors of its mean, the standard deviation estimated from the values backed up through
    the move (unbiased; a move with one visit gets the largest possible, 0.5 in win rate).
    """
    n = visits.astype(np.float64)
    seen = (n > 0) & (child >= 0)
    idx = np.where(seen, child, 0)
    nd = np.maximum(n, 1.0)
    mean_s = np.where(seen, np.take_along_axis(ssum, idx, axis=1) / nd, 0.0)
    var_s = np.where(seen, np.take_along_axis(ssq, idx, axis=1) / nd - mean_s**2, 0.0)
    q = np.where(seen, wsa / nd, 0.0)
    var_v = np.take_along_axis(vsq, idx, axis=1) / nd - q**2
    var_v = np.where(n > 1, np.maximum(var_v, 0.0) * n / np.maximum(n - 1, 1.0), 1.0)
    lcb = np.where(seen, (q + 1) / 2 - LCB_STDEVS * 0.5 * np.sqrt(var_v / nd), 0.0)
    return (mean_s.astype(np.float32), np.sqrt(np.maximum(var_s, 0.0)).astype(np.float32),
            lcb.astype(np.float32))


@dataclass
class RootResult:
    """What a search tells about each root (arrays over the B games)."""

    visits: np.ndarray  # (B, A) root edge visits
    q: np.ndarray  # (B, A) root edge mean values (side to move), 0 where unvisited
    prior: np.ndarray  # (B, A) root prior (with noise if any)
    raw_prior: np.ndarray  # (B, A) root prior without noise
    policy_target: np.ndarray  # (B, A)
    value: np.ndarray  # (B,) network value at the root
    root_q: np.ndarray  # (B,) search value at the root (mean over visits)
    action: np.ndarray  # (B,) chosen move (temperature/Gumbel applied)
    score: np.ndarray  # (B,) network score lead at the root
    ownership: np.ndarray  # (B, NN) network ownership at the root
    move_score: np.ndarray  # (B, A) mean score lead over each root move's subtree (side to move), 0 unvisited
    move_score_stdev: np.ndarray  # (B, A) standard deviation of the score lead over that subtree
    move_lcb: np.ndarray  # (B, A) lower confidence bound of each move's win rate (0..1 scale), see LCB_STDEVS
    root_score: np.ndarray  # (B,) search score lead at the root (mean over the root's visits)


class BatchedSearch:
    """Search trees for ``batch`` games of one board size, stepped together.

    ``scoring`` values the positions that two passes end inside the tree: ``tromp_taylor``
    (every stone counts) or ``area_dead_removed`` (area without the stones the network's
    ownership at that position calls dead; one network evaluation per such position).
    """

    def __init__(self, evaluator: NetEvaluator, size: int, batch: int, config: SearchConfig, komi: float = 7.5,
                 allow_suicide: bool = False, max_nodes: int | None = None, seed: int | None = None,
                 scoring: str = "tromp_taylor"):
        self.ev = evaluator
        self.cfg = config
        self.size = size
        self.geo = geometry(size)
        self.nn = self.geo.nn
        self.A = self.nn + 1
        self.B = batch
        self.komi = float(komi)
        self.allow_suicide = allow_suicide
        if scoring not in T.SCORING_CODES:
            raise ValueError(f"unknown scoring rule {scoring!r}; choose one of {list(T.SCORING_CODES)}")
        self.scoring = scoring
        self._scoring_code = T.SCORING_CODES[scoring]
        self.M = max_nodes or (2 * config.simulations * max(1, config.leaves_per_game) + 2)
        self.rng = np.random.default_rng(seed)
        B, M, A = self.B, self.M, self.A
        self.ints = np.zeros((B, M, self.geo.ints_len), np.int32)
        self.bits = np.zeros((B, M, self.geo.bits_len), np.uint64)
        self.parent = np.full((B, M), -1, np.int32)
        self.parent_action = np.full((B, M), -1, np.int32)
        self.child = np.full((B, M, A), -1, np.int32)
        self.prior = np.zeros((B, M, A), np.float32)
        self.legal = np.zeros((B, M, A), np.bool_)
        self.nsa = np.zeros((B, M, A), np.int32)
        self.wsa = np.zeros((B, M, A), np.float32)
        self.value = np.zeros((B, M), np.float32)
        self.score = np.zeros((B, M), np.float32)
        self.vsq = np.zeros((B, M), np.float64)
        self.ssum = np.zeros((B, M), np.float64)
        self.ssq = np.zeros((B, M), np.float64)
        self.state = np.zeros((B, M), np.int8)
        self.count = np.zeros(B, np.int32)
        self.root_prev = np.zeros((B, 2, self.nn), np.int32)
        self.root_last = np.full((B, LAST_MOVES), -1, np.int32)
        self.root_raw_prior = np.zeros((B, A), np.float32)
        self.root_score = np.zeros(B, np.float32)
        self.root_own = np.zeros((B, self.nn), np.float32)
        self.root_aux_fresh = np.zeros(B, np.bool_)  # root_score/root_own belong to the current root
        self.gumbel = np.zeros((B, A), np.float32)
        cap = B * max(1, config.leaves_per_game)
        self._planes = np.zeros((cap, NUM_PLANES, self.nn), np.uint8)
        self._glob = np.zeros((cap, NUM_GLOBALS), np.float32)
        self._out_game = np.zeros(cap, np.int32)
        self._out_node = np.zeros(cap, np.int32)
        self.net_calls = 0

    # -- roots --------------------------------------------------------------------------
    def set_root(self, b: int, ints: np.ndarray, bits: np.ndarray, legal: np.ndarray, prev: np.ndarray,
                 last_moves: np.ndarray) -> None:
        """Start game ``b``'s tree at a position (``legal``: the game's real legal mask).

        ``prev``: (2, NN) stones one and two moves before; ``last_moves``: the moves before
        the root, newest first, *excluding* the root's own last move (it is in ``ints``).
        """
        self.ints[b, 0] = ints
        self.bits[b, 0] = bits
        self.parent[b, 0] = -1
        self.parent_action[b, 0] = -1
        self.child[b, 0] = -1
        self.nsa[b, 0] = 0
        self.wsa[b, 0] = 0
        self.legal[b, 0] = legal
        self.state[b, 0] = T.CREATED
        self.root_aux_fresh[b] = False
        self.count[b] = 1
        self.root_prev[b] = prev
        self.root_last[b, :] = -1
        k = min(LAST_MOVES, len(last_moves))
        self.root_last[b, :k] = last_moves[:k]

    def advance(self, b: int, action: int, legal_after: np.ndarray, prev: np.ndarray,
                last_moves: np.ndarray) -> bool:
        """Move game ``b``'s root to the child of ``action`` (tree reuse). Returns False when
        there is nothing to reuse; the caller then calls `set_root`."""
        if not (self.cfg.reuse_tree and self.cfg.algorithm == "puct"):
            return False
        c = self.child[b, 0, action]
        if c < 0 or self.state[b, c] != T.EXPANDED:
            return False
        room = self.M - self.cfg.simulations * max(1, self.cfg.leaves_per_game) - 1
        if self.nsa[b, 0, action] + 1 > room:
            return False
        T.reroot(self.ints, self.bits, self.parent, self.parent_action, self.child, self.prior, self.legal,
                 self.nsa, self.wsa, self.value, self.score, self.vsq, self.ssum, self.ssq, self.state, self.count,
                 b, int(c))
        # the tree used simple ko; the root gets the game's real legal moves
        self.legal[b, 0] = legal_after
        pr = self.prior[b, 0] * legal_after
        total = pr.sum()
        self.prior[b, 0] = pr / total if total > 0 else legal_after / legal_after.sum()
        self.root_raw_prior[b] = self.prior[b, 0]
        self.root_aux_fresh[b] = False  # the score and ownership heads are asked again
        self.root_prev[b] = prev
        self.root_last[b, :] = -1
        k = min(LAST_MOVES, len(last_moves))
        self.root_last[b, :k] = last_moves[:k]
        return True

    def _expand_roots(self, games: np.ndarray) -> None:
        """Evaluate new roots (priors, value) and reused ones (score and ownership only)."""
        todo = [int(b) for b in games if self.state[b, 0] != T.EXPANDED or not self.root_aux_fresh[b]]
        if not todo:
            return
        for i, b in enumerate(todo):
            T.node_features(self.ints, self.bits, self.parent, self.legal, self.root_prev, self.root_last,
                            self.komi, b, 0, self.nn, self._planes[i], self._glob[i])
        n = len(todo)
        out = self.ev.evaluate(self._planes[:n], self._glob[:n], self.size)
        self.net_calls += 1
        new = [i for i, b in enumerate(todo) if self.state[b, 0] != T.EXPANDED]
        if new:
            k = len(new)
            self._out_game[:k] = [todo[i] for i in new]
            self._out_node[:k] = 0
            T.expand_and_backup(self.ints, self.parent, self.parent_action, self.prior, self.legal, self.nsa,
                                self.wsa, self.value, self.score, self.vsq, self.ssum, self.ssq, self.state,
                                self._out_game, self._out_node, k, out.policy[new], out.value[new], out.score[new],
                                out.ownership[new], self.geo.nbr, self.komi, self.cfg.virtual_loss, False)
        for i, b in enumerate(todo):
            if i in new:
                self.root_raw_prior[b] = self.prior[b, 0]
            self.root_score[b] = out.score[i]
            self.root_own[b] = out.ownership[i]
            self.root_aux_fresh[b] = True

    # -- search -------------------------------------------------------------------------
    def run(self, games: np.ndarray | None = None, simulations: int | None = None, noise: np.ndarray | None = None,
            temperature: np.ndarray | float = 0.0, stop=None) -> RootResult:
        """Search the listed games (default: all) and return what their roots learned.

        ``noise``: per game, whether to add exploration (Dirichlet for PUCT, Gumbel noise for
        Gumbel; without it Gumbel picks deterministically). ``temperature``: PUCT move choice.
        ``stop``: an optional callable; when it returns True the search ends early.
        """
        cfg = self.cfg
        games = np.arange(self.B) if games is None else np.asarray(games)
        sims = cfg.simulations if simulations is None else simulations
        noise = np.zeros(self.B, np.bool_) if noise is None else np.asarray(noise, np.bool_)
        active = np.zeros(self.B, np.bool_)
        active[games] = True
        self._expand_roots(games)
        algo = T.ALGO_GUMBEL if cfg.algorithm == "gumbel" else T.ALGO_PUCT
        considered_table = None
        if algo == T.ALGO_PUCT:
            for b in games:
                if noise[b]:
                    lg = self.legal[b, 0]
                    k = int(lg.sum())
                    if k > 1:
                        d = self.rng.dirichlet([cfg.dirichlet_alpha] * k)
                        pr = self.root_raw_prior[b].copy()
                        pr[lg] = (1 - cfg.dirichlet_fraction) * pr[lg] + cfg.dirichlet_fraction * d
                        self.prior[b, 0] = pr
        else:
            self.gumbel[:] = 0
            considered_table = np.zeros((self.B, max(sims, 1)), np.int32)
            for b in games:
                if noise[b]:
                    self.gumbel[b] = self.rng.gumbel(size=self.A).astype(np.float32)
                m = min(cfg.gumbel_considered, int(self.legal[b, 0].sum()))
                considered_table[b] = considered_visits(m, max(sims, 1))
        considered = np.zeros(self.B, np.int32)
        per_step = 1 if algo == T.ALGO_GUMBEL else max(1, cfg.leaves_per_game)
        steps = sims if algo == T.ALGO_GUMBEL else math.ceil(sims / per_step)
        for step in range(steps):
            if stop is not None and stop():
                break
            if considered_table is not None:
                considered[:] = considered_table[:, step]
            n = T.select_leaves(self.ints, self.bits, self.parent, self.parent_action, self.child, self.prior,
                                self.legal, self.nsa, self.wsa, self.value, self.score, self.vsq, self.ssum, self.ssq,
                                self.state, self.count, self.root_prev,
                                self.root_last, self.gumbel, considered, active, self.geo.nbr, self.geo.zob,
                                self.allow_suicide, self.komi, self._scoring_code, algo, cfg.c_puct_init,
                                cfg.c_puct_base,
                                cfg.fpu_reduction, cfg.fpu_reduction_root, cfg.gumbel_c_visit, cfg.gumbel_c_scale,
                                per_step, cfg.virtual_loss, self._out_game, self._out_node, self._planes,
                                self._glob)
            if n == 0:
                continue
            out = self.ev.evaluate(self._planes[:n], self._glob[:n], self.size)
            self.net_calls += 1
            T.expand_and_backup(self.ints, self.parent, self.parent_action, self.prior, self.legal, self.nsa,
                                self.wsa, self.value, self.score, self.vsq, self.ssum, self.ssq, self.state,
                                self._out_game, self._out_node, n, out.policy, out.value, out.score, out.ownership,
                                self.geo.nbr, self.komi, cfg.virtual_loss, True)
        return self.root_result(temperature)

    def root_result(self, temperature: np.ndarray | float = 0.0) -> RootResult:
        cfg = self.cfg
        visits = self.nsa[:, 0, :].astype(np.float32)
        with np.errstate(divide="ignore", invalid="ignore"):
            q = np.where(visits > 0, self.wsa[:, 0, :] / np.maximum(visits, 1), 0.0).astype(np.float32)
        legal = self.legal[:, 0, :]
        total = visits.sum(axis=1)
        root_q = np.where(total > 0, (self.wsa[:, 0, :].sum(axis=1) + self.value[:, 0]) / (total + 1),
                          self.value[:, 0]).astype(np.float32)
        temps = np.broadcast_to(np.asarray(temperature, np.float32), (self.B,))
        action = np.full(self.B, self.nn, np.int64)
        target = np.zeros((self.B, self.A), np.float32)
        if cfg.algorithm == "puct":
            for b in range(self.B):
                v = visits[b]
                if v.sum() <= 0:
                    pr = self.prior[b, 0] * legal[b]
                    target[b] = pr / max(pr.sum(), 1e-9)
                    action[b] = int(np.argmax(target[b]))
                    continue
                target[b] = v / v.sum()
                t = float(temps[b])
                if t > 0:
                    p = v ** (1.0 / t)
                    p /= p.sum()
                    action[b] = int(self.rng.choice(self.A, p=p))
                else:
                    best = np.flatnonzero(v == v.max())
                    action[b] = int(best[np.argmax(q[b, best])]) if len(best) > 1 else int(best[0])
        else:
            scratch = np.zeros(self.A, np.float64)
            for b in range(self.B):
                max_n = T.completed_q(self.prior, self.legal, self.nsa, self.wsa, self.value, b, 0, self.A, scratch)
                sig = (cfg.gumbel_c_visit + max_n) * cfg.gumbel_c_scale
                lg = legal[b]
                if not lg.any():
                    continue  # not searched (inactive slot)
                logits = np.where(lg, np.log(self.root_raw_prior[b] + 1e-12) + sig * scratch, -np.inf)
                z = np.exp(logits - logits.max())
                target[b] = (z / z.sum()).astype(np.float32)
                v = visits[b]
                if v.sum() <= 0:
                    action[b] = int(np.argmax(np.where(lg, self.gumbel[b] + logits, -np.inf)))
                    continue
                cand = (v == v.max()) & lg
                score = np.where(cand, self.gumbel[b] + np.log(self.root_raw_prior[b] + 1e-12) + sig * scratch,
                                 -np.inf)
                action[b] = int(np.argmax(score))
        child = self.child[:, 0, :]
        move_score, move_stdev, move_lcb = move_statistics(visits, self.wsa[:, 0, :], child, self.vsq, self.ssum,
                                                           self.ssq)
        own_score = np.where(self.state[:, 0] == T.EXPANDED, self.score[:, 0], self.root_score)
        root_score = ((own_score + (move_score * visits).sum(axis=1)) / (total + 1)).astype(np.float32)
        return RootResult(visits=visits, q=q, prior=self.prior[:, 0, :].copy(), raw_prior=self.root_raw_prior.copy(),
                          policy_target=target, value=self.value[:, 0].copy(), root_q=root_q, action=action,
                          score=self.root_score.copy(), ownership=self.root_own.copy(), move_score=move_score,
                          move_score_stdev=move_stdev, move_lcb=move_lcb, root_score=root_score)

    def principal_variation(self, b: int, first: int, length: int = 10) -> list[int]:
        """Most visited line after ``first`` at the root of game ``b``."""
        pv = [first]
        n = int(self.child[b, 0, first])
        while n >= 0 and len(pv) < length and self.state[b, n] == T.EXPANDED:
            v = self.nsa[b, n]
            if v.max() <= 0:
                break
            a = int(np.argmax(v))
            pv.append(a)
            n = int(self.child[b, n, a])
        return pv


def node_bytes(size: int) -> int:
    """Memory of one tree node at this board size: the (A,) edge arrays (child, prior,
    legal, nsa, wsa) and the per-node ones (rules state, parent, action, value, score,
    accumulators, state), as `BatchedSearch` allocates them."""
    geo = geometry(size)
    per_edge = 4 + 4 + 1 + 4 + 4
    per_node = geo.ints_len * 4 + geo.bits_len * 8 + 4 + 4 + 4 + 4 + 8 + 8 + 8 + 1
    return (geo.nn + 1) * per_edge + per_node


def root_inputs(game) -> tuple[np.ndarray, np.ndarray]:
    """(prev stones (2, NN), last moves before the root's own last move) of a `Game`."""
    nn = game.position.geo.nn
    hist = game.stones_history(3)
    prev = np.zeros((2, nn), np.int32)
    for i in (1, 2):
        if len(hist) > i:
            prev[i - 1] = hist[i]
    moves = [mv for _, mv in game.moves]
    before = list(reversed(moves[:-1]))[:LAST_MOVES] if moves else []
    return prev, np.asarray(before, np.int32)


__all__ = ["LCB_STDEVS", "BatchedSearch", "RootResult", "SearchConfig", "considered_visits", "move_statistics",
           "node_bytes", "root_inputs"]
