"""Short 9x9 games against the real engines (GNU Go, Pachi) and a tiny ladder among them."""

from __future__ import annotations

import pytest

from gozero.eval.ladder import choose_pair, current_fit, run_ladder
from gozero.eval.match import MatchSettings, run_match
from gozero.eval.ratings import fit_ratings
from gozero.eval.results_db import ResultsDB
from gozero.rules.sgf import read_sgf_file

SETTINGS = MatchSettings(size=9, komi=7.5, move_timeout=60)


def test_gnugo_beats_random_and_scoring_is_cross_checked(need_gnugo, tmp_path) -> None:
    with ResultsDB(tmp_path / "r.db") as db:
        res = run_match("gnugo:0", "random", 2, SETTINGS, db, tmp_path / "sgf")
        assert res.summary()["a_points"] == 2
        for g in res.games:
            assert g["status"] == "scored"
            assert g["check_score"] is not None  # replayed into GNU Go
            assert g["check_score"] == g["score"] or "score disagreement" in g["cause"]
            rec = read_sgf_file(g["sgf"])
            assert len(rec.moves) == g["moves"] and rec.result == g["result"]
            assert "GNU Go 3.8 [gnugo:0]" in (rec.black + rec.white) and "gozero random" in (rec.black + rec.white)
        assert db.players()["gnugo:0"]["version"] == "3.8"


def test_cleanup_scoring_captures_dead_stones_before_counting(need_gnugo, tmp_path) -> None:
    """With cleanup scoring, play goes on after two passes until GNU Go sees no dead stone,
    so the plain Tromp-Taylor count and GNU Go's own count agree."""
    from gozero.eval.match import GnuGoScorer, find_gnugo
    from gozero.rules import Game

    settings = MatchSettings(size=9, komi=7.5, move_timeout=60, scoring="cleanup")
    with ResultsDB(tmp_path / "r.db") as db:
        res = run_match("gnugo:0", "random", 2, settings, db, tmp_path / "sgf")
    scorer = GnuGoScorer(find_gnugo())
    for g in res.games:
        assert g["status"] == "scored", g
        rec = read_sgf_file(g["sgf"])
        game = Game(9)
        for _, mv in rec.moves:
            game.play(mv)
        dead, gnugo_score = scorer.score(game)
        assert not dead.any(), "cleanup left stones that GNU Go calls dead"
        assert game.score() == gnugo_score == g["score"]


def test_pachi_plays_gnugo(need_pachi, need_gnugo, tmp_path) -> None:
    with ResultsDB(tmp_path / "r.db") as db:
        res = run_match("pachi:500", "gnugo:0", 2, SETTINGS, db, tmp_path / "sgf")
        assert [g["status"] in ("scored", "resign") for g in res.games] == [True, True], res.games
        assert res.summary()["decided"] == 2
        assert db.players()["pachi:500"]["name"].startswith("Pachi")
        assert "11.99" in db.players()["pachi:500"]["version"]


def test_choose_pair_prefers_close_and_unplayed_pairs() -> None:
    fit = fit_ratings([("a", "random", 1.0)] * 3 + [("b", "random", 0.0)] * 3 + [("a", "b", 1.0)] * 6)
    panel = ["random", "a", "b"]
    first = choose_pair(panel, fit, {})
    p = fit.expected(first.a, first.b)
    assert all(abs(p - 0.5) <= abs(fit.expected(x, y) - 0.5) + 1e-12 for x, y in
               (("random", "a"), ("random", "b"), ("a", "b")))
    # once the close pair has many games, another pair gets the next games
    crowded = choose_pair(panel, fit, {frozenset((first.a, first.b)): 50})
    assert {crowded.a, crowded.b} != {first.a, first.b}
    # unrated newcomers look even, so they are scheduled
    new = choose_pair(panel + ["newcomer"], fit, {frozenset(("random", "a")): 6, frozenset(("random", "b")): 3,
                                                  frozenset(("a", "b")): 6})
    assert "newcomer" in (new.a, new.b)


@pytest.mark.slow
def test_small_ladder_grows_the_database(need_gnugo, need_pachi, tmp_path) -> None:
    with ResultsDB(tmp_path / "r.db") as db:
        played = run_ladder(["random", "gnugo:0", "pachi:500"], db, SETTINGS, str(tmp_path / "sgf"), max_games=4,
                            batch=2)
        assert played == 4 and len(db.games()) == 4
        pairs = {frozenset((g.black, g.white)) for g in db.games()}
        assert len(pairs) == 2  # two pairings of two games, not the same pair twice
        fit = current_fit(db, 9, "random", 0.0)
        assert fit is not None and fit.ratings["gnugo:0"].elo > 0
        again = run_ladder(["random", "gnugo:0", "pachi:500"], db, SETTINGS, str(tmp_path / "sgf"), max_games=2)
        assert again == 2 and len(db.games()) == 6


def test_gozero_gtp_engine_plays_gnugo(need_gnugo, tmp_path) -> None:
    # gozero's own GTP engine (`gozero gtp --model random`) as a subprocess, the way checkpoints are played
    with ResultsDB(tmp_path / "r.db") as db:
        res = run_match("gozero:random@1", "gnugo:0", 1, SETTINGS, db, tmp_path / "sgf")
        g = res.games[0]
        assert g["status"] == "scored" and g["winner"] == "W", g  # GNU Go (white) beats random
        assert db.players()["gozero:random@1"]["name"] == "gozero"
