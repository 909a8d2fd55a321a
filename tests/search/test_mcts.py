"""Search tests: known answers with a material-counting evaluator, the paper's formulas on
toy trees, tree reuse keeping a consistent state, and the batched search's bookkeeping."""

import numpy as np
import pytest
from dead_stones_case import OWN_BLACK, DeadStoneEvaluator, dead_stone_position

from gozero.net.features import NUM_PLANES
from gozero.net.inference import NetOutput
from gozero.rules import BLACK, Game, Rules, from_gtp
from gozero.search import tree as T
from gozero.search.mcts import BatchedSearch, SearchConfig, considered_visits


class MaterialEvaluator:
    """Uniform policy; value = (own - opponent stones) / 10 clipped, from the side to move."""

    def __init__(self):
        self.evaluations = 0
        self.calls = 0

    def evaluate(self, planes, globals_, size=None):
        b, c, nn = planes.shape
        assert c == NUM_PLANES
        own = planes[:, 0].sum(axis=1).astype(np.float32)
        opp = planes[:, 1].sum(axis=1).astype(np.float32)
        value = np.clip((own - opp) / 10.0, -1, 1)
        self.evaluations += b
        self.calls += 1
        return NetOutput(policy=np.zeros((b, nn + 1), np.float32), value=value.astype(np.float32),
                         score=(own - opp), ownership=np.zeros((b, nn), np.float32))


def _game(size, moves, rules=None):
    g = Game(size, rules or Rules(komi=0.5))
    for m in moves:
        g.play(from_gtp(m, size) if isinstance(m, str) else m)
    return g


def _search(game, algorithm, sims, leaves=1, noise=False, ev=None):
    ev = ev or MaterialEvaluator()
    s = BatchedSearch(ev, game.size, 1, SearchConfig(algorithm=algorithm, simulations=sims, leaves_per_game=leaves),
                      komi=game.rules.komi, seed=1)
    s.set_root_from_game(0, game)
    return s, s.run(noise=np.array([noise]))


@pytest.mark.parametrize("algorithm,leaves", [("puct", 1), ("puct", 4), ("gumbel", 1)])
def test_search_finds_the_big_capture(algorithm, leaves):
    # 5x5: the white group A3-D3, A4-D4 has one liberty (E4); black captures eight stones
    g = Game(5, Rules(komi=0.5))
    for color, pts in ((BLACK, ["A2", "B2", "C2", "D2", "E3", "B5", "C5", "D5", "A5"]),
                       (3 - BLACK, ["A3", "B3", "C3", "D3", "A4", "B4", "C4", "D4"])):
        for p in pts:
            g.place_setup(color, from_gtp(p, 5))
    g.position.to_move = BLACK
    liberties = [m for m in range(25) if g.legal_mask()[m]]
    capture = from_gtp("E4", 5)
    assert capture in liberties
    s, r = _search(g, algorithm, 64, leaves)
    assert int(np.argmax(r.visits[0])) == capture
    assert r.action[0] == capture
    assert r.q[0, capture] > 0.5


def test_pass_ends_a_won_game():
    # white passed; black is far ahead on area: passing now wins (Tromp-Taylor), and the
    # search must see the terminal value of the pass
    g = Game(5, Rules(komi=0.5))
    for p in ["A2", "B2", "C2", "D2", "E2"]:
        g.place_setup(BLACK, from_gtp(p, 5))
    for p in ["B4"]:
        g.place_setup(3 - BLACK, from_gtp(p, 5))
    g.position.to_move = 3 - BLACK
    g.play(25)  # white passes
    assert g.score() > 0

    class PassPrior(MaterialEvaluator):  # pass is one candidate among others, not the favourite
        def evaluate(self, planes, globals_, size=None):
            out = super().evaluate(planes, globals_, size)
            out.policy[:, -1] = 1.0
            out.policy[:, 12] = 1.5
            return out

    for algorithm in ("puct", "gumbel"):
        s, r = _search(g, algorithm, 48, ev=PassPrior())
        assert r.q[0, 25] == pytest.approx(1.0)
        assert r.action[0] == 25


def test_visit_counts_add_up_and_targets_are_distributions():
    g = _game(9, ["E5", "C3"])
    for algorithm in ("puct", "gumbel"):
        s, r = _search(g, algorithm, 40, noise=True)
        assert r.visits[0].sum() == 40
        assert r.policy_target[0].sum() == pytest.approx(1.0, abs=1e-5)
        legal = g.legal_mask()
        assert np.all(r.policy_target[0][~legal] == 0)
        assert np.all(r.visits[0][~legal] == 0)


