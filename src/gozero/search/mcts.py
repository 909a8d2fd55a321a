"""Batched Monte Carlo tree search over many games at once, one network call per step.

`BatchedSearch` owns one `tree.Tree` for B games and a root policy (`policies.py`: PUCT or
Gumbel, chosen by ``SearchConfig.algorithm``). Each simulation step lets the policy select
one leaf per game (or several, spread by virtual loss), evaluates all new leaves in a single
network call and backs their values and score leads up. A root is set from a `Game` in one
place, `set_root_from_game`, which also keeps the subtree of the moves played since the last
search when the policy reuses trees.

Shapes: B games, M nodes per game, A = NN+1 actions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from gozero.net.features import LAST_MOVES
from gozero.net.inference import NetEvaluator
from gozero.rules import Game, geometry

from . import tree as T
from .policies import POLICIES, SearchPolicy, considered_visits, make_policy


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
        if self.algorithm not in POLICIES:
            names = " or ".join(repr(k) for k in POLICIES)
            raise ValueError(f"search algorithm must be {names}, not {self.algorithm!r}")
        if self.simulations < 1:
            raise ValueError("simulations must be at least 1")


LCB_STDEVS = 5.0  # a move's win-rate LCB lies this many standard errors below its mean (KataGo's lcbStdevs)


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
    # (tree.root_move_statistics)
    root_score: np.ndarray  # (B,) search score lead at the root (mean over the root's visits)


class BatchedSearch:
    """Search trees for ``batch`` games of one board size, stepped together.

    ``scoring`` values the positions that two passes end inside the tree: ``tromp_taylor``
    (every stone counts) or ``area_dead_removed`` (area without the stones the network's
    ownership at that position calls dead; one network evaluation per such position).
    The tree is ``self.tree`` (`tree.Tree`), the policy ``self.policy``.
    """

    def __init__(self, evaluator: NetEvaluator, size: int, batch: int, config: SearchConfig, komi: float = 7.5,
                 allow_suicide: bool = False, max_nodes: int | None = None, seed: int | None = None,
                 scoring: str = "tromp_taylor"):
        if scoring not in T.SCORING_CODES:
            raise ValueError(f"unknown scoring rule {scoring!r}; choose one of {list(T.SCORING_CODES)}")
        self.ev = evaluator
        self.cfg = config
        self.size = size
        self.geo = geometry(size)
        self.nn = self.geo.nn
        self.A = self.nn + 1
        self.B = batch
        self.komi = float(komi)
        self.allow_suicide = allow_suicide
        self.scoring = scoring
        self.rules = T.TreeRules(self.geo.nbr, self.geo.zob, self.komi, bool(allow_suicide), T.SCORING_CODES[scoring])
        self.policy: SearchPolicy = make_policy(config, batch, self.A)
        self.M = max_nodes or (2 * config.simulations * self.policy.leaves_per_step + 2)
        self.rng = np.random.default_rng(seed)
        self.tree = T.new_tree(batch, self.M, self.geo)
        self.leaves = T.new_leaves(batch * self.policy.leaves_per_step, self.nn)
        self.root_raw_prior = np.zeros((batch, self.A), np.float32)
        self.root_score = np.zeros(batch, np.float32)
        self.root_own = np.zeros((batch, self.nn), np.float32)
        self.root_aux_fresh = np.zeros(batch, np.bool_)  # root_score/root_own belong to the current root
        self.net_calls = 0

    # -- roots --------------------------------------------------------------------------
    def set_root_from_game(self, b: int, game: Game, played: Sequence[int] = ()) -> bool:
        """Put game ``b``'s root at ``game``'s position: the one way a front end or self-play
        sets a root. ``played``: the moves played since the tree's current root; when the
        policy reuses trees and the tree holds them, their subtree is kept (returns True),
        otherwise the tree starts afresh (returns False)."""
        prev, last = root_inputs(game)
        legal = game.legal_mask()
        pos = game.position
        if played and self.policy.reuses_tree and self.tree.state[b, 0] == T.EXPANDED:
            if all(self._walk(b, int(mv)) for mv in played) and np.array_equal(self.tree.ints[b, 0], pos.ints):
                self._refresh_root(b, legal, prev, last)
                return True
        self.set_root(b, pos.ints, pos.bits, legal, prev, last)
        return False

    def set_root(self, b: int, ints: np.ndarray, bits: np.ndarray, legal: np.ndarray, prev: np.ndarray,
                 last_moves: np.ndarray) -> None:
        """Start game ``b``'s tree at a position (``legal``: the game's real legal mask).

        ``prev``: (2, NN) stones one and two moves before; ``last_moves``: the moves before
        the root, newest first, *excluding* the root's own last move (it is in ``ints``).
        """
        t = self.tree
        t.ints[b, 0] = ints
        t.bits[b, 0] = bits
        t.parent[b, 0] = -1
        t.parent_action[b, 0] = -1
        t.child[b, 0] = -1
        t.nsa[b, 0] = 0
        t.wsa[b, 0] = 0
        t.legal[b, 0] = legal
        t.state[b, 0] = T.CREATED
        t.count[b] = 1
        self.root_aux_fresh[b] = False
        self._set_history(b, prev, last_moves)

    def _walk(self, b: int, action: int) -> bool:
        """Re-root game ``b``'s tree at the expanded child of ``action`` if there is room to
        search on from it."""
        t = self.tree
        c = t.child[b, 0, action]
        if c < 0 or t.state[b, c] != T.EXPANDED:
            return False
        room = self.M - self.cfg.simulations * self.policy.leaves_per_step - 1
        if t.nsa[b, 0, action] + 1 > room:
            return False
        T.reroot(t, b, int(c))
        return True

    def _refresh_root(self, b: int, legal: np.ndarray, prev: np.ndarray, last_moves: np.ndarray) -> None:
        """A reused root gets the game's real legal moves (the tree used simple ko), its
        prior renormalised over them, and the history of the game. An edge that the game
        forbids (positional superko) loses its visits and its subtree, so that neither the
        move chosen nor the visit-count target can name it."""
        t = self.tree
        gone = ~legal.astype(np.bool_)
        t.nsa[b, 0, gone] = 0
        t.wsa[b, 0, gone] = 0
        t.child[b, 0, gone] = -1
        t.legal[b, 0] = legal
        pr = t.prior[b, 0] * legal
        total = pr.sum()
        t.prior[b, 0] = pr / total if total > 0 else legal / legal.sum()
        self.root_raw_prior[b] = t.prior[b, 0]
        self.root_aux_fresh[b] = False  # the score and ownership heads are asked again
        self._set_history(b, prev, last_moves)

    def _set_history(self, b: int, prev: np.ndarray, last_moves: np.ndarray) -> None:
        t = self.tree
        t.root_prev[b] = prev
        t.root_last[b, :] = -1
        k = min(LAST_MOVES, len(last_moves))
        t.root_last[b, :k] = last_moves[:k]

    def _expand_roots(self, games: np.ndarray) -> None:
        """Evaluate new roots (priors, value) and reused ones (score and ownership only)."""
        t, lv = self.tree, self.leaves
        todo = [int(b) for b in games if t.state[b, 0] != T.EXPANDED or not self.root_aux_fresh[b]]
        if not todo:
            return
        n = len(todo)
        T.roots_features(t, self.komi, np.asarray(todo, np.int32), lv)
        out = self.ev.evaluate(lv.planes[:n], lv.glob[:n], self.size)
        self.net_calls += 1
        new = np.asarray([i for i, b in enumerate(todo) if t.state[b, 0] != T.EXPANDED], np.int64)
        if len(new):
            k = len(new)
            lv.game[:k] = lv.game[new]
            lv.node[:k] = 0
            T.expand_and_backup(t, self.rules, lv, k, out.policy[new], out.value[new], out.score[new],
                                out.ownership[new], self.cfg.virtual_loss, False)
            fresh = np.asarray(todo)[new]
            self.root_raw_prior[fresh] = t.prior[fresh, 0]
        self.root_score[todo] = out.score
        self.root_own[todo] = out.ownership
        self.root_aux_fresh[todo] = True

    # -- search -------------------------------------------------------------------------
    def run(self, games: np.ndarray | None = None, simulations: int | None = None, noise: np.ndarray | None = None,
            temperature: np.ndarray | float = 0.0, stop: Callable[[], bool] | None = None) -> RootResult:
        """Search the listed games (default: all) and return what their roots learned.

        ``noise``: per game, whether to add the policy's exploration at the root (Dirichlet
        for PUCT, Gumbel noise for Gumbel; without it Gumbel picks deterministically).
        ``temperature``: PUCT move choice. ``stop``: an optional callable; when it returns
        True the search ends early.
        """
        games = np.arange(self.B) if games is None else np.asarray(games)
        sims = self.cfg.simulations if simulations is None else simulations
        noise = np.zeros(self.B, np.bool_) if noise is None else np.asarray(noise, np.bool_)
        active = np.zeros(self.B, np.bool_)
        active[games] = True
        self._expand_roots(games)
        policy, t, lv = self.policy, self.tree, self.leaves
        steps = policy.begin(self, games, sims, noise)
        for step in range(steps):
            if stop is not None and stop():
                break
            n = policy.descend(self, step, active)
            if n == 0:
                continue
            out = self.ev.evaluate(lv.planes[:n], lv.glob[:n], self.size)
            self.net_calls += 1
            T.expand_and_backup(t, self.rules, lv, n, out.policy, out.value, out.score, out.ownership,
                                self.cfg.virtual_loss, True)
        return self.root_result(temperature)

    def root_result(self, temperature: np.ndarray | float = 0.0) -> RootResult:
        """What every game's root learned; ``temperature`` (per game or one) for PUCT's move."""
        t = self.tree
        visits = t.nsa[:, 0, :].astype(np.float32)
        wsa = t.wsa[:, 0, :]
        with np.errstate(divide="ignore", invalid="ignore"):
            q = np.where(visits > 0, wsa / np.maximum(visits, 1), 0.0).astype(np.float32)
        total = visits.sum(axis=1)
        root_q = np.where(total > 0, (wsa.sum(axis=1) + t.value[:, 0]) / (total + 1), t.value[:, 0]).astype(np.float32)
        temps = np.broadcast_to(np.asarray(temperature, np.float32), (self.B,))
        target, action = self.policy.output(self, temps)
        move_score = np.empty((self.B, self.A), np.float32)
        move_stdev = np.empty((self.B, self.A), np.float32)
        move_lcb = np.empty((self.B, self.A), np.float32)
        T.root_move_statistics(t, LCB_STDEVS, move_score, move_stdev, move_lcb)
        own_score = np.where(t.state[:, 0] == T.EXPANDED, t.score[:, 0], self.root_score)
        root_score = ((own_score + (move_score * visits).sum(axis=1)) / (total + 1)).astype(np.float32)
        return RootResult(visits=visits, q=q, prior=t.prior[:, 0, :].copy(), raw_prior=self.root_raw_prior.copy(),
                          policy_target=target, value=t.value[:, 0].copy(), root_q=root_q, action=action,
                          score=self.root_score.copy(), ownership=self.root_own.copy(), move_score=move_score,
                          move_score_stdev=move_stdev, move_lcb=move_lcb, root_score=root_score)

    def principal_variation(self, b: int, first: int, length: int = 10) -> list[int]:
        """Most visited line after ``first`` at the root of game ``b``."""
        pv = [first]
        t = self.tree
        n = int(t.child[b, 0, first])
        while n >= 0 and len(pv) < length and t.state[b, n] == T.EXPANDED:
            v = t.nsa[b, n]
            if v.max() <= 0:
                break
            a = int(np.argmax(v))
            pv.append(a)
            n = int(t.child[b, n, a])
        return pv


def node_bytes(size: int) -> int:
    """Memory of one tree node at this board size, as `tree.new_tree` allocates it."""
    return T.node_bytes(geometry(size))


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


__all__ = ["LCB_STDEVS", "BatchedSearch", "RootResult", "SearchConfig", "considered_visits", "node_bytes",
           "root_inputs"]
