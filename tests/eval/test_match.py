"""The match runner against the fake GTP engine: every fault is recorded with its cause, the match goes on,
and an interrupted match resumes where it stopped."""

from __future__ import annotations

import pytest

from gozero.eval.engines import parse_spec
from gozero.eval.match import MatchSettings, SettingsError, parse_score, play_game, run_match
from gozero.eval.results_db import ResultsDB
from gozero.rules.sgf import read_sgf_file

FAST = MatchSettings(size=9, komi=7.5, move_timeout=20, scoring="tromp-taylor", check_score=False)


def _play(black: str, white: str, tmp_path, settings: MatchSettings = FAST):
    return play_game(parse_spec(black), parse_spec(white), settings, index=0, seed=1, sgf_path=tmp_path / "g.sgf",
                     game_info="test")


def test_normal_game_is_scored_and_saved_as_sgf(fake_spec, tmp_path) -> None:
    out = _play(fake_spec("--tag", "b"), fake_spec("--tag", "w"), tmp_path)
    assert out.status == "scored", out.cause
    assert out.winner in ("B", "W", "0") and out.score == parse_score(out.result)
    rec = read_sgf_file(tmp_path / "g.sgf")
    assert rec.moves == out.moves and rec.moves[-1][1] == rec.moves[-2][1] == 81  # ended by two passes
    assert rec.result == out.result and rec.komi == 7.5
    assert "fake 0.1" in rec.black and "--tag b" in rec.black and "--tag w" in rec.white
    assert rec.game.score() == out.score  # the SGF replays to the same area score


@pytest.mark.parametrize("flag, status, cause", [
    ("--crash-at", "crash", "deliberate crash"),
    ("--garbage-at", "malformed", "not GTP"),
    ("--bad-vertex-at", "malformed", "not a vertex"),
])
def test_engine_faults_void_the_game_with_a_cause(fake_spec, tmp_path, flag, status, cause) -> None:
    out = _play(fake_spec(), fake_spec(flag, "2"), tmp_path)
    assert (out.status, out.winner, out.result) == (status, None, "Void")
    assert cause in out.cause and "(white)" in out.cause and "move 4" in out.cause
    assert len(out.moves) == 3 and (tmp_path / "g.sgf").is_file()


def test_hanging_engine_times_out(fake_spec, tmp_path) -> None:
    settings = MatchSettings(move_timeout=1.0, scoring="tromp-taylor", check_score=False)
    out = _play(fake_spec("--hang-at", "1"), fake_spec(), tmp_path, settings)
    assert out.status == "timeout" and "(black)" in out.cause and "within 1 s" in out.cause
    assert out.seconds < 30


def test_illegal_move_forfeits(fake_spec, tmp_path) -> None:
    out = _play(fake_spec("--illegal-at", "3"), fake_spec(), tmp_path)
    assert (out.status, out.winner, out.result) == ("illegal", "W", "W+F")
    assert "point occupied" in out.cause and "(black)" in out.cause


def test_resignation_is_honoured(fake_spec, tmp_path) -> None:
    out = _play(fake_spec(), fake_spec("--resign-at", "2"), tmp_path)
    assert (out.status, out.winner, out.result, len(out.moves)) == ("resign", "B", "B+R", 3)


def test_move_cap_voids_the_game(fake_spec, tmp_path) -> None:
    settings = MatchSettings(max_moves=5, scoring="tromp-taylor", check_score=False)
    out = _play(fake_spec(), fake_spec(), tmp_path, settings)
    assert out.status == "move_cap" and len(out.moves) == 5 and "cap 5" in out.cause


def test_missing_engine_in_a_game_is_recorded(tmp_path) -> None:
    out = _play("random", "gtp:/nonexistent/engine", tmp_path)
    assert out.status == "missing" and "did not start" in out.cause


def test_match_goes_on_after_crashes_and_resumes(fake_spec, tmp_path) -> None:
    db = ResultsDB(tmp_path / "r.db")
    crasher = fake_spec("--crash-at", "3")
    res = run_match(crasher, fake_spec(), 3, FAST, db, tmp_path / "sgf")
    assert [g["status"] for g in res.games] == ["crash"] * 3 and res.played_now == 3
    assert [g["black"] for g in res.games] == [parse_spec(crasher).spec, parse_spec(fake_spec()).spec,
                                               parse_spec(crasher).spec]  # colours alternate
    # a rerun asking for more games plays only the missing ones, in parallel
    good = run_match(fake_spec("--tag", "a"), fake_spec(), 2, FAST, db, tmp_path / "sgf")
    assert good.played_now == 2
    more = run_match(fake_spec("--tag", "a"), fake_spec(), 5, FAST, db, tmp_path / "sgf", parallel=2)
    assert more.played_now == 3 and [g["index"] for g in more.games] == [0, 1, 2, 3, 4]
    again = run_match(fake_spec("--tag", "a"), fake_spec(), 5, FAST, db, tmp_path / "sgf")
    assert again.played_now == 0
    assert all(g["status"] == "scored" for g in more.games)
    assert len(db.games()) == 8
    db.close()