def test_considered_visits_is_sequential_halving():
    seq = considered_visits(4, 16)
    # phase 1: each of 4 actions visited twice (16 / (2 phases * 4)), then the best 2
    assert list(seq[:8]) == [0, 1, 2, 3, 0, 1, 2, 3][:0] + [0, 0, 0, 0, 1, 1, 1, 1]
    assert list(seq[8:]) == [2, 2, 3, 3, 4, 4, 5, 5]
    assert len(considered_visits(16, 32)) == 32
    assert list(considered_visits(1, 5)) == [0, 1, 2, 3, 4]


def test_gumbel_target_follows_q_on_a_toy_root():
    """With one clearly best action (by Q), the completed-Q policy puts most mass on it,
    more than the prior does, as the paper's policy improvement says."""
    g = _game(5, [])
    s, r = _search(g, "gumbel", 32)
    # a uniform prior: the improved policy is driven by Q and is no longer uniform
    target = r.policy_target[0]
    prior = r.raw_prior[0]
    best_q = int(np.argmax(np.where(r.visits[0] > 0, r.q[0], -9)))
    assert target[best_q] > prior[best_q]
    assert target.max() == pytest.approx(target[best_q])


def test_puct_visits_follow_prior_without_value_signal():
    """Equal values everywhere: PUCT visits follow the prior (AlphaZero's U term)."""

    class PriorEvaluator(MaterialEvaluator):
        def evaluate(self, planes, globals_, size=None):
            out = super().evaluate(planes, globals_, size)
            out.value[:] = 0.0
            out.policy[:, 12] = 3.0  # the centre of 5x5 gets most of the prior
            return out

    g = _game(5, [])
    ev = PriorEvaluator()
    s = BatchedSearch(ev, 5, 1, SearchConfig(algorithm="puct", simulations=100), komi=0.5, seed=0)
    s.set_root_from_game(0, g)
    r = s.run()
    v = r.visits[0]
    assert np.argmax(v) == 12
    assert v[12] > 0.3 * v.sum()


def test_tree_reuse_keeps_state_consistent():
    g = _game(7, [])
    ev = MaterialEvaluator()
    s = BatchedSearch(ev, 7, 1, SearchConfig(algorithm="puct", simulations=48, leaves_per_game=4), komi=0.5, seed=3)
    assert not s.set_root_from_game(0, g)
    reused = 0
    for _ in range(12):
        r = s.run(temperature=1.0)
        a = int(r.action[0])
        kept = int(r.visits[0, a])
        g.play(a)
        if s.set_root_from_game(0, g, [a]):
            reused += 1
            t = s.tree
            assert np.array_equal(t.ints[0, 0], g.position.ints)
            assert np.array_equal(t.legal[0, 0], g.legal_mask())
            assert t.nsa[0, 0].sum() == kept - 1  # the child's own first visit was its expansion
            assert (t.parent[0, 1:t.count[0]] < np.arange(1, t.count[0])).all()
            # every kept node's accumulators still add up to its edge's visits
            for n in range(1, t.count[0]):
                visits = t.nsa[0, t.parent[0, n], t.parent_action[0, n]]
                assert t.stats[0, n, T.V2] <= visits + 1e-6
        else:
            assert np.array_equal(s.tree.ints[0, 0], g.position.ints) and s.tree.count[0] == 1
    assert reused > 0


def test_gumbel_never_reuses_and_a_stale_line_starts_afresh():
    g = _game(5, [])
    s = BatchedSearch(MaterialEvaluator(), 5, 1, SearchConfig(algorithm="gumbel", simulations=16), komi=0.5, seed=0)
    s.set_root_from_game(0, g)
    a = int(s.run().action[0])
    g.play(a)
    assert not s.set_root_from_game(0, g, [a]) and s.tree.count[0] == 1
    p = BatchedSearch(MaterialEvaluator(), 5, 1, SearchConfig(algorithm="puct", simulations=16), komi=0.5, seed=0)
    h = _game(5, [])
    p.set_root_from_game(0, h)
    p.run()
    h.play(from_gtp("A1", 5))
    h.play(from_gtp("B1", 5))
    # the moves do not match the tree's line (or were never searched): a fresh root
    assert not p.set_root_from_game(0, h, [from_gtp("E5", 5)])
    assert np.array_equal(p.tree.ints[0, 0], h.position.ints) and p.tree.count[0] == 1


