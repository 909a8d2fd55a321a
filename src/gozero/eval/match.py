"""The match runner: N games between two engines, scored by gozero, saved as SGF and in SQLite.

`play_game` plays one game between two `EngineSpec`s with fresh engine processes (so a
crash or hang costs one game, and each game gets its own seed); every way a game can end
is a status in the results: ``scored`` (two passes, area score), ``resign``, ``illegal``
(a forfeit), ``move_cap``, ``crash``, ``timeout``, ``malformed``, ``refused`` (an engine
rejected a legal move), ``missing`` (could not start), ``error`` (anything else), each with
its cause. Scoring is gozero's area scoring of the final
position; the dead stones are those GNU Go's ``final_status_list dead`` names (unless
``scoring="tromp-taylor"``), and GNU Go's own ``final_score`` is recorded beside it as a
cross-check, with any disagreement noted in the cause.

`run_match` checks both engines accept the settings before any game, then plays the games
a match still lacks (resuming an interrupted one), ``parallel`` at a time.
"""

from __future__ import annotations

import json
import os
import threading
import time
import zlib
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from gozero.rules import Game, Rules, from_gtp, to_gtp
from gozero.rules import kernels as K
from gozero.rules.sgf import game_to_sgf
from gozero.search.player import RESIGN

from .engines import Engine, EngineSpec, find_gnugo, parse_spec
from .gtp_client import EngineError, GTPError, GTPProcess
from .results_db import ResultsDB

COLOR_LETTER = {K.BLACK: "B", K.WHITE: "W"}
RULESETS = {"chinese": Rules(ko="positional", suicide=False), "tromp-taylor": Rules(ko="positional", suicide=True)}
SCORINGS = ("gnugo-dead", "tromp-taylor", "cleanup")


class SettingsError(ValueError):
    """Settings that make the match impossible (detected before any game starts)."""


@dataclass(frozen=True)
class MatchSettings:
    """What both engines play under. ``max_moves`` 0 means 4 x board points."""

    size: int = 9
    komi: float = 7.5
    rules: str = "chinese"
    max_moves: int = 0
    move_timeout: float = 60.0
    scoring: str = "gnugo-dead"  # or "tromp-taylor": no dead-stone removal
    check_score: bool = True  # cross-check with GNU Go's final_score where GNU Go is installed

    def __post_init__(self) -> None:
        if not 2 <= self.size <= 19:
            raise SettingsError(f"board size {self.size} is outside 2..19")
        if self.rules not in RULESETS:
            raise SettingsError(f"unknown rules {self.rules!r}; choose one of {sorted(RULESETS)}")
        if self.scoring not in SCORINGS:
            raise SettingsError(f"unknown scoring {self.scoring!r}; choose one of {SCORINGS}")
        if self.move_timeout <= 0:
            raise SettingsError("move timeout must be positive")
        if abs(self.komi * 2 - round(self.komi * 2)) > 1e-9 or abs(self.komi) > 150:
            raise SettingsError(f"komi {self.komi} must be a multiple of 0.5 within +-150")
        if self.max_moves < 0:
            raise SettingsError("max_moves must be >= 0")

    @property
    def move_cap(self) -> int:
        return self.max_moves or 4 * self.size * self.size

    def game_rules(self) -> Rules:
        base = RULESETS[self.rules]
        return Rules(komi=self.komi, ko=base.ko, suicide=base.suicide)


@dataclass
class GameOutcome:
    """How one game ended, with everything the database and the SGF need."""

    index: int
    black: str
    white: str
    status: str
    winner: str | None  # 'B', 'W', '0' or None
    result: str
    score: float | None = None
    check_score: float | None = None
    cause: str = ""
    moves: list[tuple[int, int]] = field(default_factory=list)
    seed: int | None = None
    seconds: float = 0.0
    sgf: str = ""
    names: dict[str, tuple[str, str]] = field(default_factory=dict)  # spec -> (name, version)


