"""GNU Go self-play games written as SGF (``gozero gen-sgf``)."""

import subprocess
import sys

import pytest

from gozero.eval.gtp_client import GTPProcess
from gozero.rules import to_gtp
from gozero.rules.sgf import read_sgf_file
from gozero.selfplay.sgf_gen import generate_games, play_game


@pytest.mark.parametrize("size", [5, 9])
def test_generated_games_load_and_replay(tmp_path, gnugo, size):
    done = generate_games(tmp_path, 4, size=size, level=0, parallel=2, gnugo=gnugo, log=lambda s: None)
    assert [g.path.name for g in done] == [f"game_{i:05d}.sgf" for i in range(4)]
    for g in done:
        rec = read_sgf_file(g.path)
        assert rec.size == size and rec.komi == 7.5 and len(rec.moves) == g.moves > 0
        assert rec.result == g.result and rec.result[:2] in ("B+", "W+") or rec.result == "0"
        colors = [c for c, _ in rec.moves]
        assert colors == [1 + i % 2 for i in range(len(colors))]
        if g.two_passes:
            assert rec.game.is_over and not rec.result.endswith("+R")
        else:
            assert rec.result.endswith("+R")
    # files already there are kept: a second call has nothing to do
    assert generate_games(tmp_path, 4, size=size, gnugo=gnugo, log=lambda s: None) == []


def test_results_agree_with_gnugo_final_score(tmp_path, gnugo):
    """The recorded result (area score after removing GNU Go's dead stones) is GNU Go's own
    Chinese-rules count of the same game."""
    done = generate_games(tmp_path, 6, size=9, level=0, parallel=2, seed=40, gnugo=gnugo, log=lambda s: None)
    scored = [g for g in done if g.two_passes]
    if not scored:
        pytest.skip("every game ended by resignation")
    agree = 0
    for g in scored:
        rec = read_sgf_file(g.path)
        with GTPProcess([gnugo, "--mode", "gtp", "--chinese-rules"], timeout=60) as proc:
            proc.command("boardsize 9")
            proc.command("komi 7.5")
            proc.command("clear_board")
            for color, move in rec.moves:
                proc.command(f"play {'b' if color == 1 else 'w'} {to_gtp(move, 9)}")
            theirs = proc.command("final_score").strip()
        agree += theirs == rec.result
        assert theirs[0] == rec.result[0], (g.path.name, theirs, rec.result)
    assert agree >= len(scored) - 1, f"{agree} of {len(scored)} results agree with GNU Go's final_score"


def test_bad_arguments_are_refused(tmp_path, gnugo):
    with pytest.raises(ValueError, match="levels"):
        generate_games(tmp_path, 1, level=11, gnugo=gnugo)
    with pytest.raises(ValueError, match="5..19"):
        play_game(0, 3, 0, gnugo=gnugo)
    with pytest.raises(FileNotFoundError, match="GNU Go not found"):
        generate_games(tmp_path, 1, gnugo="/nonexistent/gnugo")


def test_cli(tmp_path, gnugo):
    r = subprocess.run([sys.executable, "-m", "gozero.cli", "gen-sgf", "--out", str(tmp_path), "--games", "2",
                        "--size", "5", "--gnugo", gnugo], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "wrote 2 games" in r.stderr
    assert len(list(tmp_path.glob("*.sgf"))) == 2
