"""`gozero analysis`: KataGo's JSON analysis protocol (docs/Analysis_Engine.md of KataGo).

The documented example query against a real (tiny, random) network and search; answers'
shape and sanity (visits, orders, perspectives, policy with -1 for illegal points,
ownership, per-move ownership by its method); priorities; terminate (queued and running);
query_version and clear_cache; reports during the search; malformed input of many kinds,
each answered with an error carrying the id; the query KaTrain sends; the command line.
"""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest
import torch
from conftest import DoubleAnalysisPlayer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gozero.net.inference import NetEvaluator, NetOutput
from gozero.net.model import NetConfig, build_model
from gozero.play.analysis_engine import (
    AnalysisEngine,
    EngineSettings,
    QueryError,
    gozero_rules,
    parse_rules,
    position_hashes,
)
from gozero.rules import BLACK, WHITE, Game, Rules, from_gtp
from gozero.search.mcts import SearchConfig
from gozero.search.mcts_player import MCTSPlayer
from gozero.search.player import Analysis, MoveInfo, SearchLimits

# The example query of KataGo's docs/Analysis_Engine.md, as printed there.
DOC_QUERY = ('{"id":"foo","initialStones":[["B","Q4"],["B","C4"]],"moves":[["W","P5"],["B","P6"]],'
             '"rules":"tromp-taylor","komi":7.5,"boardXSize":19,"boardYSize":19,"analyzeTurns":[0,1,2]}')


class Sink:
    """A thread-safe text stream that keeps the answers as parsed JSON objects."""

    def __init__(self):
        self.objs: list[dict] = []
        self._cv = threading.Condition()
        self._buf = ""

    def write(self, text: str) -> None:
        with self._cv:
            self._buf += text
            while "\n" in self._buf:
                line, self._buf = self._buf.split("\n", 1)
                self.objs.append(json.loads(line))
            self._cv.notify_all()

    def flush(self) -> None:
        pass

    def wait_for(self, pred, timeout: float = 30.0) -> dict:
        deadline = time.monotonic() + timeout
        with self._cv:
            while True:
                for obj in self.objs:
                    if pred(obj):
                        return obj
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no matching answer in {self.objs}")
                self._cv.wait(left)

    def finals(self) -> list[dict]:
        return [o for o in self.objs if "isDuringSearch" in o and not o["isDuringSearch"]]


def tiny_player(size_hint: int = 9, seed: int = 0) -> MCTSPlayer:
    torch.manual_seed(seed)
    net = build_model(NetConfig(size=size_hint, blocks=1, channels=8, pool_channels=4, pool_every=1,
                                head_channels=4, value_hidden=8))
    ev = NetEvaluator(net, device="cpu", precision="fp32", random_symmetry=False)
    cfg = SearchConfig(algorithm="puct", simulations=16, leaves_per_game=4, fpu_reduction=0.25)
    return MCTSPlayer(ev, config=cfg, seed=seed)


@pytest.fixture(scope="module")
def real_player() -> MCTSPlayer:
    return tiny_player()


class GatedPlayer(DoubleAnalysisPlayer):
    """The deterministic double of conftest, with controls: ``gate`` holds each analyze until
    set; ``until_stop`` makes analyze run until its stop event; ``updates`` calls on_update
    that many times, ``pause`` seconds apart. Records the order of the games it analysed."""

    def __init__(self, gate: threading.Event | None = None, until_stop: bool = False, updates: int = 0,
                 pause: float = 0.0):
        super().__init__()
        self.gate = gate
        self.until_stop = until_stop
        self.updates = updates
        self.pause = pause
        self.started = threading.Event()
        self.order: list[int] = []  # number of moves of each analysed game
        self.cleared = 0
        self.seen_limits: list[SearchLimits] = []

    def clear_cache(self) -> None:
        self.cleared += 1

    def analyze(self, game, limits=None, on_update=None, stop=None, interval=1.0) -> Analysis:
        self.started.set()
        self.seen_limits.append(limits)
        if self.gate is not None:
            assert self.gate.wait(30)
        if self.until_stop:
            assert stop is not None and stop.wait(30)
        for _ in range(self.updates):
            time.sleep(self.pause)
            if on_update is not None:
                on_update(super().analyze(game, limits))
        self.order.append(len(game.moves))
        return super().analyze(game, limits)


def engine_for(player, **kw) -> tuple[AnalysisEngine, Sink]:
    sink = Sink()
    return AnalysisEngine(player, sink, EngineSettings(**kw)), sink


def q(qid: str = "q", **fields) -> str:
    base = {"id": qid, "moves": [], "rules": "chinese", "komi": 7.5, "boardXSize": 9, "boardYSize": 9}
    base.update(fields)
    return json.dumps(base)