def test_batched_search_games_are_independent():
    games = [_game(5, []), _game(5, ["C3"]), _game(5, ["C3", "B2"])]
    ev = MaterialEvaluator()
    s = BatchedSearch(ev, 5, 3, SearchConfig(algorithm="gumbel", simulations=16), komi=0.5, seed=0)
    for b, g in enumerate(games):
        s.set_root_from_game(b, g)
    r = s.run()
    for b, g in enumerate(games):
        assert r.visits[b].sum() == 16
        assert g.legal_mask()[r.action[b]]
    # one network call per simulation step for all games (+1 for the roots)
    assert ev.calls == 16 + 1


def test_reused_root_gets_its_own_score_and_ownership():
    """After tree reuse the root's ownership/score come from the new root position."""

    class OwnershipEvaluator(MaterialEvaluator):
        def evaluate(self, planes, globals_, size=None):
            out = super().evaluate(planes, globals_, size)
            out.ownership = (planes[:, 0].astype(np.float32) - planes[:, 1].astype(np.float32))
            return out

    g = _game(5, [])
    s = BatchedSearch(OwnershipEvaluator(), 5, 1, SearchConfig(algorithm="puct", simulations=40), komi=0.5, seed=2)
    s.set_root_from_game(0, g)
    for _ in range(3):
        r = s.run()
        a = int(r.action[0])
        g.play(a)
        assert s.set_root_from_game(0, g, [a])
        r = s.run()
        stones = g.position.stones
        me = g.to_move
        expected = (stones == me).astype(np.float32) - (stones == 3 - me).astype(np.float32)
        assert np.array_equal(r.ownership[0], expected)


WEIGHTS = 1.0 + (np.arange(49) * 5 % 7)  # a different worth for (almost) every point


def _weighted(stones: np.ndarray, me: int) -> tuple[float, float]:
    """The fake network's (value, score lead) for the side to move ``me``: weighted stones."""
    w = WEIGHTS[: len(stones)]
    lead = float(w[stones == me].sum() - w[stones == 3 - me].sum())
    return float(np.clip(lead / 12.0, -1, 1)), lead


class WeightedEvaluator(MaterialEvaluator):
    """Value and score lead from the weighted stones (so each move's subtree has its own
    score), and a mildly non-uniform policy."""

    def evaluate(self, planes, globals_, size=None):
        out = super().evaluate(planes, globals_, size)
        nn = planes.shape[2]
        w = WEIGHTS[:nn].astype(np.float32)
        lead = planes[:, 0].astype(np.float32) @ w - planes[:, 1].astype(np.float32) @ w
        out.score[:] = lead
        out.value[:] = np.clip(lead / 12.0, -1, 1)
        out.policy[:, :nn] = 0.1 * w
        return out


def _subtree_samples(s: BatchedSearch, game: Game, first: int) -> tuple[np.ndarray, np.ndarray]:
    """Every (value, score) the search backed up through root move ``first``, recomputed
    here from the positions (replayed in a `Game`) and the visit counts, root's view."""
    me = game.to_move
    values, scores = [], []
    t = s.tree
    stack = [(int(t.child[0, 0, first]), 0, first, game.copy())]
    while stack:
        node, parent, action, g = stack.pop()
        g.play(action)
        visits = int(t.nsa[0, parent, action])
        kids = [(int(c), node, a) for a, c in enumerate(t.child[0, node]) if c >= 0 and t.nsa[0, node, a] > 0]
        own = visits - sum(int(t.nsa[0, node, a]) for _, _, a in kids)
        if g.is_over:
            sc = g.score() * (1 if g.to_move == BLACK else -1)
            v = float(np.sign(sc))
        else:
            v, sc = _weighted(g.position.stones, g.to_move)
        sign = 1 if g.to_move == me else -1
        values += [sign * v] * own
        scores += [sign * sc] * own
        stack += [(c, n, a, g.copy()) for c, n, a in kids]
    return np.asarray(values), np.asarray(scores)