def parse_score(text: str) -> float:
    """Black-minus-white score of a GTP/SGF result such as ``B+3.5``, ``W+0.5`` or ``0``."""
    t = text.strip().upper()
    if t in ("0", "DRAW", "JIGO"):
        return 0.0
    if len(t) > 2 and t[0] in "BW" and t[1] == "+":
        value = float(t[2:])
        return value if t[0] == "B" else -value
    raise ValueError(f"cannot read score {text!r}")


def result_of_score(score: float) -> tuple[str | None, str]:
    if score > 0:
        return "B", f"B+{score:g}"
    if score < 0:
        return "W", f"W+{-score:g}"
    return "0", "0"


class GnuGoScorer:
    """GNU Go as a referee: replays a finished game and reports dead stones and its own score."""

    def __init__(self, exe: str, timeout: float = 60.0):
        self.exe = exe
        self.timeout = timeout

    def score(self, game: Game) -> tuple[np.ndarray, float]:
        """(dead-stone mask over the board, GNU Go's final_score as black - white)."""
        size = game.size
        gtp = GTPProcess([self.exe, "--mode", "gtp", "--chinese-rules", "--level", "10"], label="GNU Go scorer",
                         timeout=self.timeout)
        try:
            gtp.command(f"boardsize {size}")
            gtp.command("clear_board")
            gtp.command(f"komi {game.rules.komi:g}")
            for color, move in game.moves:
                gtp.command(f"play {COLOR_LETTER[color].lower()} {to_gtp(move, size)}")
            dead = np.zeros(size * size, np.bool_)
            for vertex in gtp.command("final_status_list dead").split():
                dead[from_gtp(vertex, size)] = True
            return dead, parse_score(gtp.command("final_score"))
        finally:
            gtp.close()


def _blame(spec: str, color: int) -> str:
    return f"{spec} ({'black' if color == K.BLACK else 'white'})"


def play_game(black: EngineSpec, white: EngineSpec, settings: MatchSettings, index: int = 0, seed: int | None = None,
              scorer: GnuGoScorer | None = None, sgf_path: str | Path | None = None,
              game_info: str = "", stop: threading.Event | None = None) -> GameOutcome:
    """Play one game with fresh engines; never raises for engine faults (they become the outcome).

    Setting ``stop`` abandons the game after the current move with status ``interrupted``
    (which `run_match` does not record, so a rerun plays that game again).
    """
    t0 = time.monotonic()
    specs = {K.BLACK: black, K.WHITE: white}
    game = Game(settings.size, settings.game_rules())
    out = GameOutcome(index, black.spec, white.spec, "scored", None, "Void", seed=seed)
    engines: dict[int, Engine] = {}
    try:
        for k, color in enumerate((K.BLACK, K.WHITE)):
            try:
                eng = specs[color].start(None if seed is None else seed + k, move_timeout=settings.move_timeout)
            except EngineError as exc:
                return _fail(out, exc.kind, f"{_blame(specs[color].spec, color)} did not start: {exc}")
            engines[color] = eng
            out.names[specs[color].spec] = (eng.name, eng.version)
            try:
                eng.new_game(settings.size, settings.komi)
            except EngineError as exc:
                return _fail(out, exc.kind, f"{_blame(specs[color].spec, color)} setup: {exc}")
        while not game.is_over:
            if stop is not None and stop.is_set():
                return _fail(out, "interrupted", "the match was interrupted")
            if len(game.moves) >= settings.move_cap:
                return _fail(out, "move_cap", f"no result after {len(game.moves)} moves (cap {settings.move_cap})")
            ended = _turn(game, engines, specs, settings, out, cleanup=False)
            if ended is not None:
                return ended
        if settings.scoring == "cleanup" and scorer is not None:
            failed = _cleanup_phase(game, engines, specs, settings, scorer, out)
            if failed is not None:
                return failed
        _score(out, game, settings, scorer)
        return out
    except Exception as exc:  # noqa: BLE001 - a bug or surprise costs this game, not the match
        return _fail(out, "error", f"{type(exc).__name__}: {exc} at move {len(game.moves) + 1}")
    finally:
        for eng in engines.values():
            try:
                eng.close()
            except Exception:  # noqa: BLE001 - closing must not hide the outcome
                pass
        out.moves = list(game.moves)
        out.seconds = time.monotonic() - t0
        if sgf_path is not None and out.status != "interrupted":
            _write_sgf(out, game, settings, Path(sgf_path), game_info)


