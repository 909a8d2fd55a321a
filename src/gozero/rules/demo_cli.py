"""``gozero demo``: a random game printed move by move (a first look at the rules engine)."""

from __future__ import annotations

import typer


def demo(size: int = typer.Option(9, help="board size, 2..19"),
         komi: float = typer.Option(7.5, help="komi"),
         seed: int = typer.Option(0, help="random seed")) -> None:
    """Play one random game (random legal non-eye-filling moves) and print it move by move."""
    from rich.console import Console

    from gozero.rules import Game, Rules, to_gtp
    from gozero.search.random_player import RandomPlayer

    console = Console()
    game = Game(size, Rules(komi=komi))
    player = RandomPlayer(seed)
    while not game.is_over and len(game.moves) < 3 * size * size:
        color = "B" if game.to_move == 1 else "W"
        move = player.genmove(game)
        game.play(move)
        console.print(f"{len(game.moves):3d}. {color} {to_gtp(move, size)}")
    console.print(str(game))
    console.print(f"Result (Tromp-Taylor, komi {komi:g}): {game.result_string()}")
