"""``gozero analysis``: KataGo's JSON analysis engine on stdin/stdout, for KaTrain and other
review tools (protocol in `gozero.play.analysis_engine`, user guide in docs/analysis.md).

Imports stay lazy so that ``--help`` is quick; torch loads only when the model does. Logs go
to stderr; stdout carries answers and nothing else.
"""

from __future__ import annotations

from pathlib import Path

import typer


def analysis(model: str = typer.Option(None, help="model checkpoint (default: the shipped 9x9 model)"),
             config: Path = typer.Option(None, "--config", help="TOML file whose \\[search] section sets the search"),
             set_: list[str] = typer.Option([], "--set", help="search.key=value override (repeatable)"),
             max_visits: int = typer.Option(None, "--max-visits",
                                            help="root visits per search when a query sets no maxVisits "
                                                 "(default 1000)"),
             max_time: float = typer.Option(None, "--max-time", help="seconds per search at most (default: none)"),
             report_as: str = typer.Option("BLACK", "--report-as",
                                           help="reportAnalysisWinratesAs: BLACK, WHITE or SIDETOMOVE"),
             pv_len: int = typer.Option(15, "--pv-len", help="moves after the first in each variation"),
             warn_unused: bool = typer.Option(True, "--warn-unused/--no-warn-unused",
                                              help="warn about query fields the engine does not read"),
             strict_rules: bool = typer.Option(False, "--strict-rules",
                                               help="refuse rules gozero can only approximate (territory scoring, "
                                                    "tax, button) instead of playing the nearest with a warning"),
             quit_without_waiting: bool = typer.Option(False, "--quit-without-waiting",
                                                       help="when stdin closes, stop at once instead of finishing "
                                                            "the queued queries"),
             device: str = typer.Option("auto", help="torch device for the model: auto, cpu, cuda"),
             seed: int = typer.Option(None, help="random seed"),
             verbose: bool = typer.Option(False, "--verbose", "-v", help="log every query to stderr")) -> None:
    """Speak KataGo's JSON analysis protocol on stdin/stdout (for KaTrain and other review tools)."""
    import io
    import logging
    import sys

    logging.basicConfig(stream=sys.stderr, level=logging.DEBUG if verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    out = sys.stdout
    sys.stdout = sys.stderr  # anything printed by libraries goes to stderr
    try:
        from gozero.play.analysis_engine import AnalysisEngine, EngineSettings
        from gozero.play.players import shipped_model
        from gozero.search.player import DEFAULT_VISITS

        try:
            settings = EngineSettings(max_visits=max_visits or DEFAULT_VISITS, max_time=max_time,
                                      perspective=report_as, pv_len=pv_len, warn_unused_fields=warn_unused,
                                      strict_rules=strict_rules)
            player = _load_player(model, shipped_model(), config, set_, device, seed)
        except (FileNotFoundError, ValueError, OSError) as exc:
            print(f"gozero analysis: {exc}", file=sys.stderr)
            raise typer.Exit(2) from None
        engine = AnalysisEngine(player, out, settings)
        print(f"gozero analysis: {player.name} ready", file=sys.stderr)
        try:
            # undecodable bytes become U+FFFD and the line is answered as bad JSON, not a crash
            stdin = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace") \
                if hasattr(sys.stdin, "buffer") else sys.stdin
            engine.run(iter(stdin.readline, ""), wait=not quit_without_waiting)
        except KeyboardInterrupt:
            engine.close(wait=False, timeout=5)
    finally:
        sys.stdout = out


def _load_player(model: str | None, shipped: Path | None, config: Path | None, overrides: list[str], device: str,
                 seed: int | None):
    """The analysing player of ``model`` (default: the shipped one) with the play search
    settings, the ``[search]`` of ``config`` and the ``search.key=value`` overrides."""
    if model == "random":
        raise ValueError("the random player cannot analyse; give a model checkpoint")
    path = Path(model) if model else shipped
    if path is None:
        raise FileNotFoundError("no model given and none shipped with the package")
    from gozero.play.players import build_player, load_search_config

    return build_player(str(path), seed=seed, device=device, search=load_search_config(config, overrides))
