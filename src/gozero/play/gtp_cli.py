"""``gozero gtp``: the GTP engine on stdin/stdout, for GUIs (Sabaki, GoGui, Lizzie) and
referees (gogui-twogtp, GNU Go matches, KGS).

Imports stay lazy so the engine answers its first command quickly; torch is loaded only
when a model is used. Logs go to stderr; stdout carries GTP and nothing else.
"""

from __future__ import annotations

from pathlib import Path

import typer

CONFIG_HELP = ("a TOML file whose [search] section sets the search (default: the package's "
               "gozero/play/play.toml, the shipped model's settings)")
SET_HELP = "override one search setting: search.key=value (repeatable), e.g. --set search.fpu_reduction=0.3"
RULES_HELP = ("how a finished game is counted: area (dead stones removed, as GNU Go, Pachi, KGS and people "
              "count; default) or tromp-taylor (every stone left on the board counts)")


def gtp(model: str = typer.Option(None, help="model checkpoint, or 'random' (default: the shipped 9x9 model "
                                             "if there is one, else random)"),
        visits: int = typer.Option(None, help="search visits per move (default 1000 with --time unset)"),
        time: float = typer.Option(None, "--time", help="seconds per move (a cap when the clock allows more)"),
        temperature: float = typer.Option(0.0, help="move-choice temperature (0 = best move)"),
        seed: int = typer.Option(None, help="random seed"),
        size: int = typer.Option(19, help="initial board size, 2..19"),
        komi: float = typer.Option(7.5, help="initial komi"),
        rules: str = typer.Option("area", "--rules", help=RULES_HELP),
        config: Path = typer.Option(None, "--config", help=CONFIG_HELP),
        set_: list[str] = typer.Option([], "--set", help=SET_HELP),
        device: str = typer.Option("auto", help="torch device for the model: auto, cpu, cuda"),
        verbose: bool = typer.Option(False, "--verbose", "-v", help="log every command to stderr")) -> None:
    """Speak GTP version 2 on stdin/stdout (with lz-analyze / kata-analyze for analysis GUIs)."""
    import logging
    import sys

    logging.basicConfig(stream=sys.stderr, level=logging.DEBUG if verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if visits is not None and visits < 1:
        raise typer.BadParameter("--visits must be at least 1")
    if time is not None and time <= 0:
        raise typer.BadParameter("--time must be positive")
    if not 2 <= size <= 19:
        raise typer.BadParameter("--size must be between 2 and 19")
    # Keep stdout for GTP only: anything else printed by libraries goes to stderr.
    gtp_out = sys.stdout
    sys.stdout = sys.stderr
    from gozero.play.gtp import GtpEngine
    from gozero.play.players import build_player, load_search_config, play_rules

    try:
        game_rules = play_rules(rules, komi)
        search = load_search_config(config, set_) if config is not None or set_ else None
        player = build_player(model, visits=visits, seconds=time, temperature=temperature, seed=seed,
                              device=device, search=search)
        engine = GtpEngine(player, size=size, komi=komi, out=gtp_out, rules=game_rules,
                           player_sizes=getattr(player, "board_sizes", None))
    except (FileNotFoundError, ValueError) as exc:
        print(f"gozero gtp: {exc}", file=sys.stderr)
        raise typer.Exit(2) from None
    logging.getLogger("gozero.gtp").info("player %s ready", getattr(player, "name", type(player).__name__))
    try:
        engine.run()
    except KeyboardInterrupt:
        pass
    finally:
        sys.stdout = gtp_out