@pytest.mark.parametrize("algorithm", ["puct", "gumbel"])
@pytest.mark.parametrize("moves", [[], ["C3"]], ids=["black", "white"])
def test_each_move_gets_the_score_and_lcb_of_its_own_subtree(algorithm, moves):
    g = _game(5, moves, Rules(komi=0.5, ko="simple"))
    s, r = _search(g, algorithm, 120, ev=WeightedEvaluator())
    from gozero.search.mcts import LCB_STDEVS

    visited = np.flatnonzero(r.visits[0])
    assert len(visited) >= 4
    leads = r.move_score[0, visited]
    assert len(np.unique(np.round(leads, 3))) >= 3  # not one lead for every move
    all_scores = []
    for a in visited:
        values, scores = _subtree_samples(s, g, int(a))
        n = len(values)
        assert n == r.visits[0, a]
        assert r.q[0, a] == pytest.approx(values.mean(), abs=1e-4)
        assert r.move_score[0, a] == pytest.approx(scores.mean(), abs=1e-3)
        assert r.move_score_stdev[0, a] == pytest.approx(scores.std(), abs=1e-3)
        sd = values.std(ddof=1) / 2 if n > 1 else 0.5
        assert r.move_lcb[0, a] == pytest.approx((values.mean() + 1) / 2 - LCB_STDEVS * sd / np.sqrt(n), abs=1e-3)
        all_scores += list(scores)
    # the root's score: its own evaluation and every visit below it
    _, root_lead = _weighted(g.position.stones, g.to_move)
    expected = (root_lead + sum(all_scores)) / (len(all_scores) + 1)
    assert r.root_score[0] == pytest.approx(expected, abs=1e-3)
    assert r.score[0] == pytest.approx(root_lead)


def test_a_finished_line_backs_up_the_exact_count():
    # white passed: black's pass ends the game, and its subtree's score is the count itself
    g = Game(5, Rules(komi=0.5))
    for p in ["A2", "B2", "C2", "D2", "E2"]:
        g.place_setup(BLACK, from_gtp(p, 5))
    g.place_setup(3 - BLACK, from_gtp("B4", 5))
    g.position.to_move = 3 - BLACK
    g.play(25)
    s, r = _search(g, "puct", 60, ev=WeightedEvaluator())
    assert r.visits[0, 25] > 0
    assert r.move_score[0, 25] == pytest.approx(g.score())  # black to move: black's lead
    assert r.move_score_stdev[0, 25] == pytest.approx(0.0, abs=1e-4)


@pytest.mark.parametrize("algorithm", ["puct", "gumbel"])
def test_pass_into_a_win_only_the_strict_count_gives_is_refused(algorithm):
    from gozero.rules import dead_stones

    g = dead_stone_position()
    assert g.score() == 5.5
    dead = dead_stones(g.position, OWN_BLACK)
    assert list(np.flatnonzero(dead)) == [from_gtp("C4", 5)] and g.score(dead) == -5.5
    results = {}
    for scoring in ("tromp_taylor", "area_dead_removed"):
        ev = DeadStoneEvaluator()
        s = BatchedSearch(ev, 5, 1, SearchConfig(algorithm=algorithm, simulations=48), komi=0.5, seed=1,
                          scoring=scoring)
        s.set_root_from_game(0, g)
        results[scoring] = s.run()
    tt, adr = results["tromp_taylor"], results["area_dead_removed"]
    assert tt.q[0, 25] == pytest.approx(1.0) and tt.action[0] == 25
    assert tt.move_score[0, 25] == pytest.approx(5.5)
    assert adr.visits[0, 25] > 0 and adr.q[0, 25] == pytest.approx(-1.0)
    assert adr.move_score[0, 25] == pytest.approx(-5.5)
    assert adr.action[0] != 25


def test_unknown_scoring_rule_is_refused():
    with pytest.raises(ValueError, match="scoring"):
        BatchedSearch(MaterialEvaluator(), 5, 1, SearchConfig(), scoring="japanese")


def test_reused_root_drops_visits_on_a_move_the_game_forbids():
    """Inside the tree only simple ko is known: a reused subtree can hold visits on a move that
    positional superko forbids in the game. The refreshed root drops that edge, so neither the
    move played nor the visit-count target names it (self-play used to play it and crash)."""
    g = _game(5, [])
    s = BatchedSearch(MaterialEvaluator(), 5, 1, SearchConfig(algorithm="puct", simulations=200), komi=0.5, seed=4)
    s.set_root_from_game(0, g)
    a = int(s.run().action[0])
    g.play(a)
    child = s.tree.child[0, 0, a]
    kept = s.tree.nsa[0, child].copy()
    forbidden = int(np.argmax(kept))  # the reply the kept subtree visited most
    assert kept[forbidden] > 0
    mask = g.legal_mask().copy()
    mask[forbidden] = False  # as superko would
    g.legal_mask = lambda: mask
    assert s.set_root_from_game(0, g, [a])
    assert s.tree.nsa[0, 0, forbidden] == 0 and s.tree.child[0, 0, forbidden] == -1
    for temperature in (0.0, 1.0):
        r = s.run(simulations=1, temperature=temperature)
        assert int(r.action[0]) != forbidden and r.policy_target[0, forbidden] == 0
        assert r.visits[0, forbidden] == 0