def _turn(game: Game, engines: dict, specs: dict, settings: MatchSettings, out: GameOutcome,
          cleanup: bool) -> GameOutcome | None:
    """One move of the side to move, told to the other engine; the outcome when it ends the
    game (resignation, illegal move, engine fault), None to go on."""
    nn = settings.size * settings.size
    color = game.to_move
    other = K.WHITE if color == K.BLACK else K.BLACK
    phase = " in cleanup" if cleanup else ""
    eng = engines[color]
    try:
        move = eng.genmove_cleanup(color) if cleanup and hasattr(eng, "genmove_cleanup") else eng.genmove(color)
    except EngineError as exc:
        return _fail(out, exc.kind, f"{_blame(specs[color].spec, color)} at move {len(game.moves) + 1}{phase}: {exc}")
    if move == RESIGN:
        out.status, out.winner = "resign", COLOR_LETTER[other]
        out.result = f"{out.winner}+R"
        return out
    if not (0 <= move <= nn) or not game.is_legal(move):
        from gozero.rules.sgf import illegal_reason

        why = illegal_reason(game, move, color) if 0 <= move <= nn else "off the board"
        out.status, out.winner = "illegal", COLOR_LETTER[other]
        out.result = f"{out.winner}+F"
        out.cause = (f"{_blame(specs[color].spec, color)} played illegal {to_gtp(move, settings.size)} at move "
                     f"{len(game.moves) + 1}{phase} ({why}); forfeit")
        return out
    game.play(move)
    try:
        engines[other].play(color, move)
    except GTPError as exc:
        return _fail(out, "refused", f"{_blame(specs[other].spec, other)} rejected the legal move "
                                     f"{to_gtp(move, settings.size)}: {exc}")
    except EngineError as exc:
        return _fail(out, exc.kind, f"{_blame(specs[other].spec, other)} at move {len(game.moves)}: {exc}")
    return None


def _cleanup_phase(game: Game, engines: dict, specs: dict, settings: MatchSettings, scorer: GnuGoScorer,
                   out: GameOutcome) -> GameOutcome | None:
    """KGS-style cleanup: when GNU Go sees dead stones after two passes, both engines play on
    with ``kgs-genmove_cleanup`` (plain genmove where unknown) until two passes again, so that
    the dead stones are captured and the Tromp-Taylor count settles the game."""
    try:
        dead, _ = scorer.score(game)
    except (EngineError, ValueError):
        return None
    if not dead.any():
        return None
    nn = settings.size * settings.size
    start = len(game.moves)
    while True:
        if len(game.moves) - start >= 2 * nn:
            return _fail(out, "move_cap", f"cleanup phase did not end within {2 * nn} moves")
        ended = _turn(game, engines, specs, settings, out, cleanup=True)
        if ended is not None:
            return ended
        cleanup_moves = [m for _, m in game.moves[start:]]
        if len(cleanup_moves) >= 2 and cleanup_moves[-1] == nn and cleanup_moves[-2] == nn:
            return None


def _fail(out: GameOutcome, status: str, cause: str) -> GameOutcome:
    out.status, out.winner, out.result, out.cause = status, None, "Void", cause
    return out


def _score(out: GameOutcome, game: Game, settings: MatchSettings, scorer: GnuGoScorer | None) -> None:
    tt = game.score()
    notes = []
    dead = None
    if scorer is not None:
        try:
            dead, out.check_score = scorer.score(game)
        except (EngineError, ValueError) as exc:
            notes.append(f"GNU Go scorer failed: {exc}")
    if settings.scoring == "gnugo-dead" and dead is not None and dead.any():
        score = game.score(dead)
        notes.append(f"{int(dead.sum())} dead stones removed as GNU Go marks them (Tromp-Taylor: "
                     f"{result_of_score(tt)[1]})")
    else:
        score = tt
    out.score = score
    out.winner, out.result = result_of_score(score)
    out.status = "scored"
    if out.check_score is not None and abs(out.check_score - score) > 1e-6:
        agree = result_of_score(out.check_score)[0] == out.winner
        notes.append(f"score disagreement: gozero {out.result}, GNU Go {result_of_score(out.check_score)[1]}"
                     + ("" if agree else " (different winner)"))
    out.cause = "; ".join(notes)


