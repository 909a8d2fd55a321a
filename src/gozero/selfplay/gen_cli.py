"""``gozero gen-sgf``: a folder of GNU Go self-play games for ``gozero train --sgf``."""

from __future__ import annotations

from pathlib import Path

import typer


def gen_sgf(
    out: Path = typer.Option(..., help="folder for the SGF files (game_NNNNN.sgf; existing ones are kept)"),
    games: int = typer.Option(100, help="number of games"),
    size: int = typer.Option(9, help="board size (GNU Go plays 5..19)"),
    level: int = typer.Option(0, help="GNU Go level 0..10"),
    komi: float = typer.Option(7.5, help="komi"),
    parallel: int = typer.Option(1, help="games played at once (two GNU Go processes each)"),
    seed: int = typer.Option(0, help="base of the GNU Go random seeds (-r)"),
    gnugo: str | None = typer.Option(None, help="GNU Go binary (default: gnugo on PATH or /usr/games/gnugo)"),
) -> None:
    """Let GNU Go play itself and write each game as SGF (result by area scoring)."""
    from rich.console import Console

    from .sgf_gen import generate_games

    console = Console(stderr=True)
    try:
        done = generate_games(out, games, size=size, level=level, komi=komi, parallel=parallel, seed=seed,
                              gnugo=gnugo, log=console.print)
    except (ValueError, FileNotFoundError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    if done:
        mean = sum(g.moves for g in done) / len(done)
        black = sum(g.result.startswith("B+") for g in done)
        console.print(f"wrote {len(done)} games to {out} (mean length {mean:.1f} moves, black won {black})")
    else:
        console.print(f"nothing to do: {out} holds {games} games already")
