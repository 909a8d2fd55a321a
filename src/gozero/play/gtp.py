"""The GTP version 2 engine: GUIs, referees and other engines talk to gozero through this.

`GtpEngine` keeps a `Game`, a pluggable `Player` and a `TimeControl`; each GTP command is
a method ``cmd_<name>`` (``kata-analyze`` -> ``cmd_kata_analyze``). It speaks the GTP 2
spec (ids echoed, ``= ...``/``? ...`` answers ended by a blank line, comments, blank lines
and control characters dropped) plus GNU Go's ``list_stones``/``is_legal``/``all_legal``,
KGS's time and cleanup commands and the Leela Zero / KataGo analysis extensions
(``lz-analyze``, ``kata-analyze``, ``*-genmove_analyze``), which stream ``info`` lines from a
search thread until the next line arrives on stdin.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import queue
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO

import numpy as np

from gozero import __version__
from gozero.rules import (
    BLACK,
    DEAD_THRESHOLD,
    WHITE,
    Game,
    IllegalMove,
    Rules,
    dead_stones,
    fixed_handicap_points,
    to_gtp,
)
from gozero.rules.coords import GTP_COLUMNS
from gozero.rules.game import MAX_SIZE, MIN_SIZE, render_board
from gozero.rules.sgf import SgfError, game_to_sgf, read_sgf_file
from gozero.search.player import RESIGN, Analysis, Player, SearchLimits

from .timecontrol import TimeControl

log = logging.getLogger("gozero.gtp")

COLORS = {"b": BLACK, "black": BLACK, "w": WHITE, "white": WHITE}
DASHED_PREFIXES = ("kgs_", "lz_", "kata_", "gogui_")
DEFAULT_INTERVAL = 1.0  # seconds between analysis lines when the command gives none
ANALYSIS_SECONDS = 3600.0  # time limit passed to the player for lz-analyze / kata-analyze


class GtpError(Exception):
    """A failed command; the message is the GTP error text (``? <message>``)."""


def _clean(line: str) -> str:
    """GTP preprocessing: drop control characters but HT/LF, HT -> space, cut comments."""
    line = "".join(" " if ch == "\t" else ch for ch in line if ch == "\t" or (ord(ch) >= 32 and ord(ch) != 127))
    return line.split("#", 1)[0].strip()


def _is_digits(token: str) -> bool:
    """ASCII digits only (``str.isdigit`` also accepts characters such as '²')."""
    return bool(token) and token.isascii() and token.isdigit()


def parse_color(token: str) -> int:
    color = COLORS.get(token.lower())
    if color is None:
        raise GtpError("syntax error")
    return color


def parse_vertex(token: str, size: int) -> int:
    """Flat index of a GTP vertex (``pass`` -> NN). Malformed: syntax error; off the board:
    `IllegalMove`."""
    v = token.strip().upper()
    if v == "PASS":
        return size * size
    if len(v) < 2 or v[0] not in GTP_COLUMNS or not _is_digits(v[1:]):
        raise GtpError("syntax error")
    col, row = GTP_COLUMNS.index(v[0]), size - int(v[1:])
    if not (0 <= row < size and 0 <= col < size):
        raise IllegalMove(f"vertex {token} is off the board")
    return row * size + col


def _int(token: str) -> int:
    try:
        return int(token)
    except ValueError:
        raise GtpError("syntax error") from None


def _float(token: str) -> float:
    try:
        value = float(token)
    except ValueError:
        raise GtpError("syntax error") from None
    if not math.isfinite(value):
        raise GtpError("syntax error")
    return value


def _nargs(args: list[str], lo: int, hi: int | None = None) -> None:
    hi = lo if hi is None else hi
    if not lo <= len(args) <= hi:
        raise GtpError("syntax error")


def _fmt(x: float, digits: int = 6) -> str:
    """Fixed-point float with a decimal point always present (Sabaki insists on it)."""
    s = f"{float(x):.{digits}f}".rstrip("0")
    return s + "0" if s.endswith(".") else s


@dataclasses.dataclass
class AnalyzeRequest:
    """Parsed arguments of an analysis command."""

    color: int
    interval: float  # seconds; 0 = only the final line
    minmoves: int = 0
    maxmoves: int = 0  # 0 = no cap
    ownership: bool = False


class GtpEngine:
    """One GTP session: game state, player, clocks, and a command per ``cmd_`` method."""

    def __init__(self, player: Player, size: int = 19, komi: float = 7.5, name: str = "gozero",
                 version: str = __version__, out: IO[str] | None = None,
                 player_sizes: Iterable[int] | None = None):
        if not MIN_SIZE <= size <= MAX_SIZE:
            raise ValueError(f"board size {size} is outside {MIN_SIZE}..{MAX_SIZE}")
        if not math.isfinite(komi):
            raise ValueError("komi must be a finite number")
        self.player = player
        self.name, self.version = name, version
        self.size, self.komi = size, float(komi)
        self.rules = Rules(komi=self.komi)
        self.game = Game(size, self.rules)
        self.time = TimeControl()
        self.out = out if out is not None else sys.stdout
        self.player_sizes = set(player_sizes) if player_sizes is not None else None
        self.engine_colors: set[int] = set()
        self.quit = False
        self._cmd_id = ""
        self._base_visits = getattr(player, "visits", None)
        self._write_lock = threading.Lock()
        self._capture: list[str] | None = None
        self._input: queue.Queue[str | None] | None = None
        self._pending: deque[str | None] = deque()
        self._ownership_cache: tuple[tuple[int, int, int], np.ndarray] | None = None
        self.commands: dict[str, Callable[[list[str]], str]] = {}
        for attr in sorted(dir(self)):
            if attr.startswith("cmd_"):
                self.commands[self._command_name(attr[4:])] = getattr(self, attr)

    @staticmethod
    def _command_name(method: str) -> str:
        for prefix in DASHED_PREFIXES:
            if method.startswith(prefix):
                return prefix[:-1] + "-" + method[len(prefix):]
        return method

    # -- I/O ---------------------------------------------------------------------------------
    def _write(self, text: str) -> None:
        with self._write_lock:
            if self._capture is not None:
                self._capture.append(text)
            self.out.write(text)
            self.out.flush()

    def handle(self, line: str) -> str:
        """Run one command line; return everything written for it ("" for blank/comment lines)."""
        self._capture = []
        try:
            self.execute(line)
            return "".join(self._capture)
        finally:
            self._capture = None

    def execute(self, line: str) -> None:
        """Run one command line, writing its answer to ``out``."""
        text = _clean(line)
        if not text:
            return
        tokens = text.split()
        cmd_id = ""
        if _is_digits(tokens[0]):
            cmd_id = tokens.pop(0)
            if not tokens:
                self._write(f"?{cmd_id} syntax error\n\n")
                return
        name, args = tokens[0], tokens[1:]
        method = self.commands.get(name)
        if method is None:
            self._write(f"?{cmd_id} unknown command\n\n")
            return
        self._cmd_id = cmd_id
        try:
            result = method(args)
        except GtpError as exc:
            self._write(f"?{cmd_id} {exc}\n\n")
            return
        except Exception as exc:  # a bug must not kill the session
            log.exception("command %r failed", text)
            self._write(f"?{cmd_id} internal error: {type(exc).__name__}: {exc}".replace("\n", " ") + "\n\n")
            return
        if result is None:  # streaming commands write their own answer
            return
        if result.startswith("\n"):
            self._write(f"={cmd_id}{result}\n\n")
        elif result:
            self._write(f"={cmd_id} {result}\n\n")
        else:
            self._write(f"={cmd_id}\n\n")

    def _next_line(self) -> str | None:
        """The next input line (None at end of input), pending lines first."""
        if self._pending:
            return self._pending.popleft()
        assert self._input is not None
        return self._input.get()

    def run(self, stream: Iterable[str] | Iterable[bytes] | None = None) -> None:
        """Serve GTP on ``stream`` (any iterable of lines; default stdin) until ``quit`` or
        end of input."""
        if stream is None:
            # Raw reads: a reader thread blocked in sys.stdin's buffered reader would abort
            # the interpreter at exit after ``quit``.
            stream = _fd_lines(sys.stdin.fileno())
        self._input = queue.Queue()

        def reader() -> None:
            try:
                for raw in stream:
                    line = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
                    self._input.put(line)
            except (OSError, ValueError) as exc:
                log.warning("input closed: %s", exc)
            finally:
                self._input.put(None)

        threading.Thread(target=reader, name="gtp-reader", daemon=True).start()
        while not self.quit:
            line = self._next_line()
            if line is None:
                break
            self.execute(line)
        self._input = None

    # -- helpers -------------------------------------------------------------------------------
    def _new_game(self, size: int | None = None) -> None:
        self.size = size or self.size
        self.game = Game(self.size, dataclasses.replace(self.rules, komi=self.komi))
        self.time.reset()
        self.engine_colors.clear()
        self._ownership_cache = None

    def _board_empty(self) -> bool:
        return not self.game.moves and not self.game.setup and not self.game.position.stones.any()

    def _legal(self, move: int, color: int) -> bool:
        return self.game.is_legal(move, color)

    def _vertices(self, points: Iterable[int]) -> str:
        return " ".join(to_gtp(int(p), self.size) for p in points)

    def _set_turn(self, game: Game, color: int) -> Game:
        """``game`` with ``color`` to move (a copy when the turn has to change)."""
        if game.to_move == color:
            return game
        probe = game.copy()
        probe.position.to_move = color
        return probe

    def _limits(self, color: int) -> SearchLimits:
        """The limits of the next move of ``color``: the player's own, with the seconds capped
        by the clock when one runs."""
        own = getattr(self.player, "limits", None) or SearchLimits()
        budget = self.time.budget(color, len(self.game.moves), self.size * self.size)
        if budget is None:
            return own
        seconds = budget if own.seconds is None else min(own.seconds, budget)
        return SearchLimits(visits=own.visits, seconds=max(seconds, 1e-3))

    def _has_analysis(self) -> bool:
        return callable(getattr(self.player, "analyze", None))

    def _analyze(self, game: Game, limits: SearchLimits | None = None,
                 on_update: Callable[[Analysis], None] | None = None, interval: float = DEFAULT_INTERVAL,
                 stop: threading.Event | None = None) -> Analysis:
        return self.player.analyze(game, limits, on_update=on_update, stop=stop,  # type: ignore[attr-defined]
                                   interval=interval)

    def _black_ownership(self) -> np.ndarray | None:
        """Ownership (+ black) of the current position from the player's analysis, cached."""
        if not self._has_analysis():
            return None
        key = (self.game.position.hash, len(self.game.moves), self.game.to_move)
        if self._ownership_cache is not None and self._ownership_cache[0] == key:
            return self._ownership_cache[1]
        analysis = self._analyze(self.game.copy())
        if analysis.ownership is None:
            return None
        own = np.asarray(analysis.ownership, np.float64).reshape(-1)[: self.size * self.size]
        own = own if self.game.to_move == BLACK else -own
        self._ownership_cache = (key, own)
        return own

    def _status(self) -> tuple[list[list[int]], list[list[int]]]:
        """(alive, dead) strings: from the ownership estimate when the player has one,
        otherwise Tromp-Taylor (every stone alive)."""
        groups = self.game.position.groups()
        own = self._black_ownership()
        if own is None:
            return groups, []
        mask = dead_stones(self.game.position, own)
        return [g for g in groups if not mask[g[0]]], [g for g in groups if mask[g[0]]]

    def _dead_mask(self) -> np.ndarray:
        own = self._black_ownership()
        if own is None:
            return np.zeros(self.size * self.size, np.bool_)
        return dead_stones(self.game.position, own)

    def _play_generated(self, color: int, move: int) -> str:
        if move == RESIGN:
            return "resign"
        nn = self.size * self.size
        if not (0 <= move <= nn) or not self._legal(move, color):
            log.error("player %s chose an illegal move %r; passing instead", getattr(self.player, "name", "?"), move)
            move = nn
        self.game.play(move, color)
        self.engine_colors.add(color)
        return to_gtp(move, self.size)

    # -- administrative ------------------------------------------------------------------------
    def cmd_protocol_version(self, args: list[str]) -> str:
        return "2"

    def cmd_name(self, args: list[str]) -> str:
        return self.name

    def cmd_version(self, args: list[str]) -> str:
        return self.version

    def cmd_known_command(self, args: list[str]) -> str:
        _nargs(args, 1)
        return "true" if args[0] in self.commands else "false"

    def cmd_list_commands(self, args: list[str]) -> str:
        return "\n" + "\n".join(self.commands)

    def cmd_quit(self, args: list[str]) -> str:
        self.quit = True
        return ""

    # -- setup ---------------------------------------------------------------------------------
    def cmd_boardsize(self, args: list[str]) -> str:
        _nargs(args, 1)
        size = _int(args[0])
        if not MIN_SIZE <= size <= MAX_SIZE or (self.player_sizes is not None and size not in self.player_sizes):
            raise GtpError("unacceptable size")
        self._new_game(size)
        return ""

    def cmd_clear_board(self, args: list[str]) -> str:
        _nargs(args, 0)
        self._new_game()
        return ""

    def cmd_komi(self, args: list[str]) -> str:
        _nargs(args, 1)
        self.komi = _float(args[0])
        self.game.rules = dataclasses.replace(self.game.rules, komi=self.komi)
        return ""

    def cmd_fixed_handicap(self, args: list[str]) -> str:
        _nargs(args, 1)
        n = _int(args[0])
        if not self._board_empty():
            raise GtpError("board not empty")
        try:
            points = fixed_handicap_points(self.size, n)
        except ValueError:
            raise GtpError("invalid number of stones") from None
        self._place_handicap(points)
        return self._vertices(points)

    def cmd_place_free_handicap(self, args: list[str]) -> str:
        _nargs(args, 1)
        n = _int(args[0])
        if not self._board_empty():
            raise GtpError("board not empty")
        if not 2 <= n < self.size * self.size:
            raise GtpError("invalid number of stones")
        points = free_handicap_points(self.size, n)
        self._place_handicap(points)
        return self._vertices(points)

    def cmd_set_free_handicap(self, args: list[str]) -> str:
        if not self._board_empty():
            raise GtpError("board not empty")
        points: list[int] = []
        for token in args:
            try:
                p = parse_vertex(token, self.size)
            except (GtpError, IllegalMove):
                raise GtpError("bad vertex list") from None
            if p == self.size * self.size or p in points:
                raise GtpError("bad vertex list")
            points.append(p)
        if not 2 <= len(points) < self.size * self.size:
            raise GtpError("bad vertex list")
        self._place_handicap(points)
        return ""

    def _place_handicap(self, points: list[int]) -> None:
        for p in points:
            self.game.place_setup(BLACK, p)
        self.game.handicap = len(points)
        self.game.position.to_move = WHITE

    # -- play ----------------------------------------------------------------------------------
    def cmd_play(self, args: list[str]) -> str:
        _nargs(args, 2)
        color = parse_color(args[0])
        try:
            move = parse_vertex(args[1], self.size)
            self.game.play(move, color)
        except IllegalMove:
            raise GtpError("illegal move") from None
        return ""

    def _genmove(self, color: int) -> int:
        game = self._set_turn(self.game, color)
        limits = self._limits(color)
        start = time.monotonic()
        try:
            move = self.player.genmove(game, limits)
        finally:
            self.time.spend(color, time.monotonic() - start)
        return int(move)

    def cmd_genmove(self, args: list[str]) -> str:
        _nargs(args, 1)
        color = parse_color(args[0])
        return self._play_generated(color, self._genmove(color))

    def cmd_reg_genmove(self, args: list[str]) -> str:
        _nargs(args, 1)
        color = parse_color(args[0])
        move = self._genmove(color)
        return "resign" if move == RESIGN else to_gtp(move, self.size)

    def cmd_kgs_genmove_cleanup(self, args: list[str]) -> str:
        """genmove that does not pass while the opponent has dead stones left on the board."""
        _nargs(args, 1)
        color = parse_color(args[0])
        move = self._genmove(color)
        nn = self.size * self.size
        if move == nn:
            own = self._black_ownership()
            if own is not None:
                move = self._cleanup_move(color, own)
        return self._play_generated(color, move)

    def _cleanup_move(self, color: int, own_black: np.ndarray) -> int:
        """A legal move next to a dead opponent stone, or pass when there is none."""
        nn = self.size * self.size
        stones = self.game.position.stones
        other = WHITE if color == BLACK else BLACK
        sign = 1.0 if other == BLACK else -1.0
        dead = [p for p in range(nn) if stones[p] == other and sign * own_black[p] < DEAD_THRESHOLD]
        for p in dead:
            r, c = divmod(p, self.size)
            for rr, cc in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)):
                q = rr * self.size + cc
                if 0 <= rr < self.size and 0 <= cc < self.size and stones[q] == 0 and self._legal(q, color):
                    return q
        return nn

    def cmd_undo(self, args: list[str]) -> str:
        _nargs(args, 0)
        if not self.game.moves:
            raise GtpError("cannot undo")
        self.game.undo()
        return ""

    def cmd_showboard(self, args: list[str]) -> str:
        pos = self.game.position
        caps_b, caps_w = pos.captures
        turn = "black" if pos.to_move == BLACK else "white"
        board = render_board(pos.stones, self.size, pos.last_move)
        return (f"\n{board}\nmove {len(self.game.moves)}, {turn} to play, komi {self.game.rules.komi:g}, "
                f"captures black {caps_b} white {caps_w}")

    # -- scoring -------------------------------------------------------------------------------
    def cmd_final_score(self, args: list[str]) -> str:
        _nargs(args, 0)
        return self.game.result_string(self._dead_mask())

    def cmd_final_status_list(self, args: list[str]) -> str:
        _nargs(args, 1)
        status = args[0].lower()
        if status not in ("alive", "dead", "seki"):
            raise GtpError("syntax error")
        if status == "seki":
            return ""
        alive, dead = self._status()
        groups = alive if status == "alive" else dead
        if not groups:
            return ""
        return "\n" + "\n".join(self._vertices(g) for g in groups)

    # -- records -------------------------------------------------------------------------------
    def cmd_loadsgf(self, args: list[str]) -> str:
        _nargs(args, 1, 2)
        move_number = _int(args[1]) if len(args) == 2 else None
        if move_number is not None and move_number < 1:
            raise GtpError("syntax error")
        try:
            record = read_sgf_file(args[0], move_number)
        except SgfError as exc:
            raise GtpError(f"cannot load file: {str(exc).removeprefix(args[0] + ': ')}") from None
        if self.player_sizes is not None and record.size not in self.player_sizes:
            raise GtpError(f"cannot load file: the player does not support {record.size}x{record.size}")
        for warning in record.warnings:
            log.warning("loadsgf: %s", warning)
        game = record.game
        if record.has_komi:
            self.komi = record.komi
        else:
            game.rules = dataclasses.replace(game.rules, komi=self.komi)
        self.size, self.game = record.size, game
        self.time.reset()
        self.engine_colors.clear()
        return ""

    def cmd_printsgf(self, args: list[str]) -> str:
        _nargs(args, 0, 1)
        names = {c: (f"{self.name} {self.version}" if c in self.engine_colors else None) for c in (BLACK, WHITE)}
        result = self.game.result_string(self._dead_mask()) if self.game.is_over else None
        text = game_to_sgf(self.game, black=names[BLACK], white=names[WHITE], result=result)
        if args:
            try:
                Path(args[0]).write_text(text, encoding="utf-8")
            except OSError as exc:
                raise GtpError(f"cannot save file: {exc.strerror or exc}") from None
            return ""
        lines = [line for line in text.splitlines() if line.strip()]
        return "\n" + "\n".join(lines)

    # -- GNU Go style queries --------------------------------------------------------------------
    def cmd_list_stones(self, args: list[str]) -> str:
        _nargs(args, 1)
        color = parse_color(args[0])
        return self._vertices(np.flatnonzero(self.game.position.stones == color))

    def cmd_is_legal(self, args: list[str]) -> str:
        _nargs(args, 2)
        color = parse_color(args[0])
        try:
            move = parse_vertex(args[1], self.size)
        except IllegalMove:
            return "0"
        return "1" if self._legal(move, color) else "0"

    def cmd_all_legal(self, args: list[str]) -> str:
        _nargs(args, 1)
        color = parse_color(args[0])
        game = self._set_turn(self.game, color)
        mask = game.legal_mask()[: self.size * self.size]
        return self._vertices(np.flatnonzero(mask))

    # -- time ----------------------------------------------------------------------------------
    def cmd_time_settings(self, args: list[str]) -> str:
        _nargs(args, 3)
        main, byo, stones = _float(args[0]), _float(args[1]), _int(args[2])
        try:
            self.time = TimeControl.from_gtp(main, byo, stones)
        except ValueError:
            raise GtpError("syntax error") from None
        return ""

    def cmd_kgs_time_settings(self, args: list[str]) -> str:
        try:
            self.time = TimeControl.from_kgs(args)
        except ValueError:
            raise GtpError("syntax error") from None
        return ""

    def cmd_time_left(self, args: list[str]) -> str:
        _nargs(args, 3)
        color = parse_color(args[0])
        seconds, stones = _float(args[1]), _int(args[2])
        try:
            self.time.time_left(color, seconds, stones)
        except ValueError:
            raise GtpError("syntax error") from None
        return ""

    # -- GoGui ---------------------------------------------------------------------------------
    def cmd_gogui_analyze_commands(self, args: list[str]) -> str:
        return "\n" + "\n".join([
            "plist/Dead stones/final_status_list dead",
            "plist/Alive stones/final_status_list alive",
            "plist/All legal moves/all_legal %c",
            "string/Final score/final_score",
            "string/Show board/showboard",
        ])

    # -- analysis ------------------------------------------------------------------------------
    def _parse_analyze(self, args: list[str]) -> AnalyzeRequest:
        args = list(args)
        color = self.game.to_move
        interval = DEFAULT_INTERVAL
        if args and args[0].lower() in COLORS:
            color = COLORS[args.pop(0).lower()]
        if args and _is_digits(args[0].removeprefix("-")):
            interval = _int(args.pop(0)) / 100.0
        req = AnalyzeRequest(color, interval)
        while args:
            key = args.pop(0)
            if key in ("avoid", "allow"):
                if len(args) < 3:
                    raise GtpError("syntax error")
                log.info("%s is not supported and is ignored", key)
                del args[:3]
                continue
            if not args:
                raise GtpError("syntax error")
            value = args.pop(0)
            if key == "interval":
                req.interval = _int(value) / 100.0
            elif key == "minmoves":
                req.minmoves = _int(value)
            elif key == "maxmoves":
                req.maxmoves = _int(value)
            elif key == "ownership":
                if value.lower() not in ("true", "false"):
                    raise GtpError("syntax error")
                req.ownership = value.lower() == "true"
            elif key in ("ownershipStdev", "movesOwnership", "movesOwnershipStdev", "pvVisits", "pvEdgeVisits",
                         "rootInfo"):
                log.info("%s is not supported and is ignored", key)
            else:
                raise GtpError("syntax error")
        if req.interval < 0 or req.minmoves < 0 or req.maxmoves < 0:
            raise GtpError("syntax error")
        return req

    def format_analysis(self, analysis: Analysis, kind: str, req: AnalyzeRequest) -> str:
        """One analysis line in Leela Zero (``lz``) or KataGo (``kata``) format."""
        nn = self.size * self.size
        infos = [m for m in analysis.moves if m.visits > 0]
        if len(infos) < req.minmoves:
            infos += [m for m in analysis.moves if m.visits <= 0][: req.minmoves - len(infos)]
        if req.maxmoves:
            infos = infos[: req.maxmoves]
        parts = []
        for order, m in enumerate(infos):
            if not 0 <= m.move <= nn:
                continue
            pv = [int(x) for x in m.pv if 0 <= int(x) <= nn]
            if not pv or pv[0] != m.move:
                pv = [int(m.move)] + pv
            pv_text = self._vertices(pv)
            vertex = to_gtp(int(m.move), self.size)
            if kind == "lz":
                wr = min(10000, max(0, round(m.winrate * 10000)))
                prior = min(10000, max(0, round(m.prior * 10000)))
                parts.append(f"info move {vertex} visits {int(m.visits)} winrate {wr} prior {prior} "
                             f"order {order} pv {pv_text}")
            else:
                utility = 2.0 * m.winrate - 1.0
                parts.append(f"info move {vertex} visits {int(m.visits)} utility {_fmt(utility)} "
                             f"winrate {_fmt(m.winrate)} scoreMean {_fmt(m.score_lead, 3)} "
                             f"scoreLead {_fmt(m.score_lead, 3)} prior {_fmt(m.prior)} order {order} pv {pv_text}")
        line = " ".join(parts)
        if kind == "kata" and req.ownership and analysis.ownership is not None:
            own = np.asarray(analysis.ownership, np.float64).reshape(-1)[:nn]
            line += (" " if line else "") + "ownership " + " ".join(_fmt(v, 4) for v in own)
        return line

    def _stream(self, kind: str, args: list[str], genmove: bool) -> None:
        """The analysis commands: '=' first, info lines while searching, then (genmove) the
        move; ``lz-analyze``/``kata-analyze`` stop when the next input line arrives."""
        if not self._has_analysis():
            raise GtpError("analysis needs a model")
        req = self._parse_analyze(args)
        game = self._set_turn(self.game, req.color).copy()
        stop = threading.Event()
        last: list[Analysis | None] = [None]
        result: list[Analysis | None] = [None]
        self._write(f"={self._cmd_id}\n")

        def on_update(analysis: Analysis) -> None:
            if stop.is_set() and not genmove:
                return
            line = self.format_analysis(analysis, kind, req)
            if line:
                self._write(line + "\n")
            last[0] = analysis

        # lz-/kata-analyze on a live input: search until the next line (an hour at most);
        # without one (``handle`` in-process) the player's own limits apply.
        limits = SearchLimits(seconds=ANALYSIS_SECONDS) if self._input is not None else SearchLimits()
        if genmove:  # a genmove's limits: the player's own, capped by the clock
            limits = self._limits(req.color)

        def search() -> None:
            try:
                result[0] = self._analyze(game, limits,
                                          on_update=on_update if req.interval > 0 else None,
                                          interval=req.interval or DEFAULT_INTERVAL, stop=stop)
            except Exception:
                log.exception("analysis failed")

        start = time.monotonic()
        worker = threading.Thread(target=search, name="gtp-analysis", daemon=True)
        worker.start()
        if not genmove and self._input is not None:
            while worker.is_alive():
                try:
                    line = self._input.get(timeout=0.05)
                except queue.Empty:
                    continue
                self._pending.append(line)
                break
            stop.set()
        worker.join()
        final = result[0]
        if final is not None and final is not last[0]:
            line = self.format_analysis(final, kind, req)
            if line:
                self._write(line + "\n")
        if genmove:
            self.time.spend(req.color, time.monotonic() - start)
            move = self.size * self.size
            if final is not None and final.moves:
                move = int(final.moves[0].move)
            self._write(f"play {self._play_generated(req.color, move)}\n")
        self._write("\n")

    def cmd_lz_analyze(self, args: list[str]) -> None:
        self._stream("lz", args, genmove=False)

    def cmd_kata_analyze(self, args: list[str]) -> None:
        self._stream("kata", args, genmove=False)

    def cmd_lz_genmove_analyze(self, args: list[str]) -> None:
        self._stream("lz", args, genmove=True)

    def cmd_kata_genmove_analyze(self, args: list[str]) -> None:
        self._stream("kata", args, genmove=True)


