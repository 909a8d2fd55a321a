"""``gozero match``, ``gozero ladder``, ``gozero report`` and ``gozero setup-engines``.

Engines are named by spec strings (``random``, ``gnugo:10``, ``pachi:5000``,
``gozero:CKPT@64``, ``katago``, ``gtp:"CMD"``; see `gozero.eval.engines`). Results go to a
SQLite database (``--db``, default ``runs/eval/results.db``) with one SGF per game beside it, so
matches resume and the ladder grows across runs.
"""

from __future__ import annotations

import contextlib
import shlex
import sys
from pathlib import Path

import typer

DEFAULT_DB = Path("runs") / "eval" / "results.db"
CLUSTER_HELP = ("play the games on Ray: local, auto (the cluster this machine joined) or HOST:PORT; results are "
                "recorded here (docs/cluster.md)")


@contextlib.contextmanager
def _cluster_session(cluster: str | None, console):
    """One Ray connection for the whole command (every match of a ladder reuses it)."""
    if not cluster:
        yield None
        return
    from rich.markup import escape

    from gozero.train.cluster import ClusterError, ClusterSession

    try:
        session = ClusterSession(cluster)
    except (ClusterError, ValueError) as exc:
        console.print(f"[red]{escape(str(exc))}[/]")
        raise typer.Exit(2) from None
    try:
        yield session
    finally:
        session.close()
SEARCH_CONFIG_HELP = ("gozero engines: a TOML file whose [search] section sets their search (default: the "
                      "package's play settings)")
SEARCH_SET_HELP = "gozero engines: one search setting, search.key=value (repeatable)"


def _settings(size: int, komi: float, rules: str, max_moves: int, move_timeout: float, scoring: str):
    from .match import MatchSettings, SettingsError

    try:
        return MatchSettings(size=size, komi=komi, rules=rules, max_moves=max_moves, move_timeout=move_timeout,
                             scoring=scoring)
    except SettingsError as exc:
        raise typer.BadParameter(str(exc)) from None


def _game_line(out) -> str:
    cause = f"  [{out.cause}]" if out.cause else ""
    return (f"game {out.index:3d}  B {out.black}  W {out.white}  {out.status:9s} {out.result:8s} "
            f"{len(out.moves):3d} moves {out.seconds:6.1f}s{cause}")