# -- the documented example, real network and search -------------------------------------
def test_documented_example_answers_three_turns_with_sane_values(real_player):
    engine, sink = engine_for(real_player, max_visits=24)
    engine.handle_line(DOC_QUERY)
    engine.close()
    finals = sink.finals()
    assert sorted(o["turnNumber"] for o in finals) == [0, 1, 2] and len(sink.objs) == 3
    # turn 0: two black stones and white's move first -> white to move (moves[0] is W)
    players = {o["turnNumber"]: o["rootInfo"]["currentPlayer"] for o in finals}
    assert players == {0: "W", 1: "B", 2: "W"}
    for o in finals:
        assert o["id"] == "foo" and o["isDuringSearch"] is False
        infos, root = o["moveInfos"], o["rootInfo"]
        assert infos and [m["order"] for m in infos] == list(range(len(infos)))
        assert sum(m["visits"] for m in infos) == root["visits"] >= 24
        assert [m["visits"] for m in infos] == sorted((m["visits"] for m in infos), reverse=True)
        for m in infos:
            assert 0.0 <= m["winrate"] <= 1.0 and 0.0 <= m["prior"] <= 1.0
            assert m["scoreMean"] == m["scoreLead"] and m["pv"][0] == m["move"]
            assert len(m["pv"]) <= 16 and m["move"] not in ("Q4", "C4")  # occupied points are never candidates
            from_gtp(m["move"], 19)  # a real vertex
            assert m["utility"] == pytest.approx(2 * m["winrate"] - 1)
        assert 0.0 <= root["winrate"] <= 1.0 and len(root["thisHash"]) == len(root["symHash"]) == 32
        assert "ownership" not in o and "policy" not in o


def test_black_perspective_turns_white_to_move_values_around(real_player):
    """The same white-to-move position reported as BLACK and as SIDETOMOVE: win rates add up
    to one and leads and ownership change sign (the search runs once: same tree)."""
    engine, sink = engine_for(real_player, max_visits=16)
    moves = [["B", "E5"]]
    engine.handle_line(q("side", moves=moves, includeOwnership=True,
                         overrideSettings={"reportAnalysisWinratesAs": "SIDETOMOVE"}))
    engine.handle_line(q("black", moves=moves, includeOwnership=True))
    engine.handle_line(q("white", moves=moves, includeOwnership=True,
                         overrideSettings={"reportAnalysisWinratesAs": "WHITE"}))
    engine.close()
    by = {o["id"]: o for o in sink.finals()}
    side, black, white = by["side"], by["black"], by["white"]
    assert side["rootInfo"]["visits"] == black["rootInfo"]["visits"]  # the kept tree: nothing new to search
    assert black["rootInfo"]["winrate"] == pytest.approx(1 - side["rootInfo"]["winrate"])
    assert black["rootInfo"]["scoreLead"] == pytest.approx(-side["rootInfo"]["scoreLead"])
    assert white["rootInfo"]["winrate"] == pytest.approx(side["rootInfo"]["winrate"])
    np.testing.assert_allclose(black["ownership"], -np.asarray(side["ownership"]))
    for a, b in zip(side["moveInfos"], black["moveInfos"], strict=True):
        assert a["move"] == b["move"] and b["winrate"] == pytest.approx(1 - a["winrate"])
        assert b["lcb"] == pytest.approx(1 - a["lcb"]) and b["utility"] == pytest.approx(-a["utility"])


def test_policy_layout_has_minus_one_exactly_at_illegal_moves(real_player):
    engine, sink = engine_for(real_player, max_visits=8)
    engine.handle_line(q("p", boardXSize=5, boardYSize=5, moves=[["B", "C3"], ["W", "B3"], ["B", "A2"]],
                         initialStones=[["W", "E5"]], includePolicy=True, includeOwnership=True))
    engine.close()
    (o,) = sink.finals()
    policy = np.asarray(o["policy"])
    assert policy.shape == (26,) and len(o["ownership"]) == 25
    occupied = [from_gtp(v, 5) for v in ("C3", "B3", "A2", "E5")]
    assert set(np.flatnonzero(policy == -1)) == set(occupied)
    legal = policy[policy >= 0]
    assert legal.sum() == pytest.approx(1.0, abs=1e-5) and policy[-1] >= 0  # pass is last, and legal
    assert all(-1.0 <= v <= 1.0 for v in o["ownership"])


class OwnershipByStones:
    """Evaluator double: ownership +1 on the side to move's stones, -1 on the opponent's, 0
    elsewhere; uniform policy, value 0. Per-move ownership must then show each candidate's
    own stone as the root player's."""

    def __init__(self):
        self.evaluations = 0

    def evaluate(self, planes, globals_, size=None):
        b, _, nn = planes.shape
        self.evaluations += b
        own = planes[:, 0, :].astype(np.float32) - planes[:, 1, :].astype(np.float32)
        return NetOutput(policy=np.zeros((b, nn + 1), np.float32), value=np.zeros(b, np.float32),
                         score=np.zeros(b, np.float32), ownership=own)


