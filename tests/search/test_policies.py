"""The search loop is policy-agnostic: a policy object brings its own noise, selection and
output, and `BatchedSearch` runs it without knowing which algorithm it is."""

import numpy as np
from dead_stones_case import DeadStoneEvaluator
from numba import njit

from gozero.rules import Game, Rules
from gozero.search import tree as T
from gozero.search.mcts import BatchedSearch, SearchConfig
from gozero.search.policies import GumbelPolicy, PuctPolicy, make_policy


@njit(cache=True)
def _first_legal_root(tree, params, b, scratch):
    for a in range(tree.prior.shape[2]):
        if tree.legal[b, 0, a] and a != params[0]:
            return a
    return -1


@njit(cache=True)
def _pass_inside(tree, params, b, n, scratch):
    return tree.prior.shape[2] - 1


@njit(cache=True)
def _first_legal_descend(tree, rules, params, active, leaves_per_game, vloss, leaves):
    scratch = np.empty(tree.prior.shape[2], np.float64)
    return T.descend(tree, rules, _first_legal_root, _pass_inside, params, active, leaves_per_game, vloss, leaves,
                     scratch)


class FirstLegalPolicy:
    """A toy policy: the first legal root move other than ``skip``, then passes."""

    leaves_per_step = 1
    reuses_tree = False
    cheap_search_noise = False

    def __init__(self, skip: int):
        self.params = (skip,)
        self.begun = 0

    def begin(self, search, games, simulations, noise):
        self.begun += 1
        return simulations

    def descend(self, search, step, active):
        return _first_legal_descend(search.tree, search.rules, self.params, active, 1, search.cfg.virtual_loss,
                                    search.leaves)

    def output(self, search, temperature):
        visits = search.tree.nsa[:, 0, :].astype(np.float32)
        return visits / np.maximum(visits.sum(axis=1, keepdims=True), 1), visits.argmax(axis=1)


def test_the_loop_runs_any_policy_object():
    s = BatchedSearch(DeadStoneEvaluator(), 5, 2, SearchConfig(simulations=6), komi=0.5, seed=0)
    s.policy = FirstLegalPolicy(skip=0)
    for b in range(2):
        s.set_root_from_game(b, Game(5, Rules(komi=0.5)))
    r = s.run(simulations=6)
    assert s.policy.begun == 1
    # every simulation went down point 1, then passes: 1, pass, pass (a finished game)
    assert (r.visits[:, 1] == 6).all() and r.visits.sum() == 12 and (r.action == 1).all()
    t = s.tree
    c = t.child[0, 0, 1]
    assert t.nsa[0, c, 25] == 5 and t.state[0, t.child[0, c, 25]] == T.EXPANDED
    assert np.allclose(r.policy_target[:, 1], 1.0)


def test_each_algorithm_is_its_own_policy_object():
    for name, cls in (("puct", PuctPolicy), ("gumbel", GumbelPolicy)):
        cfg = SearchConfig(algorithm=name, leaves_per_game=4)
        p = make_policy(cfg, 3, 26)
        assert isinstance(p, cls)
        assert isinstance(BatchedSearch(DeadStoneEvaluator(), 5, 3, cfg).policy, cls)
    assert make_policy(SearchConfig(algorithm="puct", leaves_per_game=4), 1, 26).leaves_per_step == 4
    assert make_policy(SearchConfig(algorithm="gumbel", leaves_per_game=4), 1, 26).leaves_per_step == 1
    assert make_policy(SearchConfig(algorithm="puct", reuse_tree=False), 1, 26).reuses_tree is False
    assert make_policy(SearchConfig(algorithm="gumbel"), 1, 26).reuses_tree is False
