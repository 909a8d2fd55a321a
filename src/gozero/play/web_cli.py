"""``gozero play``: start the web page's server (uvicorn) and open it in the browser."""

from __future__ import annotations

import threading
import webbrowser
from pathlib import Path

import typer

from .gtp_cli import CONFIG_HELP, RULES_HELP, SET_HELP


def play(
    model: str = typer.Option(None, "--model", help="checkpoint to play with (default: the shipped model, "
                              "else the random player; 'random' forces it)"),
    host: str = typer.Option("127.0.0.1", "--host", help="address to listen on"),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="port to listen on"),
    no_browser: bool = typer.Option(False, "--no-browser", help="do not open the page in a browser"),
    db: Path = typer.Option(None, "--db", help="SQLite file of the games (default: "
                            "$XDG_DATA_HOME/gozero/web.sqlite or ~/.local/share/gozero/web.sqlite)"),
    rules: str = typer.Option("area", "--rules", help=RULES_HELP),
    config: Path = typer.Option(None, "--config", help=CONFIG_HELP),
    set_: list[str] = typer.Option([], "--set", help=SET_HELP),
) -> None:
    """Play and analyse in the browser: a local web page against the bot, games kept in SQLite."""
    import uvicorn

    from gozero.play.players import load_search_config, play_rules
    from gozero.play.web.server import create_app, default_db_path

    if model and model != "random" and not Path(model).is_file():
        raise typer.BadParameter(f"model checkpoint {model} does not exist", param_hint="--model")
    try:
        game_rules = play_rules(rules)
        search = load_search_config(config, set_) if config is not None or set_ else None
    except ValueError as exc:
        typer.echo(f"gozero play: {exc}", err=True)
        raise typer.Exit(2) from None
    db_path = db or default_db_path()
    app = create_app(db_path=db_path, model=model, search=search, rules=game_rules)
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}/"
    typer.echo(f"gozero play: {url}  (games in {db_path}; Ctrl-C to stop)")
    if not no_browser:
        threading.Timer(1.0, webbrowser.open, args=(url,)).start()
    uvicorn.run(app, host=host, port=port, log_level="warning")