def match(engine_a: str = typer.Argument(..., help="first engine spec (black in even games)"),
          engine_b: str = typer.Argument(..., help="second engine spec"),
          games: int = typer.Option(10, "--games", "-n", help="games in the match (a rerun plays only the "
                                                              "missing ones)"),
          size: int = typer.Option(9, help="board size"),
          komi: float = typer.Option(7.5, help="komi"),
          rules: str = typer.Option("chinese", help="chinese (positional superko, no suicide) or tromp-taylor"),
          max_moves: int = typer.Option(0, help="move cap (0: 4 x board points)"),
          move_timeout: float = typer.Option(60.0, help="seconds an engine may take for one move"),
          scoring: str = typer.Option("gnugo-dead", help="gnugo-dead: area score after removing the stones "
                                                         "GNU Go marks dead; tromp-taylor: no removal; "
                                                         "cleanup: KGS-style cleanup play when GNU Go sees "
                                                         "dead stones, then Tromp-Taylor"),
          parallel: int = typer.Option(1, help="games played at once (each engine is single-threaded; with "
                                               "--cluster, 1 means one per cluster CPU)"),
          db: Path = typer.Option(DEFAULT_DB, help="results database"),
          sgf_dir: Path = typer.Option(None, help="where SGFs go (default: sgf/ beside the database)"),
          config: Path = typer.Option(None, "--config", help=SEARCH_CONFIG_HELP),
          set_: list[str] = typer.Option([], "--set", help=SEARCH_SET_HELP),
          cluster: str = typer.Option(None, help=CLUSTER_HELP)) -> None:
    """Play a match between two engines; results to SQLite, every game to SGF."""
    from rich.console import Console

    from .engines import SpecError, with_search_settings
    from .match import SettingsError, cpu_budget, run_match
    from .ratings import wilson_interval
    from .results_db import ResultsDB

    console = Console(stderr=True)
    settings = _settings(size, komi, rules, max_moves, move_timeout, scoring)
    try:
        engine_a, engine_b = (with_search_settings(e, config, set_) for e in (engine_a, engine_b))
    except SpecError as exc:
        console.print(f"[red]gozero match: {exc}[/]")
        raise typer.Exit(2) from None
    if parallel > cpu_budget() and not cluster:
        console.print(f"[yellow]--parallel {parallel} exceeds the {cpu_budget()} cores available[/]")
    with ResultsDB(db) as rdb, _cluster_session(cluster, console):
        try:
            res = run_match(engine_a, engine_b, games, settings, rdb, sgf_dir or db.parent / "sgf",
                            parallel=0 if cluster and parallel == 1 else parallel, cluster=cluster,
                            on_game=lambda o: console.print(_game_line(o), highlight=False, soft_wrap=True))
        except (SpecError, SettingsError) as exc:
            console.print(f"[red]gozero match: {exc}[/]")
            raise typer.Exit(2) from None
    s = res.summary()
    lo, hi = wilson_interval(s["a_points"], int(s["decided"]))
    rate = s["a_points"] / s["decided"] if s["decided"] else float("nan")
    print(f"{s['a']} {s['a_points']:g} - {s['b_points']:g} {s['b']}  ({s['games']} games, {s['played_now']} "
          f"played now; {s['a']} scores {100 * rate:.0f}%, 95% {100 * lo:.0f}..{100 * hi:.0f}%)")
    if s["no_result"]:
        print("games without a result: " + ", ".join(f"{k} {v}" for k, v in sorted(s["no_result"].items())))


def ladder(panel: list[str] = typer.Argument(..., help="engine specs of the panel"),
           games: int = typer.Option(20, "--games", "-n", help="games to play in this run"),
           minutes: float = typer.Option(None, help="stop starting new games after this many minutes"),
           batch: int = typer.Option(2, help="games per pairing before refitting (colours alternate)"),
           size: int = typer.Option(9), komi: float = typer.Option(7.5),
           rules: str = typer.Option("chinese"), max_moves: int = typer.Option(0),
           move_timeout: float = typer.Option(60.0), scoring: str = typer.Option("gnugo-dead"),
           parallel: int = typer.Option(1, help="games played at once"),
           anchor: str = typer.Option(None, help="player held fixed (default: random if in the panel, else the "
                                                 "first engine)"),
           anchor_elo: float = typer.Option(0.0, help="the anchor's rating"),
           db: Path = typer.Option(DEFAULT_DB, help="results database"),
           sgf_dir: Path = typer.Option(None, help="where SGFs go (default: sgf/ beside the database)"),
           config: Path = typer.Option(None, "--config", help=SEARCH_CONFIG_HELP),
           set_: list[str] = typer.Option([], "--set", help=SEARCH_SET_HELP),
           cluster: str = typer.Option(None, help=CLUSTER_HELP + "; raise --batch to keep it busy")) -> None:
    """Play informative games (pairs near 50%) among a panel, then print the ratings."""
    from rich.console import Console

    from .engines import SpecError, with_search_settings
    from .ladder import current_fit, run_ladder
    from .match import SettingsError
    from .results_db import ResultsDB

    console = Console(stderr=True)
    settings = _settings(size, komi, rules, max_moves, move_timeout, scoring)
    try:
        specs = [with_search_settings(p, config, set_) for p in panel]
        anchor_spec = with_search_settings(anchor, config, set_) if anchor else \
            ("random" if "random" in specs else specs[0])
    except SpecError as exc:
        console.print(f"[red]gozero ladder: {exc}[/]")
        raise typer.Exit(2) from None
    with ResultsDB(db) as rdb, _cluster_session(cluster, console):
        try:
            run_ladder(specs, rdb, settings, str(sgf_dir or db.parent / "sgf"), max_games=games, minutes=minutes,
                       batch=batch, parallel=0 if cluster and parallel == 1 else parallel, cluster=cluster,
                       anchor=anchor_spec, anchor_elo=anchor_elo,
                       on_game=lambda o: console.print(_game_line(o), highlight=False, soft_wrap=True),
                       on_round=lambda c: console.print(f"pairing {c.a} vs {c.b}: predicted "
                                                        f"{100 * c.expected:.0f}%, {c.played} games so far",
                                                        highlight=False, soft_wrap=True))
        except (SpecError, SettingsError) as exc:
            console.print(f"[red]gozero ladder: {exc}[/]")
            raise typer.Exit(2) from None
        fit = current_fit(rdb, size, anchor_spec, anchor_elo)
    if fit is None:
        print("no decided games yet")
        return
    print(f"{'player':40s} {'Elo':>6s}  {'95% interval':>15s} {'games':>6s}")
    for r in fit.ordered():
        print(f"{r.player[:40]:40s} {r.elo:6.0f}  {r.low:6.0f} .. {r.high:5.0f} {r.games:6d}")


