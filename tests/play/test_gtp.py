"""The GTP engine against the GTP 2 spec: scripted sessions in-process and through
``python -m gozero.cli gtp``, analysis output formats (with a fake analysis player),
time control, handicap, SGF round trips, bad input, and a real game against GNU Go."""

from __future__ import annotations

import io
import os
import queue
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gozero.play.gtp import Color, GtpEngine, GtpError, GtpProtocol, free_handicap_points
from gozero.play.timecontrol import TimeControl
from gozero.rules import BLACK, WHITE, Game, Rules, from_gtp, to_gtp
from gozero.search.player import Analysis, MoveInfo, SearchLimits
from gozero.search.random_player import RandomPlayer

REPO = Path(__file__).resolve().parents[2]
VERTEX = r"(?:pass|[A-HJ-T](?:1[0-9]|[1-9]))"
FLOAT = r"-?\d+\.\d+"
LZ_INFO = re.compile(rf"move ({VERTEX}) visits (\d+) winrate (\d+) prior (\d+) order (\d+) pv((?: {VERTEX})+)")
KATA_INFO = re.compile(rf"move ({VERTEX}) visits (\d+) utility ({FLOAT}) winrate ({FLOAT}) scoreMean ({FLOAT}) "
                       rf"scoreLead ({FLOAT}) prior ({FLOAT}) order (\d+) pv((?: {VERTEX})+)")
RESPONSE = re.compile(r"^([=?])(\d*)(?:[ \n](.*))?$", re.S)


# ------------------------------------------------------------------------------------------
# test doubles


class FakeAnalysisPlayer:
    """Deterministic analysis player: the first legal points in order, fixed statistics;
    ownership says the side to move owns the whole board (so the opponent's stones are dead).
    It sends ``updates`` analyses ``interval`` seconds apart, or until ``stop`` is set."""

    name = "fake-analysis"

    def __init__(self, updates: int = 400, n_moves: int = 4, ownership: bool = True):
        self.updates, self.n_moves, self.with_ownership = updates, n_moves, ownership
        self.limits = SearchLimits(visits=16)
        self.seen_seconds: list[float | None] = []
        self.analysed_turns: list[int] = []

    def build(self, game: Game, step: int) -> Analysis:
        nn = game.position.geo.nn
        legal = [m for m in game.legal_moves() if m != nn][: self.n_moves] + [nn]
        infos = []
        for i, m in enumerate(legal):
            pv = [m] + [x for x in legal if x != m][:2]
            infos.append(MoveInfo(move=m, visits=max(0, 10 + step - 3 * i), winrate=0.6 - 0.05 * i,
                                  prior=0.4 / (i + 1), score_lead=2.5 - i, pv=pv))
        policy = np.zeros(nn + 1, np.float32)
        policy[legal] = 1.0 / len(legal)
        own = np.ones(nn, np.float32) if self.with_ownership else None
        return Analysis(moves=infos, policy=policy, winrate=0.6, score_lead=2.5, ownership=own,
                        visits=sum(m.visits for m in infos))

    def analyze(self, game: Game, limits: SearchLimits | None = None, on_update=None,
                stop: threading.Event | None = None, interval: float = 1.0) -> Analysis:
        self.seen_seconds.append(limits.seconds if limits is not None else None)
        self.analysed_turns.append(game.to_move)
        step = 0
        if on_update is not None:
            for step in range(self.updates):  # noqa: B007
                if stop is not None and stop.is_set():
                    break
                on_update(self.build(game, step))
                if stop is not None:
                    stop.wait(interval)
                else:
                    time.sleep(interval)
        return self.build(game, step + 1)

    def genmove(self, game: Game, limits: SearchLimits | None = None) -> int:
        self.seen_seconds.append(limits.seconds if limits is not None else None)
        return self.build(game, 0).moves[0].move


class ClockedRandomPlayer(RandomPlayer):
    """A random player with the default limits a search player has."""

    def __init__(self, seed: int = 0):
        super().__init__(seed)
        self.limits = SearchLimits(visits=100)
        self.seen: list[float | None] = []

    def genmove(self, game: Game, limits: SearchLimits | None = None) -> int:
        self.seen.append(limits.seconds if limits is not None else None)
        return super().genmove(game, limits)


# ------------------------------------------------------------------------------------------
# helpers


def make_engine(player=None, size: int = 9, komi: float = 7.5) -> GtpEngine:
    return GtpEngine(player if player is not None else RandomPlayer(0), size=size, komi=komi, out=io.StringIO())


def parse(response: str) -> tuple[bool, str, str]:
    """(success, id, text) of one complete GTP response; fails on a malformed one."""
    assert response.endswith("\n\n"), repr(response)
    body = response[:-2]
    assert "\n\n" not in body, repr(response)
    m = RESPONSE.match(body)
    assert m, repr(response)
    text = m.group(3) if m.group(3) is not None else ""
    return m.group(1) == "=", m.group(2), text


def ok(engine: GtpEngine, line: str) -> str:
    success, _, text = parse(engine.handle(line))
    assert success, f"{line!r} failed: {text}"
    return text


def err(engine: GtpEngine, line: str) -> str:
    success, _, text = parse(engine.handle(line))
    assert not success, f"{line!r} should fail but answered {text!r}"
    return text


def stones(engine: GtpEngine, color: str) -> set[str]:
    return set(ok(engine, f"list_stones {color}").split())


class LineFeeder:
    """A blocking input stream for `GtpEngine.run`: lines are put in by the test."""

    def __init__(self) -> None:
        self.q: queue.Queue[str | None] = queue.Queue()

    def put(self, line: str | None) -> None:
        self.q.put(line)

    def __iter__(self) -> Iterator[str]:
        while True:
            line = self.q.get()
            if line is None:
                return
            yield line