def test_moves_ownership_is_the_network_at_each_candidates_child_position():
    player = MCTSPlayer(OwnershipByStones(), config=SearchConfig(algorithm="puct", simulations=16,
                                                                  leaves_per_game=4), seed=1)
    engine, sink = engine_for(player, max_visits=40, perspective="SIDETOMOVE")
    engine.handle_line(q("own", boardXSize=5, boardYSize=5, moves=[["B", "C3"]], includeMovesOwnership=True))
    engine.close()
    (o,) = sink.finals()
    c3 = from_gtp("C3", 5)
    assert len(o["moveInfos"]) > 3
    for m in o["moveInfos"]:
        own = np.asarray(m["ownership"])
        assert own.shape == (25,)
        assert own[c3] == -1.0  # black's stone, and white is to move
        if m["move"] != "pass":
            p = from_gtp(m["move"], 5)
            assert own[p] == 1.0 and np.count_nonzero(own) == 2
        else:
            assert np.count_nonzero(own) == 1


# -- queue, priorities, terminate ---------------------------------------------------------
def test_queries_are_served_by_priority_then_arrival():
    gate = threading.Event()
    player = GatedPlayer(gate=gate)
    engine, sink = engine_for(player)
    engine.handle_line(q("first", moves=[]))  # starts at once and holds the worker
    assert player.started.wait(10)
    for qid, n_moves, prio in (("a", 1, 1), ("b", 2, 5), ("c", 3, 5), ("d", 4, -1), ("e", 5, 1)):
        moves = [["B", "A1"], ["W", "B1"], ["B", "C1"], ["W", "D1"], ["B", "E1"]][:n_moves]
        engine.handle_line(q(qid, moves=moves, priority=prio))
    gate.set()
    engine.close()
    assert [o["id"] for o in sink.finals()] == ["first", "b", "c", "a", "e", "d"]
    assert player.order == [0, 2, 3, 1, 5, 4]


def test_priorities_per_turn_order_the_turns_of_one_query():
    gate = threading.Event()
    player = GatedPlayer(gate=gate)
    engine, sink = engine_for(player)
    engine.handle_line(q("hold"))
    assert player.started.wait(10)
    engine.handle_line(q("t", moves=[["B", "A1"], ["W", "B1"]], analyzeTurns=[0, 1, 2], priorities=[1, 3, 2]))
    gate.set()
    engine.close()
    assert [(o["id"], o["turnNumber"]) for o in sink.finals()] == [("hold", 0), ("t", 1), ("t", 2), ("t", 0)]


def test_terminate_stops_the_running_search_and_answers_queued_turns_with_no_results():
    player = GatedPlayer(until_stop=True)
    engine, sink = engine_for(player)
    engine.handle_line(q("run", moves=[["B", "A1"], ["W", "B1"]], analyzeTurns=[0, 1, 2]))
    assert player.started.wait(10)
    engine.handle_line(json.dumps({"id": "t1", "action": "terminate", "terminateId": "run", "turnNumbers": [1]}))
    ack = sink.wait_for(lambda o: o.get("id") == "t1")
    assert ack == {"id": "t1", "action": "terminate", "terminateId": "run", "turnNumbers": [1]}
    no = sink.wait_for(lambda o: o.get("turnNumber") == 1)
    assert no == {"id": "run", "turnNumber": 1, "isDuringSearch": False, "noResults": True}
    assert not any(o.get("turnNumber") == 0 and "moveInfos" in o for o in sink.objs)  # turn 0 still running
    engine.handle_line(json.dumps({"id": "t2", "action": "terminate", "terminateId": "run"}))
    turn0 = sink.wait_for(lambda o: o.get("turnNumber") == 0 and "moveInfos" in o)
    assert turn0["isDuringSearch"] is False and turn0["moveInfos"]  # what the stopped search found
    engine.close()
    finals = sink.finals()
    assert sorted(o["turnNumber"] for o in finals) == [0, 1, 2]  # exactly one final answer per turn
    assert next(o for o in finals if o["turnNumber"] == 2).get("noResults") is True


def test_documented_terminate_example_ends_turns_1_and_2_of_the_documented_query():
    player = GatedPlayer(until_stop=True)
    engine, sink = engine_for(player)
    engine.handle_line(DOC_QUERY)
    assert player.started.wait(10)
    doc_terminate = '{"id":"bar","action":"terminate","terminateId":"foo","turnNumbers":[1,2]}'
    engine.handle_line(doc_terminate)
    assert sink.objs[-1] == json.loads(doc_terminate)  # the acknowledgement echoes the query
    assert sink.objs[:-1] == [{"id": "foo", "isDuringSearch": False, "noResults": True, "turnNumber": t}
                              for t in (1, 2)]
    engine.handle_line('{"id":"baz","action":"terminate","terminateId":"foo"}')
    engine.close()
    turn0 = next(o for o in sink.finals() if o["turnNumber"] == 0)
    assert turn0["moveInfos"] and turn0["rootInfo"]["currentPlayer"] == "W"