def _write_sgf(out: GameOutcome, game: Game, settings: MatchSettings, path: Path, game_info: str) -> None:
    def who(spec: str) -> str:
        name, version = out.names.get(spec, ("", ""))
        label = " ".join(x for x in (name, version) if x) or spec
        return f"{label} [{spec}]"

    comment = [game_info, f"game {out.index}, seed {out.seed}, status {out.status}"]
    if out.cause:
        comment.append(out.cause)
    if out.check_score is not None:
        comment.append(f"GNU Go final_score: {result_of_score(out.check_score)[1]}")
    path.parent.mkdir(parents=True, exist_ok=True)
    text = game_to_sgf(game, black=who(out.black), white=who(out.white), result=out.result,
                       comment="\n".join(c for c in comment if c), rules=settings.rules.capitalize(),
                       extra={"GN": f"{out.black} vs {out.white} #{out.index}",
                              "DT": time.strftime("%Y-%m-%d")})
    path.write_text(text)
    out.sgf = str(path)


# -- matches --------------------------------------------------------------------------------------
@dataclass
class MatchResult:
    """A match's games so far (all of them, resumed ones included) and a summary."""

    match_id: int
    spec_a: str
    spec_b: str
    games: list[dict]
    played_now: int

    def summary(self) -> dict:
        a_pts = b_pts = 0.0
        failed: dict[str, int] = {}
        for g in self.games:
            if g["winner"] is None:
                failed[g["status"]] = failed.get(g["status"], 0) + 1
                continue
            if g["winner"] == "0":
                a_pts += 0.5
                b_pts += 0.5
                continue
            winner_spec = g["black"] if g["winner"] == "B" else g["white"]
            if winner_spec == self.spec_a:
                a_pts += 1
            else:
                b_pts += 1
        return {"a": self.spec_a, "b": self.spec_b, "a_points": a_pts, "b_points": b_pts,
                "decided": a_pts + b_pts, "no_result": failed, "games": len(self.games), "played_now": self.played_now}


def match_key(a: EngineSpec, b: EngineSpec, settings: MatchSettings) -> str:
    """The key that identifies a match (and lets a rerun resume it)."""
    s = asdict(settings)
    s.pop("move_timeout")
    s.pop("check_score")
    return json.dumps({"a": a.spec, "b": b.spec, **s}, sort_keys=True)


def preflight(specs: list[EngineSpec], settings: MatchSettings) -> dict[str, tuple[str, str]]:
    """Start each engine once and set up a game: a missing engine or refused size/komi raises SettingsError."""
    names = {}
    for spec in specs:
        try:
            spec.check_available()
            eng = spec.start(seed=1, move_timeout=settings.move_timeout)
        except EngineError as exc:
            raise SettingsError(str(exc) if spec.spec in str(exc) else f"{spec.spec}: {exc}") from None
        try:
            eng.new_game(settings.size, settings.komi)
            names[spec.spec] = (eng.name, eng.version)
        except GTPError as exc:
            raise SettingsError(f"{spec.spec} refuses the settings (size {settings.size}, komi {settings.komi:g}): "
                                f"{exc}") from None
        except EngineError as exc:
            raise SettingsError(f"{spec.spec} failed while setting up a game: {exc}") from None
        finally:
            eng.close()
    return names