def test_impossible_settings_fail_before_any_game(fake_spec, tmp_path) -> None:
    db = ResultsDB(tmp_path / "r.db")
    with pytest.raises(SettingsError, match="refuses the settings.*unacceptable size"):
        run_match(fake_spec("--refuse-size", "9"), "random", 2, FAST, db, tmp_path / "sgf")
    with pytest.raises(SettingsError, match="'/nonexistent/engine' not found"):
        run_match("gtp:/nonexistent/engine", "random", 2, FAST, db, tmp_path / "sgf")
    with pytest.raises(ValueError, match="unknown engine"):
        run_match("nosuch:3", "random", 2, FAST, db, tmp_path / "sgf")
    assert db.games() == []
    for bad in (dict(size=1), dict(size=20), dict(komi=7.3), dict(rules="japanese"), dict(scoring="x"),
                dict(move_timeout=0)):
        with pytest.raises(SettingsError):
            MatchSettings(**bad)
    db.close()


def test_parse_score() -> None:
    assert parse_score("B+3.5") == 3.5 and parse_score("W+0.5") == -0.5 and parse_score("0") == 0
    with pytest.raises(ValueError):
        parse_score("B+R")


class _Broken:
    name = "broken"

    def genmove(self, game):
        raise RuntimeError("bug in a player")


class _BrokenSpec(type(parse_spec("random"))):
    def start(self, seed=None, move_timeout=60.0):
        from gozero.eval.engines import LocalEngine

        return LocalEngine(_Broken(), name="broken")


def test_unexpected_exception_costs_one_game_not_the_match(tmp_path) -> None:
    broken = _BrokenSpec("broken", "random")
    out = play_game(parse_spec("random"), broken, FAST, sgf_path=tmp_path / "g.sgf")
    assert out.status == "error" and "bug in a player" in out.cause and len(out.moves) == 1


def test_interrupted_match_keeps_finished_games_and_resumes(fake_spec, tmp_path) -> None:
    db = ResultsDB(tmp_path / "r.db")
    seen = []

    def interrupt(out) -> None:
        seen.append(out.index)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_match(fake_spec("--tag", "x"), "random", 4, FAST, db, tmp_path / "sgf", parallel=2, on_game=interrupt)
    kept = db.games()
    assert len(kept) == len(seen) == 1  # the game in flight was abandoned, not recorded
    res = run_match(fake_spec("--tag", "x"), "random", 4, FAST, db, tmp_path / "sgf", parallel=2)
    assert res.played_now == 3 and [g["index"] for g in res.games] == [0, 1, 2, 3]
    db.close()


class _StubScorer:
    """Stands in for the GNU Go referee: fixed dead stones and score, or a failure."""

    def __init__(self, dead_points=(), score=None, fail=False):
        self.dead_points, self.check, self.fail = dead_points, score, fail

    def score(self, game):
        import numpy as np

        from gozero.eval.gtp_client import EngineTimeout

        if self.fail:
            raise EngineTimeout("GNU Go scorer gave no answer")
        dead = np.zeros(game.size * game.size, np.bool_)
        dead[list(self.dead_points)] = True
        return dead, self.check


def _finished_game():
    from gozero.rules import Game, Rules

    g = Game(5, Rules(komi=0.5))
    for m in (12, 6, 25, 25):  # black C3, white B4, two passes: 5x5 board
        g.play(m)
    return g


def test_scoring_removes_referee_dead_stones_and_records_disagreement() -> None:
    from gozero.eval.match import GameOutcome, _score

    game = _finished_game()
    tt = game.score()
    assert tt == -0.5  # one stone each, no territory for either: white wins by komi
    out = GameOutcome(0, "a", "b", "scored", None, "Void")
    _score(out, game, MatchSettings(size=5, komi=0.5), _StubScorer(dead_points=[6], score=24.5))
    assert out.score == 24.5 and out.result == "B+24.5" and "1 dead stones removed" in out.cause
    assert "disagreement" not in out.cause
    out = GameOutcome(0, "a", "b", "scored", None, "Void")
    _score(out, game, MatchSettings(size=5, komi=0.5), _StubScorer(dead_points=[6], score=-3.5))
    assert out.result == "B+24.5" and "score disagreement: gozero B+24.5, GNU Go W+3.5 (different winner)" in out.cause
    out = GameOutcome(0, "a", "b", "scored", None, "Void")
    _score(out, game, MatchSettings(size=5, komi=0.5, scoring="tromp-taylor"), _StubScorer(dead_points=[6], score=24.5))
    assert out.score == tt and "disagreement" in out.cause  # no removal asked for
    out = GameOutcome(0, "a", "b", "scored", None, "Void")
    _score(out, game, MatchSettings(size=5, komi=0.5), _StubScorer(fail=True))
    assert out.score == tt and out.check_score is None and "scorer failed" in out.cause
