"""The web page's server: a FastAPI app that serves its own page and a small JSON API.

``create_app(player=..., db_path=...)`` builds the app. Each game lives behind an
unguessable id (``secrets.token_urlsafe``) and is written to SQLite (`store.GameStore`) on
every change, so a reload or a restart loses nothing. One player serves every game (by
default `gozero.play.players.build_player` on the chosen model, built on first use); each
game's strength goes into each call as `SearchLimits` and a temperature, never into the
player. Moves and analyses run in FastAPI's thread pool, one game at a time under that
game's lock, so several people can play at once. A game ended by two passes is counted
by the app's rules: area with the dead stones removed (default) or Tromp-Taylor. Every
request body is a pydantic model; bad input (malformed JSON, an illegal or off-board move,
the wrong turn, an unknown game) is answered with a 4xx status and a message.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from fastapi import FastAPI, HTTPException, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field

from gozero.rules import Game, IllegalMove, Rules, dead_stones, fixed_handicap_points
from gozero.rules import kernels as K
from gozero.rules.coords import CoordError, from_gtp, to_gtp
from gozero.rules.sgf import SgfError, game_to_sgf, load_sgf, rules_from_name
from gozero.search.player import DEFAULT_VISITS, RESIGN, Analysis, Player, SearchLimits

if TYPE_CHECKING:
    from gozero.search.mcts import SearchConfig

from .store import EvalPoint, GameRecord, GameStore

STATIC_DIR = Path(__file__).parent / "static"
GAME_ID = PathParam(pattern=r"^[A-Za-z0-9_-]{8,64}$", description="the game's id")
WEAK_VISITS = 16  # the weaker mode's visit cap; it also samples moves at temperature 1
DEFAULT_ANALYSIS_VISITS = 100
MAX_SESSIONS = 512  # games kept in memory; others are rebuilt from the database on demand
COLOR_NAME = {K.BLACK: "B", K.WHITE: "W"}


@dataclass(frozen=True)
class Strength:
    """How hard the bot tries: visits and/or seconds per move, and the weaker sampling mode."""

    visits: int | None = None
    seconds: float | None = None
    weak: bool = False

    @property
    def temperature(self) -> float:
        return 1.0 if self.weak else 0.0

    @property
    def search_visits(self) -> int | None:
        if self.weak:
            return min(self.visits or WEAK_VISITS, WEAK_VISITS)
        return self.visits

    @property
    def limits(self) -> SearchLimits:
        """The budget of one bot move (unbounded: the player's own default)."""
        return SearchLimits(visits=self.search_visits, seconds=self.seconds)


def model_loader(model: str | None = None, search: SearchConfig | None = None) -> Callable[[], Player]:
    """Builds the one player of ``model`` (a checkpoint path, ``"random"``, or None for the
    shipped model) with the search settings ``search`` (default: the package's)."""
    from gozero.play.players import build_player

    return lambda: build_player(model, search=search)


def default_db_path() -> Path:
    """``$XDG_DATA_HOME/gozero/web.sqlite``, else ``~/.local/share/gozero/web.sqlite``."""
    import os

    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "gozero" / "web.sqlite"


# -- request bodies ------------------------------------------------------------------------------
class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StrengthIn(StrictModel):
    visits: int | None = Field(default=DEFAULT_VISITS, ge=1, le=100_000, description="search visits per move")
    seconds: float | None = Field(default=None, gt=0, le=600, description="seconds per move")
    weak: bool = Field(default=False, description="fewer visits and moves sampled at temperature 1")


class NewGameIn(StrictModel):
    size: int = Field(default=9, ge=2, le=19)
    komi: float = Field(default=7.5, ge=-150, le=150, multiple_of=0.5)
    color: Literal["black", "white"] = "black"
    handicap: int = Field(default=0, ge=0, le=9)
    strength: StrengthIn = Field(default_factory=StrengthIn)


class MoveIn(StrictModel):
    move: str = Field(min_length=1, max_length=8, description="GTP vertex such as 'D4', or 'pass'")
    ply: int | None = Field(default=None, ge=0, description="moves played so far, to refuse a stale click")


class GenmoveIn(StrictModel):
    ply: int | None = Field(default=None, ge=0)


class AnalyzeIn(StrictModel):
    ply: int | None = Field(default=None, ge=0, description="analyse the position after this many moves")
    visits: int | None = Field(default=None, ge=1, le=100_000)


class ImportIn(StrictModel):
    sgf: str = Field(min_length=2, max_length=1_000_000)


class DeadIn(StrictModel):
    vertex: str = Field(min_length=2, max_length=4, description="a stone of the group to mark dead or alive")


# -- one game in memory ------------------------------------------------------------------------------
class Session:
    """A stored game with its rebuilt `Game`, the boards of every ply and its lock."""

    def __init__(self, rec: GameRecord, scoring: str = "area_dead_removed"):
        self.rec = rec
        self.scoring = scoring
        self.lock = threading.Lock()
        self.game = build_game(rec, len(rec.moves), scoring)
        self.boards, self.captures = replay_boards(rec)

    @property
    def strength(self) -> Strength:
        s = self.rec.strength
        return Strength(visits=s.get("visits"), seconds=s.get("seconds"), weak=bool(s.get("weak", False)))


def build_game(rec: GameRecord, ply: int, scoring: str = "area_dead_removed") -> Game:
    """The game of a record after its first ``ply`` moves, counted by ``scoring``."""
    base = rules_from_name(rec.rules, rec.komi)
    game = Game(rec.size, Rules(komi=base.komi, ko=base.ko, suicide=base.suicide, scoring=scoring))
    if rec.first != game.to_move:
        game.position.to_move = rec.first
    for color, point in rec.setup:
        game.place_setup(int(color), int(point))
    game.handicap = rec.handicap
    for color, move in rec.moves[:ply]:
        game.play(int(move), int(color))
    return game


def replay_boards(rec: GameRecord) -> tuple[list[str], list[list[int]]]:
    """Stones after each ply as strings of '.', 'X', 'O' (row by row) and captures by ply."""
    game = build_game(rec, 0)
    boards, caps = [board_string(game)], [list(game.position.captures)]
    for color, move in rec.moves:
        game.play(int(move), int(color))
        boards.append(board_string(game))
        caps.append(list(game.position.captures))
    return boards, caps


def board_string(game: Game) -> str:
    return "".join(".XO"[int(c)] for c in game.position.stones)


def can_analyze(player: Any) -> bool:
    return callable(getattr(player, "analyze", None))


# -- the app ------------------------------------------------------------------------------------------
def create_app(player: Player | None = None, db_path: str | Path | None = None, model: str | None = None,
               search: SearchConfig | None = None, rules: Rules | None = None) -> FastAPI:
    """The FastAPI app: the page at ``/``, its files at ``/static``, the JSON API under ``/api``.

    ``player`` serves every game; without one, the player of ``model`` with the search
    settings ``search`` is built on first use. ``rules.scoring`` says how a finished game is
    counted (default: area with dead stones removed).
    """
    load = model_loader(model, search)
    scoring = rules.scoring if rules is not None else "area_dead_removed"
    store = GameStore(db_path or default_db_path())
    sessions: OrderedDict[str, Session] = OrderedDict()
    sessions_lock = threading.Lock()
    bot: list[Player] = [player] if player is not None else []
    bot_lock = threading.Lock()

    app = FastAPI(title="gozero", description="Play and analyse Go against gozero.", docs_url="/api/docs",
                  redoc_url=None, openapi_url="/api/openapi.json")
    app.state.store = store
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    # -- errors: always a 4xx with a readable message for bad input -----------------------------------
    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for err in exc.errors():
            if err.get("type") == "json_invalid":
                parts.append(f"malformed JSON: {err.get('ctx', {}).get('error', 'cannot parse the body')}")
                continue
            where = ".".join(str(x) for x in err.get("loc", ()) if x != "body")
            parts.append(f"{where}: {err.get('msg')}" if where else str(err.get("msg")))
        return JSONResponse({"detail": "; ".join(parts) or "invalid request"}, status_code=422)

    @app.exception_handler(IllegalMove)
    async def illegal_move(request: Request, exc: IllegalMove) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    @app.exception_handler(CoordError)
    async def bad_coordinate(request: Request, exc: CoordError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    # -- sessions ------------------------------------------------------------------------------------
    def session(game_id: str) -> Session:
        with sessions_lock:
            sess = sessions.get(game_id)
            if sess is not None:
                sessions.move_to_end(game_id)
                return sess
        rec = store.load(game_id)
        if rec is None:
            raise HTTPException(404, f"no game with id {game_id!r}")
        with sessions_lock:
            sess = sessions.get(game_id)
            if sess is None:
                sess = sessions[game_id] = Session(rec, scoring)
                while len(sessions) > MAX_SESSIONS:
                    sessions.popitem(last=False)
            return sess

    def add_session(rec: GameRecord) -> Session:
        store.save(rec)
        sess = Session(rec, scoring)
        with sessions_lock:
            sessions[rec.id] = sess
            while len(sessions) > MAX_SESSIONS:
                sessions.popitem(last=False)
        return sess

    def the_player() -> Player:
        """The one player of every game (built on first use)."""
        with bot_lock:
            if not bot:
                bot.append(load())
            return bot[0]

    def bot_name() -> str:
        p = the_player()
        return str(getattr(p, "name", type(p).__name__))

    # -- game state as JSON --------------------------------------------------------------------------
    def state(sess: Session) -> dict[str, Any]:
        rec, game = sess.rec, sess.game
        size = rec.size
        name = bot_name()
        bot_to_move = rec.mode == "play" and rec.result is None and game.to_move != rec.human
        out: dict[str, Any] = {
            "id": rec.id, "size": size, "komi": rec.komi, "handicap": rec.handicap, "mode": rec.mode,
            "human": COLOR_NAME.get(rec.human), "strength": rec.strength, "names": rec.names,
            "moves": [{"color": COLOR_NAME[c], "vertex": to_gtp(m, size), "point": m if m < size * size else None}
                      for c, m in rec.moves],
            "setup": [{"color": COLOR_NAME[c], "vertex": to_gtp(p, size), "point": p} for c, p in rec.setup],
            "boards": sess.boards, "captures": sess.captures, "ply": len(rec.moves),
            "to_move": COLOR_NAME[game.to_move], "over": rec.result is not None, "result": rec.result,
            "bot_to_move": bot_to_move, "analysis": can_analyze(the_player()), "bot": name,
            "evals": [{"ply": e.ply, "winrate": e.winrate, "score_lead": e.score_lead, "visits": e.visits}
                      for e in store.evals(rec.id, len(rec.moves))],
            "dead": [to_gtp(p, size) for p in rec.dead], "score": None, "territory": None,
        }
        if rec.result is not None and not rec.result.endswith("+R"):
            dead = np.zeros(size * size, np.bool_)
            dead[list(rec.dead)] = True
            score, owner = game.position.score(rec.komi, dead)
            out["score"] = score
            out["territory"] = "".join(".BW"[int(o)] for o in owner)
        return out

    def save(sess: Session) -> None:
        store.save(sess.rec)

    def check_ply(sess: Session, ply: int | None) -> None:
        if ply is not None and ply != len(sess.rec.moves):
            raise HTTPException(409, f"the game has moved on: {len(sess.rec.moves)} moves played, not {ply}")

    def play(sess: Session, color: int, move: int) -> None:
        sess.game.play(move, color)
        sess.rec.moves.append((color, move))
        sess.boards.append(board_string(sess.game))
        sess.captures.append(list(sess.game.position.captures))
        if sess.game.is_over:
            finish(sess)

    def finish(sess: Session) -> None:
        """Two passes: mark dead stones from the ownership estimate (when there is one) and score."""
        rec, game = sess.rec, sess.game
        mask = np.zeros(rec.size * rec.size, np.bool_)
        player = the_player()
        if game.rules.scoring == "area_dead_removed" and can_analyze(player):
            try:
                analysis = player.analyze(game.copy(), SearchLimits(visits=min(sess.strength.visits or 64, 200)))
            except Exception:  # scoring must not fail because the analysis did
                analysis = None
            if analysis is not None and analysis.ownership is not None:
                own = np.asarray(analysis.ownership, float) * (1 if game.to_move == K.BLACK else -1)
                mask = dead_stones(game.position, own)
        rec.dead = [int(p) for p in np.flatnonzero(mask)]
        rec.result = game.result_string(mask)

    def analysis_json(sess: Session, analysis: Analysis, game: Game, ply: int) -> dict[str, Any]:
        size = game.size
        sign = 1 if game.to_move == K.BLACK else -1
        black_wr = analysis.winrate if sign > 0 else 1 - analysis.winrate
        own = None
        if analysis.ownership is not None:
            own = [round(float(x) * sign, 3) for x in np.asarray(analysis.ownership)]
        return {
            "ply": ply, "to_move": COLOR_NAME[game.to_move], "visits": int(analysis.visits),
            "winrate": float(black_wr), "score_lead": float(analysis.score_lead) * sign,
            "policy": [round(float(x), 4) for x in np.asarray(analysis.policy)],
            "ownership": own,
            "moves": [{"vertex": to_gtp(m.move, size), "point": m.move if m.move < size * size else None,
                       "visits": int(m.visits), "winrate": float(m.winrate), "prior": float(m.prior),
                       "score_lead": float(m.score_lead), "pv": [to_gtp(p, size) for p in m.pv]}
                      for m in analysis.moves[:12]],
        }

    # -- routes ------------------------------------------------------------------------------------------
    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/api/info")
    def info() -> dict[str, Any]:
        """The bot behind the page and whether it can analyse."""
        name = bot_name()
        return {"bot": name, "analysis": can_analyze(the_player()), "model": model, "scoring": scoring}

    @app.post("/api/games")
    def new_game(body: NewGameIn) -> dict[str, Any]:
        """Start a game; when the bot has the first move, call ``genmove`` next."""
        setup: list[tuple[int, int]] = []
        if body.handicap == 1:
            raise HTTPException(422, "handicap must be 0 or between 2 and 9 (one stone is just no komi)")
        if body.handicap:
            try:
                setup = [(K.BLACK, p) for p in fixed_handicap_points(body.size, body.handicap)]
            except ValueError as exc:
                raise HTTPException(422, str(exc)) from exc
        human = K.BLACK if body.color == "black" else K.WHITE
        rec = GameRecord(id=secrets.token_urlsafe(16), size=body.size, komi=body.komi, human=human,
                         handicap=body.handicap, strength=body.strength.model_dump(), setup=setup,
                         first=K.WHITE if setup else K.BLACK,
                         names={"black" if human == K.BLACK else "white": "You",
                                "white" if human == K.BLACK else "black": "gozero"})
        return state(add_session(rec))

    @app.get("/api/games/{game_id}")
    def get_game(game_id: str = GAME_ID) -> dict[str, Any]:
        sess = session(game_id)
        with sess.lock:
            return state(sess)

    @app.post("/api/games/{game_id}/move")
    def human_move(body: MoveIn, game_id: str = GAME_ID) -> dict[str, Any]:
        """Play the person's move (a GTP vertex or 'pass')."""
        sess = session(game_id)
        with sess.lock:
            rec = sess.rec
            if rec.mode != "play":
                raise HTTPException(409, "this game is loaded for review; start a new game to play")
            if rec.result is not None:
                raise HTTPException(409, f"the game is over ({rec.result})")
            if sess.game.to_move != rec.human:
                raise HTTPException(409, "it is not your turn: the bot is to move")
            check_ply(sess, body.ply)
            move = from_gtp(body.move, rec.size)
            if move < rec.size * rec.size and sess.game.position.stones[move] != K.EMPTY:
                raise IllegalMove(f"{to_gtp(move, rec.size)} is occupied")
            play(sess, rec.human, move)
            save(sess)
            return state(sess)

    @app.post("/api/games/{game_id}/genmove")
    def bot_move(body: GenmoveIn | None = None, game_id: str = GAME_ID) -> dict[str, Any]:
        """Let the bot play its move (it may pass or resign)."""
        sess = session(game_id)
        with sess.lock:
            rec = sess.rec
            if rec.mode != "play":
                raise HTTPException(409, "this game is loaded for review; the bot does not play in it")
            if rec.result is not None:
                raise HTTPException(409, f"the game is over ({rec.result})")
            if sess.game.to_move == rec.human:
                raise HTTPException(409, "it is your turn, not the bot's")
            check_ply(sess, body.ply if body else None)
            player = the_player()
            color = sess.game.to_move
            strength = sess.strength
            try:
                move = int(player.genmove(sess.game.copy(), strength.limits, temperature=strength.temperature))
            except Exception as exc:  # report the bot's failure, keep the game
                raise HTTPException(503, f"the bot failed to move: {exc}") from exc
            if move == RESIGN:
                rec.result = f"{COLOR_NAME[rec.human]}+R"
            else:
                if not sess.game.is_legal(move):
                    raise HTTPException(503, f"the bot chose an illegal move {move}")
                play(sess, color, move)
            save(sess)
            out = state(sess)
            out["bot_move"] = "resign" if move == RESIGN else to_gtp(move, rec.size)
            return out

    @app.post("/api/games/{game_id}/undo")
    def undo(game_id: str = GAME_ID) -> dict[str, Any]:
        """Take back the person's last move and the bot's answers after it."""
        sess = session(game_id)
        with sess.lock:
            rec = sess.rec
            if rec.mode != "play":
                raise HTTPException(409, "this game is loaded for review; nothing to undo")
            if rec.result is not None and rec.result.endswith("+R"):
                raise HTTPException(409, "the game ended by resignation")
            if not any(c == rec.human for c, _ in rec.moves):
                raise HTTPException(409, "there is no move of yours to take back")
            while rec.moves and rec.moves[-1][0] != rec.human:
                rec.moves.pop()
            rec.moves.pop()
            rec.result, rec.dead = None, []
            sess.game = build_game(rec, len(rec.moves), scoring)
            del sess.boards[len(rec.moves) + 1:]
            del sess.captures[len(rec.moves) + 1:]
            store.drop_evals_after(rec.id, len(rec.moves))
            save(sess)
            return state(sess)

    @app.post("/api/games/{game_id}/resign")
    def resign(game_id: str = GAME_ID) -> dict[str, Any]:
        sess = session(game_id)
        with sess.lock:
            rec = sess.rec
            if rec.mode != "play":
                raise HTTPException(409, "this game is loaded for review; nobody can resign")
            if rec.result is not None:
                raise HTTPException(409, f"the game is over ({rec.result})")
            rec.result = f"{COLOR_NAME[K.WHITE if rec.human == K.BLACK else K.BLACK]}+R"
            save(sess)
            return state(sess)

    @app.post("/api/games/{game_id}/dead")
    def toggle_dead(body: DeadIn, game_id: str = GAME_ID) -> dict[str, Any]:
        """At the end of a scored game, mark a group dead (or alive again) and score anew."""
        sess = session(game_id)
        with sess.lock:
            rec, game = sess.rec, sess.game
            if rec.result is None or rec.result.endswith("+R"):
                raise HTTPException(409, "dead stones are marked only after two passes")
            point = from_gtp(body.vertex, rec.size)
            stones = game.position.stones
            if point >= rec.size * rec.size or stones[point] == K.EMPTY:
                raise HTTPException(400, f"there is no stone at {body.vertex}")
            group = next(g for g in game.position.groups() if point in g)
            dead = set(rec.dead)
            dead = dead - set(group) if point in dead else dead | set(group)
            rec.dead = sorted(dead)
            mask = np.zeros(rec.size * rec.size, np.bool_)
            mask[rec.dead] = True
            rec.result = game.result_string(mask)
            save(sess)
            return state(sess)

    @app.post("/api/games/{game_id}/analyze")
    def analyze(body: AnalyzeIn, game_id: str = GAME_ID) -> dict[str, Any]:
        """The bot's view of a position: policy, candidates with visits and win rates, ownership."""
        sess = session(game_id)
        with sess.lock:
            rec = sess.rec
            ply = len(rec.moves) if body.ply is None else body.ply
            if ply > len(rec.moves):
                raise HTTPException(400, f"ply {ply} is past the end of the game ({len(rec.moves)} moves)")
            player = the_player()
            if not can_analyze(player):
                raise HTTPException(409, "analysis needs a model: this bot cannot analyse")
            game = build_game(rec, ply, scoring)
            visits = body.visits or sess.strength.visits or DEFAULT_ANALYSIS_VISITS
            try:
                analysis = player.analyze(game, SearchLimits(visits=visits))
            except Exception as exc:
                raise HTTPException(503, f"the analysis failed: {exc}") from exc
            out = analysis_json(sess, analysis, game, ply)
            store.put_eval(rec.id, EvalPoint(ply, out["winrate"], out["score_lead"], out["visits"]))
            return out

    @app.get("/api/games/{game_id}/sgf")
    def download_sgf(game_id: str = GAME_ID) -> Response:
        sess = session(game_id)
        with sess.lock:
            text = record_to_sgf(sess.rec, sess.game)
        return Response(text, media_type="application/x-go-sgf",
                        headers={"Content-Disposition": f'attachment; filename="gozero-{game_id[:8]}.sgf"'})

    @app.post("/api/games/import")
    def import_sgf(body: ImportIn) -> dict[str, Any]:
        """Load an SGF game record for review (step through it, analyse each position)."""
        rec, warnings = sgf_to_record(body.sgf)
        return {**state(add_session(rec)), "warnings": warnings}

    return app


# -- SGF ------------------------------------------------------------------------------------------------
def record_to_sgf(rec: GameRecord, game: Game) -> str:
    """SGF text of a stored game (players, result, setup stones and moves)."""
    import datetime

    names = rec.names or {}
    date = datetime.date.fromtimestamp(rec.created or 0).isoformat()
    return game_to_sgf(game, black=names.get("black"), white=names.get("white"), result=rec.result,
                       rules=rec.rules, extra={"DT": date})


def sgf_to_record(text: str) -> tuple[GameRecord, list[str]]:
    """A review record of an SGF file and the reader's warnings; raises HTTPException(400)
    with the reader's message on a bad file. A record that sets up stones after its first
    move is reviewed from its last setup position (the replayed game's setup and moves)."""
    try:
        loaded = load_sgf(text)
    except (SgfError, IllegalMove, CoordError, ValueError) as exc:
        raise HTTPException(400, f"cannot load file: {exc}") from exc
    names = {k: v for k, v in (("black", loaded.black), ("white", loaded.white)) if v}
    game = loaded.game
    first = game.moves[0][0] if game.moves else game.to_move
    return GameRecord(id=secrets.token_urlsafe(16), size=loaded.size, komi=float(loaded.komi), human=0,
                      mode="review", handicap=loaded.handicap, setup=[(int(c), int(p)) for c, p in game.setup],
                      moves=[(int(c), int(m)) for c, m in game.moves], result=loaded.result or None, names=names,
                      rules=loaded.rules or "Chinese", first=first), list(loaded.warnings)
