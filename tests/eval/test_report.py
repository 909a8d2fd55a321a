"""Reports from a results database, and reading a training run directory tolerantly."""

from __future__ import annotations

import json

import pytest

from gozero.eval.ratings import fit_ratings, results_from_rows
from gozero.eval.report import build_report, read_run, training_curve
from gozero.eval.results_db import ResultsDB


def _fill(db: ResultsDB, run) -> list[str]:
    ckpts = [run / "checkpoints" / f"step_{s:08d}.pt" for s in (100, 200)]
    specs = [f"gozero:{c.resolve()}@16" for c in ckpts]
    games = [("gnugo:0", "random", 9, 0), (specs[0], "random", 6, 2), (specs[1], "random", 8, 0),
             (specs[1], "gnugo:0", 5, 5), (specs[0], "gnugo:0", 1, 7)]
    mid = db.match_id("k", "a", "b", 9, 7.5, "chinese", 1, {})
    idx = 0
    for a, b, wins, losses in games:
        for k in range(wins + losses):
            black, white = (a, b) if k % 2 == 0 else (b, a)
            a_won = k < wins
            winner = ("B" if black == a else "W") if a_won else ("W" if black == a else "B")
            db.add_game(mid, idx, black, white, 9, 7.5, "scored", winner, f"{winner}+1.5", 1.5, 1.5, "", 50, 1, "", 1.0)
            idx += 1
    db.add_game(mid, idx, "gnugo:0", "random", 9, 7.5, "crash", None, "Void", None, None, "gnugo:0 died", 3, 1, "",
                0.1)
    return specs


def test_report_writes_tables_and_plots(tmp_path) -> None:
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    for s in (100, 200):
        (run / "checkpoints" / f"step_{s:08d}.pt").write_bytes(b"")
    (run / "metrics.jsonl").write_text("\n".join([
        json.dumps({"step": 100, "games": 1000, "hours": 1.0}),
        "not json at all",
        json.dumps({"step": 150, "games": 1500}),  # no hours: skipped for hours only
        json.dumps({"step": 200, "games": 2000, "seconds": 7200}),
        json.dumps({"note": "no step"}),
    ]) + "\n")
    with ResultsDB(tmp_path / "r.db") as db:
        specs = _fill(db, run)
        md = build_report(db, tmp_path / "out", run_dir=run, command="gozero ladder ...")
        text = md.read_text()
        fit = fit_ratings(results_from_rows(db.games(9)))
        curve = training_curve(fit, run)
    assert (tmp_path / "out" / "ratings.png").stat().st_size > 1000
    assert (tmp_path / "out" / "training_elo.png").stat().st_size > 1000
    assert "| 1 |" in text and "`gnugo:0`" in text and "gozero ladder ..." in text
    assert "| crash | 1 | gnugo:0 died |" in text
    assert [c["step"] for c in curve] == [100, 200]
    assert [c["games"] for c in curve] == [1000, 2000] and [c["hours"] for c in curve] == [1.0, 2.0]
    assert curve[1]["elo"] > curve[0]["elo"]  # step 200 did better against both
    assert specs[1] in text and "`gozero:step_00000200.pt@16`" in text
    # Wilson row for gnugo:0 vs random: 9 of 9
    row = next(line for line in text.splitlines() if line.startswith("| `gnugo:0` | `random` |"))
    assert "| 9 | 100% |" in row


def test_read_run_tolerates_missing_pieces(tmp_path) -> None:
    info = read_run(tmp_path / "nothing-here")
    assert info.checkpoints == {} and info.metrics == []
    (tmp_path / "metrics.jsonl").write_text('{"step": 10, "games": 5, "hours": 0.5}\n{"step": 30, "games": 25}\n')
    info = read_run(tmp_path)
    assert info.at_step(20, "games") == pytest.approx(15) and info.at_step(20, "hours") is None
    assert info.at_step(0, "games") == 0 and info.at_step(99, "games") is None


def test_report_without_games_is_an_error(tmp_path) -> None:
    with ResultsDB(tmp_path / "r.db") as db, pytest.raises(ValueError, match="no decided"):
        build_report(db, tmp_path / "out")
