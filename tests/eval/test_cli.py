"""`gozero match`, `gozero ladder` and `gozero report` from the command line (fake engines, no GNU Go needed)."""

from __future__ import annotations

from typer.testing import CliRunner

from gozero.cli import app

runner = CliRunner()


def test_match_then_report(fake_spec, tmp_path) -> None:
    db = tmp_path / "r.db"
    args = ["match", "random", fake_spec(), "-n", "2", "--db", str(db), "--scoring", "tromp-taylor"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "2 games, 2 played now" in res.output
    res = runner.invoke(app, [*args[:4], "3", *args[5:]])
    assert res.exit_code == 0 and "3 games, 1 played now" in res.output
    assert len(list((tmp_path / "sgf").rglob("*.sgf"))) == 3
    res = runner.invoke(app, ["report", "--db", str(db), "--out", str(tmp_path / "rep")])
    assert res.exit_code == 0, res.output
    assert "## Ladder" in (tmp_path / "rep" / "report.md").read_text()


def test_ladder_prints_ratings(fake_spec, tmp_path) -> None:
    res = runner.invoke(app, ["ladder", "random", fake_spec(), fake_spec("--pass-after", "3"), "-n", "4",
                              "--db", str(tmp_path / "r.db"), "--scoring", "tromp-taylor"])
    assert res.exit_code == 0, res.output
    assert "Elo" in res.output and "random" in res.output and res.output.count("pairing") == 2


def test_bad_input_gets_clear_errors(tmp_path) -> None:
    res = runner.invoke(app, ["match", "random", "nosuch", "--db", str(tmp_path / "r.db")])
    assert res.exit_code == 2 and "unknown engine 'nosuch'" in res.output
    res = runner.invoke(app, ["match", "random", "random", "--size", "30", "--db", str(tmp_path / "r.db")])
    assert res.exit_code == 2 and "outside 2..19" in res.output
    res = runner.invoke(app, ["match", "random", "pachi:10", "--db", str(tmp_path / "r.db")])
    assert res.exit_code == 2 and "at least 500" in res.output
    res = runner.invoke(app, ["match", "random", "gozero:random@8", "--set", "search.nope=1",
                              "--db", str(tmp_path / "r.db")])
    assert res.exit_code == 2 and "search.nope" in res.output
    res = runner.invoke(app, ["report", "--db", str(tmp_path / "none.db")])
    assert res.exit_code == 2 and "no results database" in res.output
