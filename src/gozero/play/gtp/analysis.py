"""GTP analysis: Leela Zero's and KataGo's ``lz-analyze`` / ``kata-analyze`` and their
``*-genmove_analyze`` forms.

They stream ``info`` lines from a search thread (`GtpProtocol.begin_stream`); the analyse
commands search until the next input line arrives, the genmove forms within the move's
budget and end with ``play <vertex>``. `format_analysis` writes one line in either format.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time

import numpy as np

from gozero.rules import to_gtp
from gozero.search.player import Analysis, SearchLimits

from .protocol import COLORS, GtpError, GtpProtocol, is_digits, parse_bool, parse_int
from .state import DEFAULT_INTERVAL, GtpState

log = logging.getLogger("gozero.gtp")

ANALYSIS_SECONDS = 3600.0  # time limit passed to the player for lz-analyze / kata-analyze
IGNORED_KEYS = ("ownershipStdev", "movesOwnership", "movesOwnershipStdev", "pvVisits", "pvEdgeVisits", "rootInfo")


@dataclasses.dataclass
class AnalyzeRequest:
    """Parsed arguments of an analysis command."""

    color: int
    interval: float  # seconds; 0 = only the final line
    minmoves: int = 0
    maxmoves: int = 0  # 0 = no cap
    ownership: bool = False


def parse_analyze(args: tuple[str, ...], to_move: int) -> AnalyzeRequest:
    """``[color] [interval] [key value ...]`` as Leela Zero and KataGo define them."""
    rest = list(args)
    color = to_move
    interval = DEFAULT_INTERVAL
    if rest and rest[0].lower() in COLORS:
        color = COLORS[rest.pop(0).lower()]
    if rest and is_digits(rest[0].removeprefix("-")):
        interval = parse_int(rest.pop(0)) / 100.0
    req = AnalyzeRequest(color, interval)
    while rest:
        key = rest.pop(0)
        if key in ("avoid", "allow"):
            if len(rest) < 3:
                raise GtpError("syntax error", f"{key} takes a colour, vertices and a depth")
            log.info("%s is not supported and is ignored", key)
            del rest[:3]
            continue
        if not rest:
            raise GtpError("syntax error", f"{key} has no value")
        value = rest.pop(0)
        if key == "interval":
            req.interval = parse_int(value) / 100.0
        elif key == "minmoves":
            req.minmoves = parse_int(value)
        elif key == "maxmoves":
            req.maxmoves = parse_int(value)
        elif key == "ownership":
            req.ownership = parse_bool(value)
        elif key in IGNORED_KEYS:
            log.info("%s is not supported and is ignored", key)
        else:
            raise GtpError("syntax error", f"unknown key {key!r}")
    if req.interval < 0 or req.minmoves < 0 or req.maxmoves < 0:
        raise GtpError("syntax error", "interval, minmoves and maxmoves must not be negative")
    return req


def _fmt(x: float, digits: int = 6) -> str:
    """Fixed-point float with a decimal point always present (Sabaki insists on it)."""
    s = f"{float(x):.{digits}f}".rstrip("0")
    return s + "0" if s.endswith(".") else s


def format_analysis(analysis: Analysis, kind: str, req: AnalyzeRequest, size: int) -> str:
    """One analysis line in Leela Zero (``lz``) or KataGo (``kata``) format."""
    nn = size * size
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
        pv_text = " ".join(to_gtp(p, size) for p in pv)
        vertex = to_gtp(int(m.move), size)
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


class AnalysisCommands:
    """The streaming analysis commands."""

    def __init__(self, state: GtpState, protocol: GtpProtocol):
        self.state, self.protocol = state, protocol

    def cmd_lz_analyze(self, *args: str) -> None:
        self._stream("lz", args, genmove=False)

    def cmd_kata_analyze(self, *args: str) -> None:
        self._stream("kata", args, genmove=False)

    def cmd_lz_genmove_analyze(self, *args: str) -> None:
        self._stream("lz", args, genmove=True)

    def cmd_kata_genmove_analyze(self, *args: str) -> None:
        self._stream("kata", args, genmove=True)

    def _stream(self, kind: str, args: tuple[str, ...], genmove: bool) -> None:
        """'=' first, info lines while searching, then (genmove) the move; ``lz-analyze`` /
        ``kata-analyze`` stop when the next input line arrives."""
        s, io = self.state, self.protocol
        if not s.can_analyze():
            raise GtpError("analysis needs a model", f"the player {getattr(s.player, 'name', '?')} cannot analyse")
        req = parse_analyze(args, s.game.to_move)
        game = s.with_turn(req.color).copy()
        stop = threading.Event()
        last: list[Analysis | None] = [None]
        result: list[Analysis | None] = [None]
        io.begin_stream()

        def emit(analysis: Analysis) -> None:
            line = format_analysis(analysis, kind, req, s.size)
            if line:
                io.write(line + "\n")

        def on_update(analysis: Analysis) -> None:
            if stop.is_set() and not genmove:
                return
            emit(analysis)
            last[0] = analysis

        # lz-/kata-analyze on a live input: search until the next line (an hour at most);
        # without one (``handle`` in-process) the player's own limits apply.
        limits = SearchLimits(seconds=ANALYSIS_SECONDS) if io.live_input else SearchLimits()
        if genmove:  # a genmove's limits: the player's own, capped by the clock
            limits = s.limits(req.color)

        def search() -> None:
            try:
                result[0] = s.analyze(game, limits, on_update=on_update if req.interval > 0 else None,
                                      interval=req.interval or DEFAULT_INTERVAL, stop=stop)
            except Exception:
                log.exception("analysis failed")

        start = time.monotonic()
        worker = threading.Thread(target=search, name="gtp-analysis", daemon=True)
        worker.start()
        if not genmove and io.live_input:
            io.wait_for_line(worker)
            stop.set()
        worker.join()
        final = result[0]
        if final is not None and final is not last[0]:
            emit(final)
        if genmove:
            s.time.spend(req.color, time.monotonic() - start)
            move = s.size * s.size
            if final is not None and final.moves:
                move = int(final.moves[0].move)
            io.write(f"play {s.play_generated(req.color, move)}\n")
        io.end_stream()