def test_terminate_all_and_unknown_ids():
    player = GatedPlayer(until_stop=True)
    engine, sink = engine_for(player)
    engine.handle_line(q("x"))
    engine.handle_line(q("y", moves=[["B", "A1"]]))
    assert player.started.wait(10)
    engine.handle_line(json.dumps({"id": "none", "action": "terminate", "terminateId": "nobody"}))
    sink.wait_for(lambda o: o.get("id") == "none")
    assert engine.pending() == 2
    engine.handle_line(json.dumps({"id": "all", "action": "terminate_all"}))
    engine.close()
    finals = {o["id"]: o for o in sink.finals()}
    assert set(finals) == {"x", "y"} and finals["y"].get("noResults") is True and finals["x"]["moveInfos"]


def test_closing_without_waiting_terminates_the_running_and_the_queued():
    player = GatedPlayer(until_stop=True)
    engine, sink = engine_for(player)
    engine.handle_line(q("run"))
    engine.handle_line(q("wait", moves=[["B", "A1"]]))
    assert player.started.wait(10)
    engine.close(wait=False, timeout=10)
    finals = {o["id"]: o for o in sink.finals()}
    assert finals["run"]["moveInfos"] and finals["wait"].get("noResults") is True and engine.pending() == 0
    engine.handle_line(q("late"))
    assert sink.objs[-1] == {"error": "the engine is shutting down: query not analysed", "id": "late"}


def test_terminate_stops_a_real_open_ended_search(real_player):
    engine, sink = engine_for(real_player)
    engine.handle_line(q("long", boardXSize=5, boardYSize=5, maxVisits=10**7, reportDuringSearchEvery=0.05,
                         includeMovesOwnership=True))  # per-move ownership asked from inside the search's callback
    during = sink.wait_for(lambda o: o.get("isDuringSearch") is True)
    assert all(len(m["ownership"]) == 25 for m in during["moveInfos"])
    engine.handle_line(json.dumps({"id": "stop", "action": "terminate", "terminateId": "long"}))
    final = sink.wait_for(lambda o: o.get("id") == "long" and o.get("isDuringSearch") is False)
    engine.close()
    assert final["rootInfo"]["visits"] >= during["rootInfo"]["visits"] > 0
    assert final["rootInfo"]["visits"] < 10**7


def test_report_during_search_gives_during_lines_then_one_final():
    player = GatedPlayer(updates=4, pause=0.03)
    engine, sink = engine_for(player)
    engine.handle_line(q("r", reportDuringSearchEvery=0.01, includeOwnership=True))
    engine.close()
    mine = [o for o in sink.objs if o.get("id") == "r"]
    assert len(mine) >= 3 and all(o["isDuringSearch"] for o in mine[:-1]) and mine[-1]["isDuringSearch"] is False
    assert all("ownership" in o for o in mine)


def test_first_report_after_holds_back_early_reports():
    player = GatedPlayer(updates=3, pause=0.02)
    engine, sink = engine_for(player)
    engine.handle_line(q("late", reportDuringSearchEvery=0.01, firstReportDuringSearchAfter=100.0))
    engine.close()
    assert [o["isDuringSearch"] for o in sink.objs if o.get("id") == "late"] == [False]


# -- actions --------------------------------------------------------------------------------
def test_query_version_and_clear_cache_echo_the_query():
    player = GatedPlayer()
    engine, sink = engine_for(player)
    engine.handle_line('{"id":"foo","action":"query_version"}')
    engine.handle_line('{"id":"bar","action":"clear_cache"}')
    engine.close()
    version, clear = sink.objs
    assert version["id"] == "foo" and version["action"] == "query_version"
    assert isinstance(version["version"], str) and version["version"] and isinstance(version["git_hash"], str)
    assert clear == {"id": "bar", "action": "clear_cache"} and player.cleared == 1


def test_clear_cache_makes_the_real_player_search_afresh(real_player):
    def serve(*lines: str) -> Sink:
        engine, sink = engine_for(real_player, max_visits=16)
        for line in lines:
            engine.handle_line(line)
        engine.close()
        return sink

    serve(q("a", boardXSize=7, boardYSize=7))
    before = real_player.ev.evaluations
    serve(q("b", boardXSize=7, boardYSize=7))  # the same position: the kept tree answers
    kept = real_player.ev.evaluations
    sink = serve('{"id":"c","action":"clear_cache"}', q("d", boardXSize=7, boardYSize=7))
    assert kept - before <= 1  # at most the root's score and ownership asked again
    assert real_player.ev.evaluations - kept >= 8  # searched again from a fresh root
    assert sink.finals()[0]["rootInfo"]["visits"] >= 16


