"""A rich progress line per generation: games/s, positions/s, losses, window, time."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table


class Progress:
    """Prints a header once, then one row per generation."""

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

    def __init__(self, console: Console):
        self.console = console
        self.rows = 0

    def update(self, row: dict) -> None:
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