def _fd_lines(fd: int) -> Iterator[bytes]:
    """Lines read from a file descriptor with unbuffered ``os.read``."""
    buf = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            yield line + b"\n"
    if buf:
        yield buf


def free_handicap_points(size: int, n: int) -> list[int]:
    """``n`` well-spread handicap points: the fixed placement where GTP defines one, then
    greedily the empty point farthest from the stones so far (3rd/4th line preferred)."""
    nn = size * size
    if not 1 <= n < nn:
        raise ValueError(f"cannot place {n} handicap stones on a {size}x{size} board")
    try:
        points = fixed_handicap_points(size, min(n, 9 if size % 2 == 1 and size >= 9 else 4))
    except ValueError:
        points = []
    if len(points) > n:
        points = points[:n]
    edge = 2 if size < 13 else 3
    rows, cols = np.divmod(np.arange(nn), size)
    line = np.minimum(np.minimum(rows, cols), np.minimum(size - 1 - rows, size - 1 - cols))
    pref = -np.abs(line - edge).astype(np.float64)
    if not points:
        centre = (size // 2) * size + size // 2
        points = [centre]
    while len(points) < n:
        pr, pc = np.divmod(np.array(points), size)
        dist = np.min(np.abs(rows[:, None] - pr[None, :]) + np.abs(cols[:, None] - pc[None, :]), axis=1)
        score = dist * 10.0 + pref
        score[points] = -np.inf
        points.append(int(np.argmax(score)))
    return points


__all__ = ["GtpEngine", "GtpError", "free_handicap_points", "parse_color", "parse_vertex"]