# -- malformed input ------------------------------------------------------------------------
BAD = [
    ('{"id":"j1","moves":[', "j1", None),  # bad JSON, id still found in the line
    ("[1,2,3]", None, None),
    ('{"moves":[]}', None, "id"),
    ('{"id":5,"moves":[]}', None, "id"),
    (q("m1", moves=None), "m1", "moves"),
    (json.dumps({"id": "m2", "rules": "chinese", "boardXSize": 9, "boardYSize": 9}), "m2", "moves"),
    (q("m3", moves=[["B"]]), "m3", "moves"),
    (q("m4", moves=[["X", "D4"]]), "m4", "moves"),
    (q("m5", moves=[["B", "Z99"]]), "m5", "moves"),
    (q("m6", moves=[["B", "D4"], ["W", "D4"]]), "m6", "moves"),  # illegal: occupied
    (q("m7", moves=[["B", "(9,0)"]]), "m7", "moves"),
    (q("s1", initialStones=[["B", "pass"]]), "s1", "initialStones"),
    (q("s2", initialStones=[["B", "D4"], ["W", "D4"]]), "s2", "initialStones"),
    (q("b1", boardXSize=9, boardYSize=13), "b1", "boardYSize"),
    (q("b2", boardXSize=25, boardYSize=25), "b2", "boardXSize"),
    (q("b3", boardXSize="9"), "b3", "boardXSize"),
    (q("b4", boardXSize=True), "b4", "boardXSize"),
    (json.dumps({"id": "b5", "moves": [], "rules": "chinese", "boardXSize": 9}), "b5", "boardYSize"),
    (q("r1", rules="no such rules"), "r1", "rules"),
    (q("r2", rules=7), "r2", "rules"),
    (q("r3", rules={"ko": "SPIGHT", "scoring": "AREA"}), "r3", "rules"),
    (q("r4", rules={"colour": "blue"}), "r4", "rules"),
    (q("k1", komi=7.3), "k1", "komi"),
    (q("k2", komi="7.5"), "k2", "komi"),
    (q("k3", komi=500), "k3", "komi"),
    (q("t1", analyzeTurns=[1]), "t1", "analyzeTurns"),
    (q("t2", analyzeTurns="0"), "t2", "analyzeTurns"),
    (q("v1", maxVisits=0), "v1", "maxVisits"),
    (q("v2", maxVisits=1.5), "v2", "maxVisits"),
    (q("o1", includeOwnership="yes"), "o1", "includeOwnership"),
    (q("o2", includePolicy=1), "o2", "includePolicy"),
    (q("o3", includeMovesOwnership=None), "o3", "includeMovesOwnership"),
    (q("p1", priority="high"), "p1", "priority"),
    (q("p2", priority=1, priorities=[1], analyzeTurns=[0]), "p2", "priority"),
    (q("p3", priorities=[1, 2], analyzeTurns=[0]), "p3", "priorities"),
    (q("e1", reportDuringSearchEvery=0), "e1", "reportDuringSearchEvery"),
    (q("i1", initialPlayer="red"), "i1", "initialPlayer"),
    (q("w1", overrideSettings=[1]), "w1", "overrideSettings"),
    (q("w2", overrideSettings={"reportAnalysisWinratesAs": "GREEN"}), "w2", "overrideSettings"),
    (q("w3", overrideSettings={"maxVisits": 2.5}), "w3", "overrideSettings"),
    (q("w4", overrideSettings={"maxTime": -1}), "w4", "overrideSettings"),
    (q("h1", whiteHandicapBonus="2"), "h1", "whiteHandicapBonus"),
    ('{"id":"a1","action":"dance"}', "a1", "action"),
    ('{"id":"a2","action":"terminate"}', "a2", "terminateId"),
    ('{"id":"a3","action":"terminate","terminateId":"x","turnNumbers":"1"}', "a3", "turnNumbers"),
]


def test_every_malformed_query_gets_one_error_with_its_id_and_field_and_the_engine_goes_on():
    player = GatedPlayer()
    engine, sink = engine_for(player)
    for line, qid, field_name in BAD:
        before = len(sink.objs)
        engine.handle_line(line)
        new = sink.objs[before:]
        assert len(new) == 1 and "error" in new[0], (line, new)
        assert new[0].get("id") == qid and new[0].get("field") == field_name, (line, new)
    engine.handle_line(q("fine"))
    engine.close()
    assert [o["id"] for o in sink.finals()] == ["fine"] and player.order == [0]


JSONISH = st.recursive(st.none() | st.booleans() | st.integers(-30, 400) | st.floats(allow_nan=True)
                       | st.text(max_size=6) | st.sampled_from(["B", "W", "D4", "pass", "A1", "(1,2)", "chinese"]),
                       lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner,
                                                                                    max_size=3), max_leaves=8)