def run_match(a: str | EngineSpec, b: str | EngineSpec, games: int, settings: MatchSettings, db: ResultsDB,
              sgf_dir: str | Path, parallel: int = 1, on_game: Callable[[GameOutcome], None] | None = None,
              check_engines: bool = True, cluster: str | None = None) -> MatchResult:
    """Play the games of match ``a`` vs ``b`` not yet in ``db`` (a is black in even-numbered games).

    ``cluster`` (``local``, ``auto``, ``HOST:PORT``) plays the games as Ray tasks there,
    ``parallel`` at a time (0: as many as the cluster's CPUs); results and SGFs are still
    written here only (`gozero.eval.cluster_games`)."""
    spec_a = a if isinstance(a, EngineSpec) else parse_spec(a)
    spec_b = b if isinstance(b, EngineSpec) else parse_spec(b)
    if games < 1:
        raise SettingsError("a match needs at least one game")
    if parallel < (0 if cluster else 1):
        raise SettingsError("parallel must be >= 1 (0 with a cluster: as many as it holds)")
    key = match_key(spec_a, spec_b, settings)
    match_id = db.match_id(key, spec_a.spec, spec_b.spec, settings.size, settings.komi, settings.rules, games,
                           {k: v for k, v in asdict(settings).items() if k not in ("size", "komi", "rules")})
    todo = [i for i in range(games) if i not in db.done_indices(match_id)]
    if todo:
        if check_engines:
            names = preflight([spec_a] if spec_a == spec_b else [spec_a, spec_b], settings)
            for spec, (name, version) in names.items():
                db.player_id(spec, name, version, (spec_a if spec == spec_a.spec else spec_b).settings)
        gnugo = find_gnugo() if settings.check_score or settings.scoring in ("gnugo-dead", "cleanup") else None
        scorer = GnuGoScorer(gnugo, timeout=max(60.0, settings.move_timeout)) if gnugo else None
        base_seed = zlib.crc32(key.encode()) & 0x3FFFFFF
        sgf_dir = Path(sgf_dir) / f"match_{match_id:04d}"
        info = f"gozero match {spec_a.spec} vs {spec_b.spec}, {settings.size}x{settings.size}, komi {settings.komi:g}"

        def one(i: int) -> GameOutcome:
            black, white = (spec_a, spec_b) if i % 2 == 0 else (spec_b, spec_a)
            return play_game(black, white, settings, index=i, seed=base_seed + 7 * i, scorer=scorer,
                             sgf_path=sgf_dir / f"game_{i:04d}.sgf", game_info=info, stop=stop)

        stop = threading.Event()
        pending: set[Future] = set()
        queue = list(todo)
        if cluster:
            from .cluster_games import ClusterGames

            pool = ClusterGames(cluster, [spec_a, spec_b], settings, scorer is not None, info, sgf_dir)
            parallel = parallel or pool.slots

            def submit(i: int) -> Future:
                black, white = (spec_a, spec_b) if i % 2 == 0 else (spec_b, spec_a)
                return pool.submit(i, black, white, base_seed + 7 * i)

            outcome = pool.outcome
        else:
            pool = ThreadPoolExecutor(max_workers=parallel)

            def submit(i: int) -> Future:
                return pool.submit(one, i)

            def outcome(fut: Future) -> GameOutcome:
                return fut.result()
        with pool:
            try:
                while queue or pending:
                    while queue and len(pending) < parallel:
                        pending.add(submit(queue.pop(0)))
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in done:
                        out = outcome(fut)
                        if out.status == "interrupted":
                            continue
                        _record(db, match_id, out, settings, spec_a, spec_b)
                        if on_game is not None:
                            on_game(out)
            except BaseException:  # Ctrl-C or a failing callback: finished games are kept, running ones dropped
                stop.set()
                queue.clear()
                for fut in pending:
                    fut.cancel()
                raise
    return MatchResult(match_id, spec_a.spec, spec_b.spec, db.match_games(match_id), len(todo))


def _record(db: ResultsDB, match_id: int, out: GameOutcome, settings: MatchSettings, a: EngineSpec,
            b: EngineSpec) -> None:
    for spec in (a, b):
        name, version = out.names.get(spec.spec, ("", ""))
        db.player_id(spec.spec, name, version, spec.settings)
    db.add_game(match_id, out.index, out.black, out.white, settings.size, settings.komi, out.status, out.winner,
                out.result, out.score, out.check_score, out.cause, len(out.moves), out.seed, out.sgf, out.seconds)


def cpu_budget() -> int:
    """Cores this process may use (for a sensible default of --parallel)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1