class Recorder(io.StringIO):
    """An output stream that lets a test wait for text to appear."""

    def __init__(self) -> None:
        super().__init__()
        self.cond = threading.Condition()

    def write(self, s: str) -> int:
        with self.cond:
            n = super().write(s)
            self.cond.notify_all()
            return n

    def wait_for(self, predicate, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        with self.cond:
            while not predicate(self.getvalue()):
                left = deadline - time.monotonic()
                assert left > 0, f"timed out; output so far: {self.getvalue()[-2000:]!r}"
                self.cond.wait(left)
            return self.getvalue()


def run_engine(player, size: int = 9) -> tuple[GtpEngine, LineFeeder, Recorder, threading.Thread]:
    out = Recorder()
    engine = GtpEngine(player, size=size, out=out)
    feeder = LineFeeder()
    thread = threading.Thread(target=engine.run, args=(feeder,), daemon=True)
    thread.start()
    return engine, feeder, out, thread


# ------------------------------------------------------------------------------------------
# protocol basics


def test_ids_success_and_failure_format() -> None:
    e = make_engine()
    assert e.handle("protocol_version") == "= 2\n\n"
    assert e.handle("7 name") == "=7 gozero\n\n"
    assert e.handle("12 version").startswith("=12 ")
    assert e.handle("13 frobnicate") == "?13 unknown command\n\n"
    assert e.handle("boardsize 9") == "=\n\n"
    assert e.handle("99 boardsize x") == "?99 syntax error\n\n"


def test_preprocessing_comments_blank_lines_control_characters() -> None:
    e = make_engine()
    assert e.handle("") == ""
    assert e.handle("   \t ") == ""
    assert e.handle("# just a comment") == ""
    assert e.handle("3 name # trailing comment") == "=3 gozero\n\n"
    assert e.handle("na\x01me\r\n") == "= gozero\n\n"
    assert e.handle("4\tknown_command\tplay") == "=4 true\n\n"
    assert e.handle("5") == "?5 syntax error\n\n"


def test_list_commands_and_known_command_agree() -> None:
    e = make_engine()
    listed = ok(e, "list_commands").split("\n")
    assert len(listed) == len(set(listed))
    required = {"protocol_version", "name", "version", "known_command", "list_commands", "quit", "boardsize",
                "clear_board", "komi", "play", "genmove", "undo", "showboard", "fixed_handicap",
                "place_free_handicap", "set_free_handicap", "final_score", "final_status_list", "loadsgf",
                "printsgf", "list_stones", "is_legal", "all_legal", "time_settings", "time_left",
                "kgs-time_settings", "kgs-genmove_cleanup", "lz-analyze", "kata-analyze", "lz-genmove_analyze",
                "kata-genmove_analyze"}
    assert required <= set(listed)
    for name in listed:
        assert ok(e, f"known_command {name}") == "true"
    for name in ("foo", "genmove_black", "lz_analyze", "kgs_genmove_cleanup"):
        assert ok(e, f"known_command {name}") == "false"
    # every listed command is dispatched (it may fail on missing arguments, never "unknown")
    for name in listed:
        if name == "quit":
            continue
        _, _, text = parse(e.handle(name))
        assert text != "unknown command", name


def test_quit_ends_run_and_eof_ends_run() -> None:
    out = io.StringIO()
    engine = GtpEngine(RandomPlayer(0), size=9, out=out)
    engine.run(io.StringIO("1 name\n2 quit\n3 name\n"))
    assert out.getvalue() == "=1 gozero\n\n=2\n\n"
    out2 = io.StringIO()
    GtpEngine(RandomPlayer(0), size=9, out=out2).run(io.BytesIO(b"name\nversion"))
    assert out2.getvalue().count("\n\n") == 2


class Arithmetic:
    """A command family for the protocol test: arguments come from the annotations."""

    def __init__(self) -> None:
        self.colours: list[int] = []

    def cmd_add(self, a: int, b: float = 0.5) -> str:
        return f"{a + b:g}"

    def cmd_words(self, first: str, *rest: str) -> str:
        return "|".join([first, *rest])

    def cmd_kgs_colour(self, color: Color) -> str:
        self.colours.append(color)
        return ""

    def cmd_fail(self) -> str:
        raise GtpError("cannot do that", "because the test says so")


def test_protocol_dispatches_to_registered_families(caplog) -> None:
    proto = GtpProtocol(out=io.StringIO())
    family = Arithmetic()
    proto.register(family)
    assert set(proto.commands) == {"add", "words", "kgs-colour", "fail"}
    assert proto.handle("1 add 2") == "=1 2.5\n\n"
    assert proto.handle("add 2 3.25") == "= 5.25\n\n"
    assert proto.handle("words a b c") == "= a|b|c\n\n"
    assert proto.handle("kgs-colour WHITE") == "=\n\n" and family.colours == [WHITE]
    for bad in ("add", "add x", "add 1 2 3", "add 1 nan", "words", "kgs-colour red", "kgs-colour"):
        assert proto.handle(bad) == "? syntax error\n\n", bad
    with caplog.at_level("INFO", logger="gozero.gtp"):
        assert proto.handle("7 fail") == "?7 cannot do that\n\n"
    assert "because the test says so" in caplog.text  # the reason is logged, the spec's words answered
    with pytest.raises(ValueError, match="twice"):
        proto.register(Arithmetic())


def test_engine_errors_log_their_reason(caplog) -> None:
    e = make_engine()
    ok(e, "play b E5")
    with caplog.at_level("INFO", logger="gozero.gtp"):
        assert err(e, "play w E5") == "illegal move"
        assert err(e, "play w Z99") == "illegal move"
        assert err(e, "boardsize 25") == "unacceptable size"
    assert "occupied" in caplog.text.lower() and "off a 9x9 board" in caplog.text and "outside 2..19" in caplog.text


# ------------------------------------------------------------------------------------------
# board, moves, undo


def test_boardsize_range_and_clearing() -> None:
    e = make_engine()
    for size in (2, 5, 9, 13, 19):
        ok(e, f"boardsize {size}")
        assert ok(e, "all_legal b").split().__len__() == size * size
    ok(e, "play b A1")
    ok(e, "boardsize 9")
    assert stones(e, "black") == set()
    for bad in ("1", "20", "0", "-3", "25"):
        assert err(e, f"boardsize {bad}") == "unacceptable size"
    assert err(e, "boardsize nine") == "syntax error"
    assert err(e, "boardsize") == "syntax error"
    assert err(e, "boardsize 9 9") == "syntax error"


def test_play_errors() -> None:
    e = make_engine()
    ok(e, "play b E5")
    assert err(e, "play w E5") == "illegal move"
    assert err(e, "play w Z99") == "illegal move"
    assert err(e, "play w A10") == "illegal move"
    assert err(e, "play w J0") == "illegal move"
    assert err(e, "play x D4") == "syntax error"
    assert err(e, "play w I5") == "syntax error"
    assert err(e, "play b") == "syntax error"
    assert err(e, "play b D4 extra") == "syntax error"
    assert err(e, "play b 44") == "syntax error"
    ok(e, "play white pass")
    ok(e, "play BLACK d4")  # case-insensitive colours and vertices
    assert "D4" in stones(e, "black")


def test_suicide_and_ko_are_illegal() -> None:
    e = make_engine()
    for line in ("play b B1", "play b A2"):
        ok(e, line)
    assert err(e, "play w A1") == "illegal move"  # suicide
    assert ok(e, "is_legal w A1") == "0"
    ok(e, "clear_board")
    # ko: black takes at B2... build: W at B1? use shape around B8
    for line in ("play b B9", "play w C9", "play b A8", "play w B8", "play b B7", "play w C7",
                 "play b J1", "play w D8", "play b C8"):
        ok(e, line)
    assert "B8" not in stones(e, "white")
    assert ok(e, "is_legal w B8") == "0"
    assert err(e, "play w B8") == "illegal move"
    ok(e, "play w J2")
    ok(e, "play b J3")
    ok(e, "play w B8")  # after a ko threat exchange the retake is legal


def test_undo_any_depth() -> None:
    e = make_engine(RandomPlayer(5))
    snapshots = []
    for i in range(24):
        snapshots.append((stones(e, "black"), stones(e, "white")))
        ok(e, f"genmove {'b' if i % 2 == 0 else 'w'}")
    for i in reversed(range(24)):
        ok(e, "undo")
        assert (stones(e, "black"), stones(e, "white")) == snapshots[i]
    assert err(e, "undo") == "cannot undo"
    assert err(e, "undo 1") == "syntax error"


def test_showboard_shows_stones() -> None:
    e = make_engine()
    ok(e, "play b C3")
    ok(e, "play w G7")
    board = ok(e, "showboard")
    assert "X" in board and "O" in board and "\n" in board
    assert board.count("\n") >= 11


def test_is_legal_all_legal_list_stones() -> None:
    e = make_engine()
    ok(e, "play b E5")
    legal = ok(e, "all_legal w").split()
    assert len(legal) == 80 and "E5" not in legal
    assert ok(e, "is_legal w E5") == "0"
    assert ok(e, "is_legal w E6") == "1"
    assert ok(e, "is_legal w Z30") == "0"
    assert err(e, "is_legal w") == "syntax error"
    assert stones(e, "b") == {"E5"} and stones(e, "w") == set()


def test_random_genmove_always_legal_until_game_ends() -> None:
    e = make_engine(RandomPlayer(11))
    mirror = Game(9, Rules(komi=7.5))
    color, passes, n = BLACK, 0, 0
    while passes < 2 and n < 400:
        answer = ok(e, f"genmove {'b' if color == BLACK else 'w'}")
        move = from_gtp(answer, 9)
        mirror.play(move, color)  # raises IllegalMove if the engine played an illegal move
        passes = passes + 1 if answer == "pass" else 0
        color = WHITE if color == BLACK else BLACK
        n += 1
    assert passes == 2
    assert f"RE[{mirror.result_string()}]" in ok(e, "printsgf")
    assert stones(e, "black") == {to_gtp(int(p), 9) for p in np.flatnonzero(mirror.position.stones == BLACK)}
    assert ok(e, "final_score") == mirror.result_string()


def test_genmove_for_the_side_not_to_move() -> None:
    e = make_engine(RandomPlayer(1))
    move = ok(e, "genmove w")
    assert stones(e, "white") == {move}
    ok(e, "genmove w")
    assert len(stones(e, "white")) == 2 and not stones(e, "black")
    assert err(e, "genmove") == "syntax error"
    assert err(e, "genmove purple") == "syntax error"


def test_genmove_resign_is_answered_resign() -> None:
    class Resigner:
        name = "resigner"

        def genmove(self, game: Game, limits=None) -> int:
            return -1

    e = make_engine(Resigner())
    assert ok(e, "genmove b") == "resign"
    assert not stones(e, "black")


def test_illegal_move_from_player_becomes_pass() -> None:
    class Broken:
        name = "broken"

        def genmove(self, game: Game, limits=None) -> int:
            return 0

    e = make_engine(Broken())
    assert ok(e, "genmove b") == "A9"
    assert ok(e, "genmove w") == "pass"


# ------------------------------------------------------------------------------------------
# handicap


@pytest.mark.parametrize("size,n,expected", [
    (19, 9, {"D4", "Q16", "D16", "Q4", "D10", "Q10", "K4", "K16", "K10"}),
    (19, 2, {"D4", "Q16"}),
    (19, 5, {"D4", "Q16", "D16", "Q4", "K10"}),
    (13, 4, {"D4", "K10", "D10", "K4"}),
    (9, 3, {"C3", "G7", "C7"}),
])
def test_fixed_handicap_spec_placements(size: int, n: int, expected: set[str]) -> None:
    e = make_engine(size=size)
    answer = ok(e, f"fixed_handicap {n}").split()
    assert set(answer) == expected and len(answer) == n
    assert stones(e, "black") == expected
    move = ok(e, "genmove w")  # white moves next
    assert move in stones(e, "white") or move == "pass"


def test_fixed_handicap_errors() -> None:
    e = make_engine(size=19)
    assert err(e, "fixed_handicap 10") == "invalid number of stones"
    assert err(e, "fixed_handicap 1") == "invalid number of stones"
    assert err(e, "fixed_handicap x") == "syntax error"
    ok(e, "play b D4")
    assert err(e, "fixed_handicap 2") == "board not empty"
    e2 = make_engine(size=10)
    assert err(e2, "fixed_handicap 5") == "invalid number of stones"  # even sizes: at most 4
    assert len(ok(e2, "fixed_handicap 4").split()) == 4
    e3 = make_engine(size=5)
    assert err(e3, "fixed_handicap 2") == "invalid number of stones"


def test_place_free_handicap() -> None:
    for size, n in ((19, 9), (9, 5), (9, 20), (5, 3), (2, 3), (19, 15)):
        e = make_engine(size=size)
        answer = ok(e, f"place_free_handicap {n}").split()
        assert len(answer) == n == len(set(answer))
        assert stones(e, "black") == set(answer)
        assert "pass" not in answer
    e = make_engine(size=9)
    assert err(e, "place_free_handicap 1") == "invalid number of stones"
    assert err(e, "place_free_handicap 81") == "invalid number of stones"
    ok(e, "place_free_handicap 2")
    assert err(e, "place_free_handicap 2") == "board not empty"
    assert len(set(free_handicap_points(19, 30))) == 30


def test_set_free_handicap() -> None:
    e = make_engine()
    ok(e, "set_free_handicap C3 G7 E5")
    assert stones(e, "black") == {"C3", "G7", "E5"}
    assert err(e, "set_free_handicap D4 D5") == "board not empty"
    for bad in ("C3 C3", "C3 pass", "C3", "C3 Z9", "C3 xx", ""):
        e = make_engine()
        assert err(e, f"set_free_handicap {bad}") == "bad vertex list", bad
        assert not stones(e, "black")


# ------------------------------------------------------------------------------------------
# scoring


def test_final_score_tromp_taylor() -> None:
    e = make_engine(komi=7.5)
    assert ok(e, "final_score") == "W+7.5"
    ok(e, "komi 0")
    assert ok(e, "final_score") == "0"
    ok(e, "play b E5")
    assert ok(e, "final_score") == "B+81"
    ok(e, "komi 6.5")
    ok(e, "play w C3")
    assert ok(e, "final_score") == "W+6.5"  # no territory for anyone: 1 - 1 - 6.5
    assert ok(e, "final_status_list dead") == ""
    assert set(ok(e, "final_status_list alive").split()) == {"E5", "C3"}
    assert ok(e, "final_status_list seki") == ""
    assert err(e, "final_status_list zombie") == "syntax error"
    assert err(e, "komi lots") == "syntax error"
    assert err(e, "komi nan") == "syntax error"


def test_final_status_from_ownership() -> None:
    e = make_engine(FakeAnalysisPlayer(), komi=7.5)
    ok(e, "play b E5")
    ok(e, "play w C3")
    ok(e, "play w D3")
    ok(e, "play w G7")  # black to move (each play passes the turn to the other colour)
    # the fake says the side to move owns everything -> white stones are dead
    dead = ok(e, "final_status_list dead")
    assert set(dead.split()) == {"C3", "D3", "G7"}
    assert sorted(dead.split("\n")) == ["C3 D3", "G7"]  # one string per line
    assert ok(e, "final_status_list alive").split() == ["E5"]
    assert ok(e, "final_score") == "B+73.5"


def test_tromp_taylor_rules_count_every_stone() -> None:
    e = GtpEngine(FakeAnalysisPlayer(), size=9, komi=7.5, out=io.StringIO(), rules=Rules(scoring="tromp_taylor"))
    for line in ("play b E5", "play w C3", "play w D3", "play w G7"):
        ok(e, line)
    # the same position as above: the ownership says the white stones are dead, the count keeps them
    assert ok(e, "final_status_list dead") == ""
    assert set(ok(e, "final_status_list alive").split()) == {"E5", "C3", "D3", "G7"}
    assert ok(e, "final_score") == e.game.result_string()
    assert ok(e, "final_score") != "B+73.5"


def test_area_rules_are_the_default_and_survive_new_games() -> None:
    e = make_engine(FakeAnalysisPlayer())
    assert e.game.rules.scoring == "area_dead_removed"
    ok(e, "komi 6.5")
    ok(e, "boardsize 13")
    ok(e, "clear_board")
    assert e.game.rules.scoring == "area_dead_removed" and e.game.rules.komi == 6.5


def test_kgs_rules() -> None:
    e = GtpEngine(FakeAnalysisPlayer(), size=9, komi=6.5, out=io.StringIO(), rules=Rules(scoring="tromp_taylor"))
    assert ok(e, "known_command kgs-rules") == "true"
    ok(e, "kgs-rules chinese")
    assert e.game.rules == Rules(komi=6.5, ko="positional", suicide=False, scoring="area_dead_removed")
    ok(e, "kgs-rules new_zealand")
    assert e.game.rules.suicide and e.game.rules.scoring == "area_dead_removed"
    ok(e, "kgs-rules aga")
    assert e.game.rules.ko == "situational" and not e.game.rules.suicide
    ok(e, "kgs-rules japanese")
    assert e.game.rules.ko == "simple" and e.game.rules.scoring == "area_dead_removed"
    ok(e, "clear_board")  # KGS sends the rules first, then sets the board up
    ok(e, "komi 0.5")
    assert e.game.rules == Rules(komi=0.5, ko="simple", suicide=False, scoring="area_dead_removed")
    assert err(e, "kgs-rules ing") == "unknown rules"
    assert err(e, "kgs-rules") == "syntax error"
    assert err(e, "kgs-rules chinese japanese") == "syntax error"
    assert e.game.rules.ko == "simple"  # a refused command changes nothing
    for line in ("play b E5", "play w C3", "play w D3", "play w G7"):
        ok(e, line)
    assert ok(e, "final_score") == "B+80.5"  # area with the dead white stones removed, komi 0.5


def test_cleanup_genmove_captures_dead_stones_before_passing() -> None:
    class PassingAnalyst(FakeAnalysisPlayer):
        def genmove(self, game: Game, limits=None) -> int:
            return game.position.geo.nn

    e = make_engine(PassingAnalyst())
    ok(e, "play w E5")
    move = ok(e, "kgs-genmove_cleanup b")
    assert move in {"E4", "E6", "D5", "F5"}
    assert ok(e, "genmove b") == "pass"


# ------------------------------------------------------------------------------------------
# SGF


def test_printsgf_loadsgf_round_trip(tmp_path: Path) -> None:
    e = make_engine(RandomPlayer(3), komi=6.5)
    ok(e, "fixed_handicap 2")
    for i in range(30):
        ok(e, f"genmove {'w' if i % 2 == 0 else 'b'}")
    sgf_text = ok(e, "printsgf")
    assert sgf_text.startswith("(;") and "HA[2]" in sgf_text and "KM[6.5]" in sgf_text
    path = tmp_path / "game.sgf"
    path.write_text(sgf_text)
    e2 = make_engine(size=19, komi=0)
    ok(e2, f"loadsgf {path}")
    for color in ("black", "white"):
        assert stones(e2, color) == stones(e, color)
    assert ok(e2, "final_score") == ok(e, "final_score")
    assert ok(e2, "printsgf").replace("PW[gozero 0.1.0]", "").replace("PB[gozero 0.1.0]", "") == \
        sgf_text.replace("PW[gozero 0.1.0]", "").replace("PB[gozero 0.1.0]", "")
    # loadsgf FILE N: the position before move N
    ok(e2, f"loadsgf {path} 5")
    assert len(e2.game.moves) == 4
    ok(e2, "undo")
    assert len(e2.game.moves) == 3
    # printsgf FILE writes the file
    out_path = tmp_path / "out.sgf"
    ok(e, f"printsgf {out_path}")
    assert out_path.read_text().strip() == sgf_text.strip()


def test_loadsgf_errors(tmp_path: Path) -> None:
    e = make_engine()
    missing = err(e, f"loadsgf {tmp_path / 'missing.sgf'}")
    assert missing.startswith("cannot load file: cannot read") and "No such file" in missing
    bad = tmp_path / "bad.sgf"
    bad.write_text("(;GM[1]SZ[9]C[a review];C[start];B[ee];W[dd];B[cc];W[ee])")
    # the reader's message: node, move, point and reason, on one line
    assert err(e, f"loadsgf {bad}") == "cannot load file: node 5: move 4 (W at ee): illegal move: point occupied"
    bad.write_text("(;GM[1]SZ[9];B[ee];W[dd];AW[ba][ab]AB[aa])")
    assert err(e, f"loadsgf {bad}") == "cannot load file: node 3: setup leaves the B stone at aa without liberties"
    bad.write_text("(;GM[1]SZ[9]\n;B[ee]\n;W[d")
    assert err(e, f"loadsgf {bad}").startswith("cannot load file: SGF syntax error at line 3")
    assert err(e, f"loadsgf {tmp_path}").startswith("cannot load file: cannot read")
    assert e.game.moves == []  # a failed load leaves the game as it was
    assert err(e, "loadsgf") == "syntax error"
    assert err(e, f"loadsgf {bad} x") == "syntax error"
    assert err(e, f"loadsgf {bad} 0") == "syntax error"
    ok(e, "name")  # still alive


def test_loadsgf_reads_what_real_files_hold(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "review.sgf"
    # two games in one file, a pass as tt, setup after move 2
    path.write_text("(;GM[1]FF[4]SZ[9]KM[7];B[ee];W[cc];AE[ee]AB[gg];W[tt];B[cg])\n"
                    "(;GM[1]SZ[9];B[aa])\n")
    e = make_engine()
    with caplog.at_level("WARNING"):
        ok(e, f"loadsgf {path}")
    assert stones(e, "black") == {"G3", "C3"} and stones(e, "white") == {"C7"}
    messages = [r.getMessage() for r in caplog.records]
    assert any("setup stones after move 2" in m for m in messages)
    assert any("2 games; only the first" in m for m in messages)
    path.write_text("(;GM[1]FF[4]SZ[9]KM[7];B[ee];W[cc]\n")  # cut short of its ')'
    ok(e, f"loadsgf {path}")
    assert stones(e, "black") == {"E5"} and stones(e, "white") == {"C7"}


def test_loadsgf_keeps_engine_komi_when_record_has_none(tmp_path: Path) -> None:
    path = tmp_path / "nokomi.sgf"
    path.write_text("(;GM[1]SZ[13];B[dd])")
    e = make_engine(komi=5.5)
    ok(e, f"loadsgf {path}")
    assert e.game.rules.komi == 5.5 and e.size == 13
    assert ok(e, "final_score") == "B+163.5"  # 169 - 5.5


# ------------------------------------------------------------------------------------------
# time


def test_time_commands_syntax() -> None:
    e = make_engine()
    ok(e, "time_settings 300 30 5")
    ok(e, "time_settings 0 0 0")
    ok(e, "time_left b 100 0")
    ok(e, "time_left white 20 3")
    for bad in ("time_settings 300 30", "time_settings a b c", "time_settings -1 0 0", "time_left b 10",
                "time_left x 10 0", "time_left b -5 0", "kgs-time_settings", "kgs-time_settings sudden 10",
                "kgs-time_settings byoyomi 60 10", "kgs-time_settings absolute x"):
        assert err(e, bad) == "syntax error", bad
    for good in ("kgs-time_settings none", "kgs-time_settings absolute 600", "kgs-time_settings byoyomi 60 10 3",
                 "kgs-time_settings canadian 60 30 10"):
        ok(e, good)


def test_time_settings_interpretation() -> None:
    assert TimeControl.from_gtp(0, 10, 0).kind == "none"  # byo-yomi time without stones: no limit
    assert TimeControl.from_gtp(60, 0, 0).kind == "absolute"
    assert TimeControl.from_gtp(60, 30, 5).kind == "canadian"
    assert TimeControl.from_gtp(0, 0, 0).kind == "none"
    assert TimeControl.from_kgs(["byoyomi", "60", "10", "3"]).byo_periods == 3
    assert TimeControl.from_kgs(["canadian", "60", "30", "0"]).kind == "absolute"


def test_budget_spreads_main_time_and_respects_byoyomi() -> None:
    tc = TimeControl.from_gtp(120, 0, 0)
    b0 = tc.budget(BLACK, 0, 81)
    assert 0 < b0 < 120 / 10
    tc.time_left(BLACK, 10, 0)
    assert 0 < tc.budget(BLACK, 40, 81) < b0
    assert tc.budget(WHITE, 0, 81) == pytest.approx(b0)  # white's clock is untouched
    canadian = TimeControl.from_gtp(0, 60, 10)
    per = canadian.budget(BLACK, 0, 361)
    assert 0 < per < 6.0
    canadian.time_left(BLACK, 12, 2)
    assert 0 < canadian.budget(BLACK, 50, 361) < 6.0
    japanese = TimeControl.from_kgs(["byoyomi", "0", "10", "3"])
    assert 0 < japanese.budget(BLACK, 0, 81) < 10
    assert TimeControl().budget(BLACK, 0, 81) is None


def test_clock_is_kept_without_time_left() -> None:
    tc = TimeControl.from_gtp(10, 5, 2)
    tc.spend(BLACK, 8)
    assert tc.clocks[BLACK].main == pytest.approx(2)
    tc.spend(BLACK, 3)  # overruns main time, enters byo-yomi with 1 of 5 s used
    clock = tc.clocks[BLACK]
    assert clock.in_byoyomi and clock.period == pytest.approx(4) and clock.stones == 1
    tc.spend(BLACK, 1)  # block done: a fresh period
    assert clock.period == pytest.approx(5) and clock.stones == 2
    tc.reset()
    assert tc.clocks[BLACK].main == 10 and not tc.clocks[BLACK].in_byoyomi


def test_genmove_passes_time_budget_as_limits() -> None:
    player = ClockedRandomPlayer(2)
    e = make_engine(player)
    ok(e, "genmove b")
    assert player.seen[-1] is None  # no time limit: the player's own setting
    ok(e, "time_settings 60 0 0")
    ok(e, "genmove w")
    assert player.seen[-1] is not None and 0 < player.seen[-1] < 60
    assert player.limits.seconds is None  # the player's own limits are never written
    ok(e, "time_left b 5 0")
    ok(e, "genmove b")
    assert 0 < player.seen[-1] < 5
    player.limits = SearchLimits(seconds=0.2)
    e2 = make_engine(player)
    ok(e2, "time_settings 600 0 0")
    ok(e2, "genmove b")
    assert player.seen[-1] == pytest.approx(0.2)  # a --time cap stays a cap
    assert player.limits.seconds == pytest.approx(0.2)


# ------------------------------------------------------------------------------------------
# analysis


def check_lz_line(line: str, size: int = 9) -> list[tuple]:
    assert line.startswith("info move "), line
    chunks = line.split("info ")[1:]
    out = []
    for order, chunk in enumerate(chunks):
        m = LZ_INFO.fullmatch(chunk.strip())
        assert m, chunk
        assert int(m.group(5)) == order
        assert 0 <= int(m.group(3)) <= 10000 and 0 <= int(m.group(4)) <= 10000
        assert m.group(6).split()[0] == m.group(1)  # the pv starts with the move
        out.append(m.groups())
    return out


def check_kata_line(line: str, size: int = 9, ownership: bool = False) -> list[tuple]:
    assert line.startswith("info move "), line
    own = None
    if ownership:
        assert " ownership " in line
        line, own_text = line.split(" ownership ")
        own = [float(x) for x in own_text.split()]
        assert len(own) == size * size and all(-1 <= v <= 1 for v in own)
    else:
        assert "ownership" not in line
    out = []
    for order, chunk in enumerate(line.split("info ")[1:]):
        m = KATA_INFO.fullmatch(chunk.strip())
        assert m, chunk
        assert int(m.group(8)) == order
        assert 0 <= float(m.group(4)) <= 1 and 0 <= float(m.group(7)) <= 1
        assert m.group(9).split()[0] == m.group(1)
        out.append(m.groups())
    return out


def test_format_regexes_reject_wrong_formats() -> None:
    with pytest.raises(AssertionError):
        check_lz_line("info move D4 visits 12 winrate 0.53 prior 1200 order 0 pv D4")
    with pytest.raises(AssertionError):
        check_lz_line("info move I4 visits 12 winrate 5300 prior 1200 order 0 pv I4")
    with pytest.raises(AssertionError):
        check_kata_line("info move D4 visits 12 winrate 5300 prior 1200 order 0 pv D4")


def test_analysis_needs_a_model() -> None:
    e = make_engine(RandomPlayer(0))
    for cmd in ("lz-analyze b 10", "kata-analyze 10", "lz-genmove_analyze b 10", "kata-genmove_analyze w 5"):
        assert err(e, cmd) == "analysis needs a model"


def test_lz_analyze_streams_until_next_line() -> None:
    engine, feeder, out, thread = run_engine(FakeAnalysisPlayer())
    feeder.put("play b E5\n")
    feeder.put("5 lz-analyze w 2\n")
    text = out.wait_for(lambda s: s.count("\ninfo move") >= 3)
    assert text.startswith("=\n\n=5\n")
    feeder.put("6 name\n")
    text = out.wait_for(lambda s: "=6 gozero\n\n" in s)
    feeder.put(None)
    thread.join(10)
    assert not thread.is_alive()
    body = text.split("=5\n", 1)[1].split("=6 gozero", 1)[0]
    assert body.endswith("\n\n")
    lines = body.strip("\n").split("\n")
    assert len(lines) >= 3
    for line in lines:
        parsed = check_lz_line(line)
        assert "E5" not in [p[0] for p in parsed]  # occupied points are not candidates
        assert parsed[0][2] == "6000" and parsed[0][3] == "4000"


def test_kata_analyze_with_ownership_and_blank_line_stop() -> None:
    engine, feeder, out, thread = run_engine(FakeAnalysisPlayer())
    feeder.put("kata-analyze b interval 3 ownership true minmoves 2 maxmoves 3\n")
    out.wait_for(lambda s: s.count("ownership") >= 2)
    feeder.put("\n")  # a raw newline stops the analysis too
    feeder.put("2 name\n")
    text = out.wait_for(lambda s: "=2 gozero\n\n" in s)
    feeder.put(None)
    thread.join(10)
    body = text.split("=\n", 1)[1].split("=2 gozero", 1)[0]
    assert body.endswith("\n\n")
    for line in body.strip("\n").split("\n"):
        parsed = check_kata_line(line, ownership=True)
        assert 1 <= len(parsed) <= 3


def test_analysis_of_the_side_not_to_move() -> None:
    player = FakeAnalysisPlayer(updates=1)
    e = make_engine(player)
    ok(e, "play b E5")  # white to move
    e.handle("lz-analyze b 0")
    e.handle("kata-analyze 0")
    assert player.analysed_turns == [BLACK, WHITE]
    assert e.game.to_move == WHITE and len(e.game.moves) == 1  # the game itself is untouched


def test_analysis_argument_errors() -> None:
    e = make_engine(FakeAnalysisPlayer(updates=1))
    for bad in ("lz-analyze b x", "kata-analyze ownership maybe", "kata-analyze b 10 frobnicate 3",
                "lz-analyze b 10 minmoves", "lz-analyze b -5"):
        assert err(e, bad) == "syntax error", bad


def test_analyze_in_process_without_input_runs_the_search_out() -> None:
    e = make_engine(FakeAnalysisPlayer(updates=3))
    text = e.handle("4 lz-analyze b 1")
    assert text.startswith("=4\n") and text.endswith("\n\n")
    lines = text[len("=4\n"):-2].split("\n")
    assert len(lines) >= 3
    for line in lines:
        check_lz_line(line)
    # interval 0: only the final line
    text = e.handle("kata-analyze b 0")
    lines = text[len("=\n"):-2].split("\n")
    assert len(lines) == 1
    check_kata_line(lines[0])


@pytest.mark.parametrize("kind", ["lz", "kata"])
def test_genmove_analyze_streams_then_plays(kind: str) -> None:
    player = FakeAnalysisPlayer(updates=3)
    e = make_engine(player)
    ok(e, "play b E5")
    text = e.handle(f"8 {kind}-genmove_analyze w 1")
    assert text.startswith("=8\n") and text.endswith("\n\n")
    lines = text[len("=8\n"):-2].split("\n")
    assert lines[-1].startswith("play ")
    move = lines[-1].split()[1]
    assert move in stones(e, "white")
    assert len(lines) >= 2
    for line in lines[:-1]:
        (check_lz_line if kind == "lz" else check_kata_line)(line)
    assert err(e, "undo 2") == "syntax error"
    ok(e, "undo")
    assert not stones(e, "white")


def test_genmove_analyze_gets_a_time_budget() -> None:
    player = FakeAnalysisPlayer(updates=1)
    e = make_engine(player)
    ok(e, "time_settings 30 0 0")
    e.handle("kata-genmove_analyze b 1")
    assert player.seen_seconds[-1] is not None and 0 < player.seen_seconds[-1] < 30


# ------------------------------------------------------------------------------------------
# bad input never crashes


COMMAND_WORDS = ["boardsize", "play", "genmove", "undo", "komi", "fixed_handicap", "place_free_handicap",
                 "set_free_handicap", "final_score", "final_status_list", "list_stones", "is_legal", "all_legal",
                 "time_settings", "time_left", "kgs-time_settings", "loadsgf", "showboard", "known_command",
                 "clear_board", "kgs-genmove_cleanup", "lz-analyze", "kata-analyze", "reg_genmove", "printsgf"]
ARG_WORDS = ["b", "w", "black", "white", "pass", "A1", "T19", "Z0", "J9", "I5", "-1", "0", "1", "2", "9", "19",
             "99999999999999999999", "1e308", "nan", "inf", "", "\x00", "\x7f", "é", "true", "ownership", "%s"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(
    st.text(max_size=30),
    st.tuples(st.sampled_from(COMMAND_WORDS), st.lists(st.one_of(st.sampled_from(ARG_WORDS), st.text(max_size=5)),
                                                       max_size=4)).map(lambda t: " ".join([t[0], *t[1]])),
), min_size=1, max_size=8))
def test_garbage_never_crashes(lines: list[str]) -> None:
    e = make_engine(RandomPlayer(0))
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)  # printsgf FILE may write files: keep them out of the repository
        try:
            for line in lines:
                for part in line.split("\n"):
                    answer = e.handle(part)
                    if answer:
                        success, _, text = parse(answer)
                        assert not text.startswith("internal error"), (part, text)
        finally:
            os.chdir(cwd)
    assert parse(e.handle("name"))[2] == "gozero"