FIELDS = ["moves", "initialStones", "initialPlayer", "rules", "komi", "boardXSize", "boardYSize", "analyzeTurns",
          "maxVisits", "includeOwnership", "includePolicy", "includeMovesOwnership", "priority", "priorities",
          "reportDuringSearchEvery", "overrideSettings", "action", "terminateId", "turnNumbers", "whiteHandicapBonus"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(changes=st.dictionaries(st.sampled_from(FIELDS), JSONISH, max_size=4), drop=st.sets(st.sampled_from(FIELDS)))
def test_random_queries_never_crash_and_always_answer_by_id(changes, drop):
    player = GatedPlayer()
    engine, sink = engine_for(player, max_visits=4)
    base = json.loads(q("h", boardXSize=5, boardYSize=5))
    base.update(changes)
    for name in drop:
        base.pop(name, None)
    try:
        line = json.dumps(base)
    except ValueError:
        return
    engine.handle_line(line)
    engine.close(timeout=10)
    assert not engine._worker.is_alive()
    assert sink.objs, line
    for o in sink.objs:
        assert o.get("id") == "h", (line, o)  # errors, warnings, answers and echoes all carry the id
    errors = [o for o in sink.objs if "error" in o]
    answers = [o for o in sink.objs if "isDuringSearch" in o or "action" in o]
    nothing_asked = base.get("analyzeTurns") == [] and "action" not in base
    assert (len(errors) == 1 and not answers) or (not errors and (answers or nothing_asked)), (line, sink.objs)


def test_unused_and_unsupported_fields_are_warnings_and_the_query_proceeds():
    engine, sink = engine_for(GatedPlayer())
    engine.handle_line(q("u", fooBar=1, avoidMoves=[], overrideSettings={"wideRootNoise": 0.04}))
    engine.close()
    warnings = {o["field"]: o["warning"] for o in sink.objs if "warning" in o}
    assert set(warnings) == {"fooBar", "avoidMoves", "overrideSettings"} and "wideRootNoise" in warnings[
        "overrideSettings"]
    assert all(o["id"] == "u" for o in sink.objs) and len(sink.finals()) == 1


# -- rules ------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, scoring, ko, suicide, warned", [
    ("chinese", "area_dead_removed", "simple", False, False),
    ("Chinese-OGS", "area_dead_removed", "positional", False, False),
    ("aga", "area_dead_removed", "situational", False, False),
    ("new-zealand", "area_dead_removed", "situational", True, False),
    ("tromp-taylor", "tromp_taylor", "positional", True, False),
    ("japanese", "area_dead_removed", "simple", False, True),
    ("stone-scoring", "area_dead_removed", "simple", False, True),
    ("aga-button", "area_dead_removed", "situational", False, True),
])
def test_rule_names_map_to_the_rules_gozero_plays(name, scoring, ko, suicide, warned):
    rules, warnings = gozero_rules(parse_rules(name), 7.5)
    assert (rules.scoring, rules.ko, rules.suicide) == (scoring, ko, suicide)
    assert bool(warnings) == warned


def test_rules_objects_and_refusals():
    r, w = gozero_rules(parse_rules({"ko": "POSITIONAL", "scoring": "AREA", "suicide": False,
                                     "friendlyPassOk": True}), 6.5)
    assert (r.scoring, r.ko, r.suicide, r.komi, w) == ("area_dead_removed", "positional", False, 6.5, [])
    assert parse_rules({"scoring": "TERRITORY"}).komi == 6.5
    with pytest.raises(QueryError) as exc:
        gozero_rules(parse_rules({"ko": "SPIGHT"}), 7.5)
    assert exc.value.field == "rules" and "SPIGHT" in exc.value.message


def test_strict_rules_refuse_what_gozero_only_approximates():
    engine, sink = engine_for(GatedPlayer(), strict_rules=True)
    engine.handle_line(q("jp", rules="japanese"))
    engine.handle_line(q("cn", rules="chinese"))
    engine.close()
    err = next(o for o in sink.objs if o.get("id") == "jp")
    assert err["field"] == "rules" and "territory" in err["error"]
    assert [o["id"] for o in sink.finals()] == ["cn"]


def test_handicap_bonus_goes_to_komi_and_white_moves_first():
    engine, _ = engine_for(GatedPlayer())
    stones = [["B", "C3"], ["B", "G7"]]
    (chinese,), _ = engine.parse_query(json.loads(q("c", initialStones=stones, komi=0.5)), "c")
    (aga,), _ = engine.parse_query(json.loads(q("a", rules="aga", initialStones=stones, komi=0.5)), "a")
    (tt,), _ = engine.parse_query(json.loads(q("t", rules="tromp-taylor", initialStones=stones, komi=0.5)), "t")
    engine.close()
    assert (chinese.game.rules.komi, aga.game.rules.komi, tt.game.rules.komi) == (2.5, 1.5, 0.5)
    assert chinese.game.to_move == WHITE and chinese.game.rules.scoring == "area_dead_removed"


