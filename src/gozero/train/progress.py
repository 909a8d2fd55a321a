"""What `gozero train` shows: a rich row per generation (games/s, positions/s, losses,
window, time) and, inside a generation, a live line of the self-play so far (games
finished, positions, rate, ETA)."""

from __future__ import annotations

import time

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from gozero.selfplay.selfplay import SelfPlayProgress


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


def progress_line(generation: int, p: SelfPlayProgress) -> str:
    """One line for a generation in progress, e.g. ``gen 12 self-play: 37/64 games,
    2,345 positions (118/s), 1:20 elapsed, ETA 0:42``."""
    games = f"{p.games}/{p.games_target}" if p.games_target is not None else f"{p.games}"
    positions = f"{p.positions:,}" + (f"/{p.positions_target:,}" if p.positions_target is not None else "")
    rate = p.positions / p.seconds if p.seconds > 0 else 0.0
    moves = f", {p.moves:,} moves" if p.moves else ""
    eta = _clock(p.eta) if p.eta is not None else "-"
    line = (f"gen {generation} self-play: {games} games, {positions} positions ({rate:.0f}/s){moves}, "
            f"{_clock(p.seconds)} elapsed, ETA {eta}")
    if p.games_target is not None and p.games >= p.games_target:
        line += "; training"
    return line


class Progress:
    """Prints a header once, then one row per generation; between rows, a live line of the
    generation in progress (on a terminal; elsewhere a plain line every ``plain_every`` s)."""

    COLUMNS = [
        ("gen", "generation", "{:d}"),
        ("step", "step", "{:d}"),
        ("games", "games", "{:d}"),
        ("hours", "hours", "{:.2f}"),
        ("games/s", "selfplay_games_per_s", "{:.2f}"),
        ("pos/s", "selfplay_positions_per_s", "{:.0f}"),
        ("evals/s", "net_evals_per_s", "{:.0f}"),
        ("len", "mean_game_length", "{:.0f}"),
        ("window", "window", "{:d}"),
        ("loss", "loss_loss", "{:.3f}"),
        ("policy", "loss_policy", "{:.3f}"),
        ("value", "loss_value", "{:.3f}"),
        ("own", "loss_ownership", "{:.3f}"),
    ]

    def __init__(self, console: Console, plain_every: float = 30.0):
        self.console = console
        self.rows = 0
        self.plain_every = plain_every
        self._live: Live | None = None
        self._last_plain = float("-inf")

    def playing(self, generation: int, progress: SelfPlayProgress) -> None:
        """Show where the generation's self-play stands (`TrainingRun.run`'s on_progress)."""
        line = progress_line(generation, progress)
        if self.console.is_terminal:
            if self._live is None:
                self._live = Live(Text(line), console=self.console, transient=True, auto_refresh=False)
                self._live.start()
            self._live.update(Text(line), refresh=True)
            return
        now = time.monotonic()
        if now - self._last_plain >= self.plain_every:
            self._last_plain = now
            self.console.print(line, highlight=False)

    def close(self) -> None:
        """Take the live line off the screen."""
        if self._live is not None:
            self._live.stop()
            self._live = None

    def update(self, row: dict) -> None:
        self.close()
        self._last_plain = float("-inf")
        table = Table(show_header=self.rows % 20 == 0, box=None, pad_edge=False)
        for title, _, _ in self.COLUMNS:
            table.add_column(title, justify="right", min_width=7)
        cells = []
        for _, key, fmt in self.COLUMNS:
            v = row.get(key)
            cells.append("-" if v is None else fmt.format(v))
        table.add_row(*cells)
        self.console.print(table)
        self.rows += 1
