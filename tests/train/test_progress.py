"""The training display: the self-play line inside a generation, live on a terminal and as
plain lines in a log."""

from __future__ import annotations

import io

from rich.console import Console

from gozero.selfplay.selfplay import SelfPlayProgress
from gozero.train.progress import Progress, progress_line


def test_progress_line_says_games_positions_rate_and_eta() -> None:
    p = SelfPlayProgress(games=37, games_target=64, positions=2345, moves=5000, seconds=80.0, eta=42.0)
    assert progress_line(12, p) == ("gen 12 self-play: 37/64 games, 2,345 positions (29/s), 5,000 moves, "
                                    "1:20 elapsed, ETA 0:42")
    workers = SelfPlayProgress(games=3, games_target=None, positions=900, moves=0, seconds=3700.0, eta=None,
                               positions_target=2000)
    assert progress_line(1, workers) == "gen 1 self-play: 3 games, 900/2,000 positions (0/s), 1:01:40 elapsed, ETA -"
    done = SelfPlayProgress(games=64, games_target=64, positions=3000, moves=9000, seconds=100.0, eta=0.0)
    assert progress_line(2, done).endswith("ETA 0:00; training")


def test_plain_console_prints_a_line_now_and_then_and_the_row_after() -> None:
    out = io.StringIO()
    progress = Progress(Console(file=out, width=200, force_terminal=False), plain_every=3600)
    for games in range(3):
        progress.playing(1, SelfPlayProgress(games=games, games_target=4, positions=10 * games, moves=50,
                                             seconds=5.0 + games, eta=9.0))
    progress.update({"generation": 1, "step": 8, "games": 4})
    progress.playing(2, SelfPlayProgress(games=0, games_target=4, positions=0, moves=8, seconds=1.0))
    lines = out.getvalue().splitlines()
    assert [line for line in lines if line.startswith("gen ")] == [
        "gen 1 self-play: 0/4 games, 0 positions (0/s), 50 moves, 0:05 elapsed, ETA 0:09",
        "gen 2 self-play: 0/4 games, 0 positions (0/s), 8 moves, 0:01 elapsed, ETA -"]
    assert any(line.split()[:3] == ["1", "8", "4"] for line in lines)  # the generation's row


def test_terminal_shows_a_live_line_and_clears_it() -> None:
    out = io.StringIO()
    progress = Progress(Console(file=out, width=200, force_terminal=True))
    progress.playing(3, SelfPlayProgress(games=1, games_target=4, positions=12, moves=40, seconds=2.0, eta=6.0))
    assert progress._live is not None and "gen 3 self-play: 1/4 games" in out.getvalue()
    progress.update({"generation": 3, "step": 24, "games": 12})
    assert progress._live is None
    progress.close()  # idempotent
