"""MCTSPlayer (the GTP / web / match player): visit budgets, trees that grow for open-ended
analysis, tree reuse between moves, and resignation only after several hopeless searches."""

import threading

import numpy as np
import pytest
from dead_stones_case import DeadStoneEvaluator, dead_stone_position

from gozero.net.inference import NetOutput
from gozero.rules import BLACK, Game, Rules, from_gtp
from gozero.search.mcts import SearchConfig
from gozero.search.mcts_player import DEFAULT_VISITS, MCTSPlayer
from gozero.search.player import RESIGN, SearchLimits


class ColourEvaluator:
    """Value from the side to move: ``black_value`` when black is to move, its negation when
    white is (the position looks the same to both sides' searches). Policy: uniform, or with
    ``slope`` a prior falling by that many logits per point index (a narrow, deep tree)."""

    def __init__(self, black_value: float = 0.0, slope: float = 0.0):
        self.black_value = black_value
        self.slope = slope
        self.evaluations = 0

    def evaluate(self, planes, globals_, size=None):
        b, _, nn = planes.shape
        black_to_move = globals_[:, 1] > 0.5
        value = np.where(black_to_move, self.black_value, -self.black_value).astype(np.float32)
        self.evaluations += b
        logits = np.broadcast_to(-self.slope * np.arange(nn + 1, dtype=np.float32), (b, nn + 1)).copy()
        return NetOutput(policy=logits, value=value,
                         score=np.zeros(b, np.float32), ownership=np.zeros((b, nn), np.float32))


def _player(ev, **kw) -> MCTSPlayer:
    cfg = SearchConfig(algorithm="puct", simulations=64, leaves_per_game=8, fpu_reduction=0.25)
    return MCTSPlayer(ev, config=cfg, seed=3, **kw)


def _game(moves=(), size=9) -> Game:
    g = Game(size, Rules(komi=7.5))
    for m in moves:
        g.play(from_gtp(m, size))
    return g


def test_genmove_spends_the_visit_budget_and_reuses_the_tree():
    ev = ColourEvaluator(slope=1.0)
    p = _player(ev, visits=120)
    g = _game(["E5", "C3"])
    a = p.analyze(g)
    assert 120 <= a.visits < 120 + 32  # the budget, give or take one round of leaves
    assert abs(sum(m.visits for m in a.moves) - a.visits) <= 1
    before = ev.evaluations
    assert p.analyze(g).visits == a.visits and ev.evaluations == before  # the same position: nothing to do
    move = p.genmove(g)
    assert g.is_legal(move) and move == a.moves[0].move
    reply = a.moves[0].pv[1]
    g.play(move)
    g.play(reply)
    kept = next(m.visits for m in a.moves if m.move == move)
    before = ev.evaluations
    a2 = p.analyze(g)
    # the tree was kept: the new root started with the visits its subtree already had
    assert kept > 20 and a2.visits >= 120 and ev.evaluations - before <= 120 - kept // 2
    assert DEFAULT_VISITS == _player(ev).limits.visits


def test_open_ended_analysis_grows_past_the_play_budget():
    ev = ColourEvaluator()
    p = _player(ev, visits=16)  # a play tree of 1,024 nodes
    g = _game(["E5"])
    p.genmove(g)
    small = p._search.M
    assert small < 1500
    stop = threading.Event()
    seen = []

    def on_update(a):
        seen.append(a.visits)
        if a.visits >= 3000:
            stop.set()

    a = p.analyze(g, SearchLimits(seconds=120.0), on_update=on_update, interval=0.0, stop=stop)
    assert a.visits >= 3000 and stop.is_set()  # analysis went on far past the play tree's size
    assert p._search.M >= MCTSPlayer.open_ended_nodes(9) > 100_000
    assert 15_000 < MCTSPlayer.open_ended_nodes(19) < MCTSPlayer.open_ended_nodes(9)
    # the big tree stays for the next moves: no reallocation per genmove
    big = p._search
    g.play(p.genmove(g))
    assert p._search is big


def _random_game(moves: int, seed: int = 0) -> Game:
    g = Game(9, Rules(komi=7.5))
    rng = np.random.default_rng(seed)
    while len(g.moves) < moves:
        g.play(int(rng.choice(np.flatnonzero(g.legal_mask()[:-1]))))
    return g


def test_resigns_only_after_consecutive_hopeless_searches_past_the_opening():
    ev = ColourEvaluator(black_value=-0.99)  # black is lost whatever it plays
    early = _player(ev, visits=32)
    g = _random_game(4)
    for _ in range(3):  # hopeless, but in the opening: plays on
        mv = early.genmove(g)
        assert mv != RESIGN
        g.play(mv)
        g.play(int(np.flatnonzero(g.legal_mask()[:-1])[0]))
    p = _player(ev, visits=32)
    g = _random_game(30)  # past move 81 // 3, black to move
    assert g.to_move == BLACK
    answers = []
    for _ in range(3):
        mv = p.genmove(g)
        answers.append(mv)
        if mv == RESIGN:
            break
        g.play(mv)
        g.play(int(np.flatnonzero(g.legal_mask()[:-1])[0]))
    assert answers[:2] == [a for a in answers[:2] if a != RESIGN] and answers[2] == RESIGN
    # the side that is winning never resigns
    white = _player(ev, visits=32)
    g.play(g.pass_move)
    for _ in range(3):
        mv = white.genmove(g)
        assert mv != RESIGN
        g.play(mv)
        g.play(int(np.flatnonzero(g.legal_mask()[:-1])[0]))


class LeadEvaluator(ColourEvaluator):
    """Score lead = weighted stones of the side to move minus the opponent's (a different
    worth per point), so every candidate's subtree has its own lead."""

    def evaluate(self, planes, globals_, size=None):
        out = super().evaluate(planes, globals_, size)
        w = 1.0 + (np.arange(planes.shape[2]) * 5 % 7).astype(np.float32)
        out.score[:] = planes[:, 0].astype(np.float32) @ w - planes[:, 1].astype(np.float32) @ w
        return out


def test_analysis_reports_each_moves_own_lead_and_lcb():
    p = _player(LeadEvaluator(), visits=200)
    g = _game(["E5", "C3"])
    a = p.analyze(g)
    r = p._search.root_result()
    leads = [m.score_lead for m in a.moves]
    assert len(set(np.round(leads, 3))) > 3  # not the root's one number for every row
    for m in a.moves:
        assert m.score_lead == np.float32(r.move_score[0, m.move])
        assert m.score_stdev == np.float32(r.move_score_stdev[0, m.move]) >= 0
        assert m.lcb <= m.winrate
    # the root's lead: its own evaluation (black to move: E5 is black's, C3 white's) and every visit below
    w = 1.0 + (np.arange(81) * 5 % 7)
    own = w[from_gtp("E5", 9)] - w[from_gtp("C3", 9)]
    expected = (own + sum(m.score_lead * m.visits for m in a.moves)) / (a.visits + 1)
    assert a.score_lead == pytest.approx(expected, abs=1e-3)


def test_the_player_searches_by_the_games_scoring_rule():
    import dataclasses

    g = dead_stone_position()  # black passing wins by the strict count only
    p = MCTSPlayer(DeadStoneEvaluator(), visits=64, seed=1,
                   config=SearchConfig(algorithm="puct", simulations=64, leaves_per_game=8))
    assert p.genmove(g) != g.pass_move
    strict = g.copy()
    strict.rules = dataclasses.replace(g.rules, scoring="tromp_taylor")
    assert p.genmove(strict) == g.pass_move  # the same player, a new tree for the other rule
    assert p.genmove(g) != g.pass_move