def test_moves_out_of_turn_and_xy_locations_are_played_as_given():
    engine, _ = engine_for(GatedPlayer())
    (req,), _ = engine.parse_query(json.loads(q("x", moves=[["B", "(0,0)"], ["B", "e5"], ["W", "pass"]],
                                                initialPlayer="W")), "x")
    engine.close()
    g = req.game
    assert g.position.stones[0] == BLACK and g.position.stones[from_gtp("E5", 9)] == BLACK
    assert g.to_move == BLACK and [c for c, _ in g.moves] == [BLACK, BLACK, WHITE]
    assert isinstance(g.rules, Rules)


def test_sym_hash_is_shared_by_symmetric_positions_and_this_hash_is_not():
    def game(*vertices: str) -> Game:
        g = Game(9)
        for v in vertices:
            g.play(from_gtp(v, 9))
        return g

    a, b, c = position_hashes(game("C3")), position_hashes(game("G7")), position_hashes(game("C4"))
    assert a[1] == b[1] and a[0] != b[0]  # a 180 degree turn of each other
    assert c[1] != a[1]
    passed = game("C3", "pass")  # same stones, black to move: another position
    assert position_hashes(passed)[0] != a[0]


# -- KaTrain's queries ----------------------------------------------------------------------
def test_the_query_katrain_sends_gets_every_field_katrain_reads(real_player):
    """The query of KaTrain 1.20's ``KataGoEngine.request_analysis`` (katrain/core/engine.py),
    as it builds it for a 9x9 game with one handicap-free move and its default settings."""
    katrain_query = {
        "rules": "japanese", "priority": 1, "analyzeTurns": [1], "maxVisits": 20, "komi": 6.5,
        "boardXSize": 9, "boardYSize": 9, "includeOwnership": True, "includeMovesOwnership": True,
        "includePolicy": True, "initialStones": [], "initialPlayer": "B", "moves": [["B", "E5"]],
        "overrideSettings": {"reportAnalysisWinratesAs": "BLACK", "wideRootNoise": 0.04, "maxTime": 8.0},
        "id": "QUERY:1",
    }
    engine, sink = engine_for(real_player)
    engine.handle_line(json.dumps(katrain_query))
    engine.close()
    warnings = [o for o in sink.objs if "warning" in o]
    assert {o["field"] for o in warnings} == {"rules", "overrideSettings"}
    (a,) = sink.finals()
    assert a["id"] == "QUERY:1" and a["rootInfo"]["visits"] >= 20
    assert {"scoreLead", "winrate", "visits"} <= set(a["rootInfo"])
    for m in a["moveInfos"]:
        assert {"move", "visits", "winrate", "scoreLead", "prior", "pv", "order", "ownership"} <= set(m)
    assert len(a["ownership"]) == 81 and len(a["policy"]) == 82 and a["policy"][from_gtp("E5", 9)] == -1


def test_max_time_and_max_visits_reach_the_search():
    player = GatedPlayer()
    engine, sink = engine_for(player, max_visits=77, max_time=3.0)
    engine.handle_line(q("d"))
    engine.handle_line(q("o", maxVisits=5, overrideSettings={"maxTime": 0.5}))
    engine.close()
    assert player.seen_limits == [SearchLimits(visits=77, seconds=3.0), SearchLimits(visits=5, seconds=0.5)]


def test_a_failing_search_is_answered_and_the_next_query_served():
    class Failing(GatedPlayer):
        def analyze(self, game, limits=None, on_update=None, stop=None, interval=1.0):
            if not game.moves:
                raise RuntimeError("boom")
            return super().analyze(game, limits, on_update, stop, interval)

    engine, sink = engine_for(Failing())
    engine.handle_line(q("bad"))
    engine.handle_line(q("good", moves=[["B", "A1"]]))
    engine.close()
    err = next(o for o in sink.objs if o.get("id") == "bad")
    assert "boom" in err["error"] and err["turnNumber"] == 0
    assert [o["id"] for o in sink.finals()] == ["good"]


def test_engine_refuses_a_player_that_cannot_analyse():
    from gozero.search.random_player import RandomPlayer

    with pytest.raises(ValueError, match="cannot analyse"):
        AnalysisEngine(RandomPlayer(0), Sink())