# ------------------------------------------------------------------------------------------
# through the command line


def gtp_session(commands: list[str], *extra: str, timeout: float = 120) -> tuple[str, str, int]:
    proc = subprocess.run([sys.executable, "-m", "gozero.cli", "gtp", *extra], input="\n".join(commands) + "\n",
                          capture_output=True, text=True, timeout=timeout, cwd=REPO)
    return proc.stdout, proc.stderr, proc.returncode


def test_subprocess_session() -> None:
    commands = ["1 protocol_version", "2 name", "3 boardsize 9", "4 clear_board", "5 komi 6.5", "# comment", "",
                "6 play b E5", "7 genmove w", "8 play b E5", "9 undo", "10 undo", "11 undo", "12 frob",
                "13 fixed_handicap 2", "14 list_stones black", "15 final_score", "16 quit", "17 name"]
    out, errtext, rc = gtp_session(commands, "--model", "random", "--seed", "4", "--size", "19")
    assert rc == 0, errtext
    blocks = out.split("\n\n")
    assert blocks[-1] == ""
    answers = [parse(b + "\n\n") for b in blocks[:-1]]
    ids = [a[1] for a in answers]
    assert ids == [str(i) for i in range(1, 17)]  # nothing after quit, nothing but GTP on stdout
    by_id = {a[1]: a for a in answers}
    assert by_id["1"][2] == "2" and by_id["2"][2] == "gozero"
    assert not by_id["8"][0] and by_id["8"][2] == "illegal move"
    assert by_id["9"][0] and by_id["10"][0] and by_id["11"][2] == "cannot undo"
    assert by_id["12"][2] == "unknown command"
    assert set(by_id["14"][2].split()) == {"C3", "G7"}
    assert by_id["15"][2] == "B+74.5"  # 81 points - 6.5


