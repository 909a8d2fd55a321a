"""Root policies of the search: PUCT and Gumbel, two objects over one search loop.

As in mctx's ``policies.py``, a policy owns everything that differs between algorithms:
its root noise (`begin`), its selection functions and parameters (`descend`: a numba entry
point that runs the shared `tree.descend` loop with this policy's root and interior action
choice), and how the searched tree becomes a training target and a move (`output`).
`BatchedSearch.run` only calls these; it never asks which algorithm it runs.

- `PuctPolicy`: AlphaGo Zero's PUCT with Dirichlet noise at the root, first-play urgency,
  virtual loss for several leaves per game and network call, visit counts as the target,
  the move by visit count with a temperature; the chosen subtree is kept for the next move.
- `GumbelPolicy`: Gumbel-top-k sampling and Sequential Halving at the root, deterministic
  completed-Q selection inside, the completed-Q improved policy as the target (Danihelka
  et al. 2022, "Policy improvement by planning with Gumbel"); strong with 8 to 32 simulations.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, NamedTuple, Protocol

import numpy as np
from numba import njit

from . import tree as T

if TYPE_CHECKING:
    from .mcts import BatchedSearch, SearchConfig


class SearchPolicy(Protocol):
    """The algorithm-specific half of a search (see the module docstring)."""

    leaves_per_step: int  # leaves each game sends per network call
    reuses_tree: bool  # whether the chosen move's subtree is worth keeping for the next search
    cheap_search_noise: bool  # whether a search that makes no training target still gets root noise

    def begin(self, search: BatchedSearch, games: np.ndarray, simulations: int, noise: np.ndarray) -> int:
        """Prepare the roots of ``games`` (root noise where ``noise``); returns the steps."""
        ...

    def descend(self, search: BatchedSearch, step: int, active: np.ndarray) -> int:
        """One simulation step's descents; returns the leaves waiting in ``search.leaves``."""
        ...

    def output(self, search: BatchedSearch, temperature: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(policy target (B, A), chosen action (B,)) of every game's root."""
        ...


# -- PUCT ---------------------------------------------------------------------------------
class PuctParams(NamedTuple):
    c_init: float
    c_base: float
    fpu_reduction: float
    fpu_reduction_root: float


@njit(cache=True, inline="always")
def _puct_root(tree, p, b, scratch):
    return T.puct_select(tree, b, 0, p.c_init, p.c_base, p.fpu_reduction_root)


@njit(cache=True, inline="always")
def _puct_interior(tree, p, b, n, scratch):
    return T.puct_select(tree, b, n, p.c_init, p.c_base, p.fpu_reduction)


@njit(cache=True)
def puct_descend(tree, rules, params, active, leaves_per_game, vloss, leaves):
    """`tree.descend` with PUCT at the root and inside."""
    scratch = np.empty(tree.prior.shape[2], np.float64)
    return T.descend(tree, rules, _puct_root, _puct_interior, params, active, leaves_per_game, vloss, leaves,
                     scratch)


class PuctPolicy:
    """AlphaGo Zero's PUCT (see the module docstring)."""

    cheap_search_noise = False  # Dirichlet noise serves the policy targets only

    def __init__(self, config: SearchConfig, batch: int, actions: int):
        self.cfg = config
        self.leaves_per_step = max(1, config.leaves_per_game)
        self.reuses_tree = config.reuse_tree
        self.params = PuctParams(config.c_puct_init, config.c_puct_base, config.fpu_reduction,
                                 config.fpu_reduction_root)

    def begin(self, search: BatchedSearch, games: np.ndarray, simulations: int, noise: np.ndarray) -> int:
        tree, cfg = search.tree, self.cfg
        for b in games:
            if noise[b]:
                lg = tree.legal[b, 0]
                k = int(lg.sum())
                if k > 1:
                    d = search.rng.dirichlet([cfg.dirichlet_alpha] * k)
                    pr = search.root_raw_prior[b].copy()
                    pr[lg] = (1 - cfg.dirichlet_fraction) * pr[lg] + cfg.dirichlet_fraction * d
                    tree.prior[b, 0] = pr
        return math.ceil(simulations / self.leaves_per_step)

    def descend(self, search: BatchedSearch, step: int, active: np.ndarray) -> int:
        return puct_descend(search.tree, search.rules, self.params, active, self.leaves_per_step,
                            search.cfg.virtual_loss, search.leaves)

    def output(self, search: BatchedSearch, temperature: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        tree = search.tree
        B, A = tree.nsa.shape[0], tree.nsa.shape[2]
        visits = tree.nsa[:, 0, :].astype(np.float64)  # the root holds only legal edges (_refresh_root)
        action = np.full(B, A - 1, np.int64)
        target = np.zeros((B, A), np.float32)
        for b in range(B):
            v = visits[b]
            if v.sum() <= 0:
                pr = tree.prior[b, 0] * tree.legal[b, 0]
                target[b] = pr / max(pr.sum(), 1e-9)
                action[b] = int(np.argmax(target[b]))
                continue
            target[b] = v / v.sum()
            t = float(temperature[b])
            if t > 0:
                p = v ** (1.0 / t)
                p /= p.sum()
                action[b] = int(search.rng.choice(A, p=p))
            else:
                best = np.flatnonzero(v == v.max())
                if len(best) > 1:  # ties by visits: the better mean value
                    q = tree.wsa[b, 0, best] / v[best]
                    action[b] = int(best[np.argmax(q)])
                else:
                    action[b] = int(best[0])
        return target, action


# -- Gumbel -------------------------------------------------------------------------------
class GumbelParams(NamedTuple):
    gumbel: np.ndarray  # (B, A) root Gumbel noise (zeros: a deterministic search)
    considered: np.ndarray  # (B,) visit count a root action must have to be chosen at this step
    c_visit: float
    c_scale: float


@njit(cache=True, inline="always")
def _gumbel_root(tree, p, b, scratch):
    """Sequential Halving: among the root actions with exactly ``considered`` visits, the
    best by Gumbel + logit + sigma(completed Q)."""
    legal, nsa, prior = tree.legal, tree.nsa, tree.prior
    a_n = prior.shape[2]
    max_n = T.completed_q(tree, b, 0, scratch)
    sig = (p.c_visit + max_n) * p.c_scale
    considered = p.considered[b]
    best = -1
    best_score = -1e30
    for a in range(a_n):
        if legal[b, 0, a] and nsa[b, 0, a] == considered:
            s = p.gumbel[b, a] + math.log(prior[b, 0, a] + 1e-12) + sig * scratch[a]
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


@njit(cache=True, inline="always")
def _gumbel_interior(tree, p, b, n, scratch):
    """Deterministic selection: the action whose share of visits lags most behind the
    improved policy softmax(logit + sigma(completed Q))."""
    legal, nsa, prior = tree.legal, tree.nsa, tree.prior
    a_n = prior.shape[2]
    max_n = T.completed_q(tree, b, n, scratch)
    total = 0
    for a in range(a_n):
        total += nsa[b, n, a]
    sig = (p.c_visit + max_n) * p.c_scale
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
def gumbel_descend(tree, rules, params, active, leaves_per_game, vloss, leaves):
    """`tree.descend` with Sequential Halving at the root and completed-Q selection inside."""
    scratch = np.empty(tree.prior.shape[2], np.float64)
    return T.descend(tree, rules, _gumbel_root, _gumbel_interior, params, active, leaves_per_game, vloss, leaves,
                     scratch)


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


class GumbelPolicy:
    """Gumbel AlphaZero's root search (see the module docstring). One leaf per game and
    step: Sequential Halving plans each simulation."""

    leaves_per_step = 1
    reuses_tree = False  # Sequential Halving plans from a fresh root
    cheap_search_noise = True  # the Gumbel noise is how the move is sampled

    def __init__(self, config: SearchConfig, batch: int, actions: int):
        self.cfg = config
        self.params = GumbelParams(np.zeros((batch, actions), np.float32), np.zeros(batch, np.int32),
                                   config.gumbel_c_visit, config.gumbel_c_scale)
        self._schedule = np.zeros((batch, 1), np.int32)

    def begin(self, search: BatchedSearch, games: np.ndarray, simulations: int, noise: np.ndarray) -> int:
        tree, gumbel = search.tree, self.params.gumbel
        sims = max(simulations, 1)
        gumbel[:] = 0
        self._schedule = np.zeros((gumbel.shape[0], sims), np.int32)
        for b in games:
            if noise[b]:
                gumbel[b] = search.rng.gumbel(size=gumbel.shape[1]).astype(np.float32)
            m = min(self.cfg.gumbel_considered, int(tree.legal[b, 0].sum()))
            self._schedule[b] = considered_visits(m, sims)
        return simulations

    def descend(self, search: BatchedSearch, step: int, active: np.ndarray) -> int:
        self.params.considered[:] = self._schedule[:, step]
        return gumbel_descend(search.tree, search.rules, self.params, active, 1, search.cfg.virtual_loss,
                              search.leaves)

    def output(self, search: BatchedSearch, temperature: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        tree, cfg, gumbel = search.tree, self.cfg, self.params.gumbel
        B, A = tree.nsa.shape[0], tree.nsa.shape[2]
        action = np.full(B, A - 1, np.int64)
        target = np.zeros((B, A), np.float32)
        cq = np.zeros((B, A), np.float64)
        max_n = np.zeros(B, np.int64)
        T.roots_completed_q(tree, cq, max_n)
        for b in range(B):
            lg = tree.legal[b, 0]
            if not lg.any():
                continue  # not searched (inactive slot)
            sig = (cfg.gumbel_c_visit + max_n[b]) * cfg.gumbel_c_scale
            logits = np.where(lg, np.log(search.root_raw_prior[b] + 1e-12) + sig * cq[b], -np.inf)
            z = np.exp(logits - logits.max())
            target[b] = (z / z.sum()).astype(np.float32)
            v = tree.nsa[b, 0]
            if v.sum() <= 0:
                action[b] = int(np.argmax(np.where(lg, gumbel[b] + logits, -np.inf)))
                continue
            cand = (v == v.max()) & lg
            action[b] = int(np.argmax(np.where(cand, gumbel[b] + logits, -np.inf)))
        return target, action


POLICIES = {"puct": PuctPolicy, "gumbel": GumbelPolicy}


def make_policy(config: SearchConfig, batch: int, actions: int) -> SearchPolicy:
    """The policy object that ``config.algorithm`` names, for ``batch`` games of ``actions``."""
    return POLICIES[config.algorithm](config, batch, actions)


__all__ = ["POLICIES", "GumbelParams", "GumbelPolicy", "PuctParams", "PuctPolicy", "SearchPolicy",
           "considered_visits", "make_policy"]