def report(db: Path = typer.Option(DEFAULT_DB, help="results database"),
           out: Path = typer.Option(Path("runs") / "eval" / "report", help="output folder (report.md + PNGs)"),
           size: int = typer.Option(9, help="board size to rate"),
           anchor: str = typer.Option("random", help="player held fixed"),
           anchor_elo: float = typer.Option(0.0, help="the anchor's rating"),
           run: Path = typer.Option(None, help="training run directory: Elo by step, games and hours"),
           title: str = typer.Option("gozero ladder", help="report title"),
           command: str = typer.Option(None, help="the command that made the games, quoted in the report")) -> None:
    """Write a Markdown report with plots: ladder, pairwise win rates, Elo along a training run."""
    from .engines import SpecError, parse_spec
    from .report import build_report
    from .results_db import ResultsDB

    if not db.is_file():
        raise typer.BadParameter(f"no results database at {db}")
    try:
        anchor_spec = parse_spec(anchor).spec
    except SpecError as exc:
        raise typer.BadParameter(str(exc)) from None
    with ResultsDB(db) as rdb:
        try:
            path = build_report(rdb, out, size=size, anchor=anchor_spec, anchor_elo=anchor_elo, run_dir=run,
                                title=title, command=command)
        except ValueError as exc:
            print(f"gozero report: {exc}", file=sys.stderr)
            raise typer.Exit(2) from None
    print(path)


def setup_engines(build: bool = typer.Option(True, help="build Pachi if it is not cached yet")) -> None:
    """Check GNU Go, build/find Pachi, and say whether KataGo is configured."""
    import subprocess

    from .engines import find_gnugo, find_pachi, katago_paths, pachi_cache_path

    gnugo = find_gnugo()
    print(f"GNU Go: {gnugo or 'not found (Debian: apt-get install gnugo)'}")
    pachi = find_pachi()
    if pachi is None and build:
        script = Path(__file__).resolve().parents[3] / "scripts" / "build_pachi.sh"
        if script.is_file():
            rc = subprocess.call(["bash", str(script)])
            pachi = find_pachi() if rc == 0 else None
        else:
            print(f"build script {script} not found (run from a source checkout)")
    print(f"Pachi: {pachi or f'not built (bash scripts/build_pachi.sh caches it at {pachi_cache_path()})'}")
    kg = katago_paths()
    missing = kg.missing()
    print("KataGo: " + ("configured: " + " ".join(shlex.quote(x) for x in (kg.binary, kg.model, kg.config))
                        if not missing else "not configured (optional); missing " + ", ".join(missing)))