def test_subprocess_rules_and_search_options() -> None:
    commands = ["boardsize 9", "play b E5", "final_score", "quit"]
    out, errtext, rc = gtp_session(commands, "--model", "random", "--rules", "tromp-taylor")
    assert rc == 0, errtext
    assert "= B+73.5" in out  # 81 - 7.5: a strict count
    for args, message in ((["--rules", "ing"], "unknown rules 'ing'"),
                          (["--set", "search.nope=1"], "search.nope"),
                          (["--set", "search.leaves_per_game=many"], "search.leaves_per_game"),
                          (["--set", "train.lr=1"], "only search.key=value"),
                          (["--config", "/nonexistent/play.toml"], "does not exist")):
        out, errtext, rc = gtp_session([], "--model", "random", *args)
        assert rc == 2 and out == "" and message in errtext, (args, errtext)


def test_random_engine_does_not_import_torch() -> None:
    code = ("import sys; from gozero.play.gtp import GtpEngine; from gozero.play.players import build_player; "
            "GtpEngine(build_player('random'), size=9); print('torch' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert proc.stdout.strip() == "False", proc.stderr


def test_subprocess_bad_options_fail_cleanly(tmp_path: Path) -> None:
    out, errtext, rc = gtp_session([], "--model", str(tmp_path / "nope.pt"))
    assert rc != 0 and out == "" and "nope.pt" in errtext
    out, errtext, rc = gtp_session([], "--size", "25")
    assert rc != 0 and out == ""


def test_subprocess_lz_analyze_stops_when_a_line_arrives() -> None:
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from test_gtp import FakeAnalysisPlayer; "
            "from gozero.play.gtp import GtpEngine; GtpEngine(FakeAnalysisPlayer(), size=9).run()")
    proc = subprocess.Popen([sys.executable, "-c", code, str(Path(__file__).parent)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout], daemon=True).start()

    def read_line() -> str:
        return lines.get(timeout=60)

    try:
        proc.stdin.write("1 lz-analyze b 5\n")
        proc.stdin.flush()
        assert read_line() == "=1\n"
        for _ in range(3):
            check_lz_line(read_line().rstrip("\n"))
        proc.stdin.write("2 name\n")
        proc.stdin.flush()
        seen = []
        while True:
            line = read_line()
            if line == "=2 gozero\n":
                break
            seen.append(line)
        assert seen[-1] == "\n" and all(x.startswith("info ") for x in seen[:-1])
        assert read_line() == "\n"
        proc.stdin.write("3 quit\n")
        proc.stdin.flush()
        assert read_line() == "=3\n"
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