# -- the command line -----------------------------------------------------------------------
def test_command_line_serves_queries_from_stdin_with_search_settings(tmp_path):
    from typer.testing import CliRunner

    from gozero.cli import app
    from gozero.train.loop import save_model_file

    player = tiny_player()
    path = tmp_path / "tiny.pt"
    save_model_file(player.ev.model, player.ev.model.cfg, path, step=3)
    cfg = tmp_path / "search.toml"
    cfg.write_text('[search]\nalgorithm = "puct"\nleaves_per_game = 2\n')
    lines = DOC_QUERY.replace('"analyzeTurns":[0,1,2]', '"analyzeTurns":[2],"maxVisits":12') + "\n" \
        + '{"id":"v","action":"query_version"}\nnot json\n'
    result = CliRunner().invoke(app, ["analysis", "--model", str(path), "--config", str(cfg), "--set",
                                      "search.fpu_reduction=0.1", "--device", "cpu"], input=lines)
    assert result.exit_code == 0, result.output
    objs = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    kinds = sorted("error" if "error" in o else o.get("action", "analysis") for o in objs)
    assert kinds == ["analysis", "error", "query_version"]
    a = next(o for o in objs if o.get("id") == "foo")
    assert a["turnNumber"] == 2 and a["rootInfo"]["visits"] >= 12
    bad = CliRunner().invoke(app, ["analysis", "--model", str(path), "--set", "search.no_such_key=1"], input="")
    assert bad.exit_code == 2 and "no_such_key" in bad.output


def test_analysis_dataclass_fields_are_read_as_given():
    """The engine reports MoveInfo's own per-move values (the search fills them)."""
    class Fixed(GatedPlayer):
        def analyze(self, game, limits=None, on_update=None, stop=None, interval=1.0):
            moves = [MoveInfo(move=from_gtp("C3", 5), visits=30, winrate=0.7, prior=0.4, score_lead=3.0,
                              pv=[from_gtp("C3", 5), from_gtp("D4", 5)], score_stdev=2.0, lcb=0.65),
                     MoveInfo(move=from_gtp("B2", 5), visits=10, winrate=0.4, prior=0.2, score_lead=-1.0,
                              pv=[from_gtp("B2", 5)], score_stdev=1.0, lcb=0.3)]
            return Analysis(moves=moves, policy=np.full(26, 1 / 26), winrate=0.62, score_lead=2.0,
                            ownership=np.zeros(25), visits=40)

    engine, sink = engine_for(Fixed(), perspective="SIDETOMOVE")
    engine.handle_line(q("f", boardXSize=5, boardYSize=5))
    engine.close()
    (o,) = sink.finals()
    first, second = o["moveInfos"]
    assert (first["move"], first["scoreLead"], first["scoreStdev"], first["lcb"]) == ("C3", 3.0, 2.0, 0.65)
    assert first["pv"] == ["C3", "D4"] and second["order"] == 1 and second["scoreLead"] == -1.0
    # the root's spread: the mixture of the two moves' subtrees (weights 3/4 and 1/4)
    mean = 0.75 * 3 + 0.25 * -1
    expected = np.sqrt(0.75 * (4 + (3 - mean) ** 2) + 0.25 * (1 + (-1 - mean) ** 2))
    assert o["rootInfo"]["scoreStdev"] == pytest.approx(expected)
    assert o["rootInfo"]["winrate"] == 0.62 and o["rootInfo"]["currentPlayer"] == "B"


@pytest.mark.slow
def test_engine_process_answers_while_it_searches_and_finishes_the_queue_at_end_of_input(tmp_path):
    """A real `gozero analysis` process on pipes: query_version is answered while a long
    search runs, terminate ends it, and closing stdin still serves the queued query."""
    import os
    import queue
    import subprocess
    import sys
    from pathlib import Path

    from gozero.train.loop import save_model_file

    player = tiny_player()
    path = tmp_path / "tiny.pt"
    save_model_file(player.ev.model, player.ev.model.cfg, path)
    code = "import typer; from gozero.play.analysis_cli import analysis; typer.run(analysis)"
    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(repo / "src"), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-c", code, "--model", str(path), "--device", "cpu"], cwd=repo, env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(json.loads(x)) for x in proc.stdout], daemon=True).start()

    def send(obj) -> None:
        proc.stdin.write((obj if isinstance(obj, str) else json.dumps(obj)) + "\n")
        proc.stdin.flush()

    def next_answer(pred, timeout: float = 60.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            obj = lines.get(timeout=max(0.01, deadline - time.monotonic()))
            if pred(obj):
                return obj

    try:
        send(q("long", boardXSize=5, boardYSize=5, maxVisits=10**7, reportDuringSearchEvery=0.2))
        next_answer(lambda o: o.get("id") == "long" and o["isDuringSearch"])
        send({"id": "v", "action": "query_version"})
        assert next_answer(lambda o: o.get("id") == "v")["action"] == "query_version"
        send({"id": "t", "action": "terminate", "terminateId": "long"})
        final = next_answer(lambda o: o.get("id") == "long" and not o.get("isDuringSearch", True))
        assert final["rootInfo"]["visits"] > 0
        send(q("last", boardXSize=5, boardYSize=5, maxVisits=8))
        proc.stdin.close()
        assert next_answer(lambda o: o.get("id") == "last")["rootInfo"]["visits"] >= 8
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