# ------------------------------------------------------------------------------------------
# a real game against GNU Go


class GtpProcess:
    """A GTP engine in a subprocess, spoken to line by line."""

    def __init__(self, argv: list[str]):
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True, cwd=REPO)

    def send(self, command: str) -> tuple[bool, str]:
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        lines = []
        while True:
            line = self.proc.stdout.readline()
            assert line, f"engine died on {command!r}"
            if line == "\n":
                break
            lines.append(line.rstrip("\n"))
        text = "\n".join(lines)
        assert text[:1] in "=?", text
        return text[0] == "=", text[1:].strip()

    def close(self) -> None:
        try:
            self.send("quit")
            self.proc.wait(timeout=30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("seed", ["9", "2"])
def test_game_against_gnugo(gnugo: str, seed: str) -> None:
    ours = GtpProcess([sys.executable, "-m", "gozero.cli", "gtp", "--model", "random", "--seed", seed, "--size", "9"])
    theirs = GtpProcess([gnugo, "--mode", "gtp", "--chinese-rules", "--level", "0"])
    try:
        for engine in (ours, theirs):
            for cmd in ("boardsize 9", "clear_board", "komi 7.5"):
                assert engine.send(cmd)[0], cmd
        players = {"b": ours, "w": theirs}
        color, moves = "b", 0
        # play to two passes, then let GNU Go capture what it thinks is dead (KGS cleanup)
        for phase in ("genmove", "kgs-genmove_cleanup"):
            passes = 0
            while passes < 2 and moves < 600:
                mover = players[color]
                other = theirs if mover is ours else ours
                success, move = mover.send(f"{phase if mover is theirs else 'genmove'} {color}")
                assert success, move
                assert move.lower() != "resign"
                accepted, reply = other.send(f"play {color} {move}")
                assert accepted, f"{color} {move} refused: {reply}"
                passes = passes + 1 if move.lower() == "pass" else 0
                moves += 1
                color = "w" if color == "b" else "b"
            assert passes == 2, "the game did not end"
            for col in ("black", "white"):
                assert set(ours.send(f"list_stones {col}")[1].split()) == \
                    set(theirs.send(f"list_stones {col}")[1].split())
        assert moves >= 10
        dead = theirs.send("final_status_list dead")[1].split()
        if not dead:  # Tromp-Taylor and GNU Go's Chinese count agree when nothing is dead
            assert ours.send("final_score")[1] == theirs.send("final_score")[1]
        success, sgf_text = ours.send("printsgf")
        assert success and sgf_text.startswith("(;")
    finally:
        ours.close()
        theirs.close()
