"""KataGo's JSON analysis protocol over a gozero player (the engine behind ``gozero analysis``).

Queries come one JSON object per line on stdin and answers go one per line to stdout, in
the format of KataGo's ``docs/Analysis_Engine.md`` (field names, types, defaults, error and
warning objects, ``terminate``/``terminate_all``/``query_version``/``clear_cache``), so that
KaTrain and other review tools can use gozero where they would start ``katago analysis``.

How it runs: the reading thread parses and checks each line (a bad one is answered with an
``error`` object carrying the query's ``id`` and the offending ``field``, and the engine goes
on), replays the game once, and queues one request per analysed turn in a priority queue
(highest ``priority`` first, first come first served within a priority). One worker thread
searches the requests one at a time with the player's ``analyze(game, limits, on_update,
stop, interval)``: one player per model and one search at a time, the search having the
machine's cores and the player's tree to itself; queued requests wait, none is lost.
``terminate`` sets the running search's stop event (its final answer holds what it found)
and answers matching queued requests with ``noResults``. Every analysed turn ends with
exactly one answer whose ``isDuringSearch`` is false.

Values are reported from the perspective of ``reportAnalysisWinratesAs`` (BLACK by default,
as in KataGo's example analysis config and as KaTrain asks; a query may override it in
``overrideSettings``).
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import json
import logging
import math
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TextIO

import numpy as np

from gozero import __version__
from gozero.net.features import symmetry_indices
from gozero.rules import BLACK, WHITE, Game, IllegalMove, Rules
from gozero.rules.coords import CoordError, from_gtp, to_gtp
from gozero.rules.game import MAX_SIZE, MIN_SIZE
from gozero.search.player import DEFAULT_VISITS, Analysis, SearchLimits

log = logging.getLogger("gozero.analysis")

PERSPECTIVES = ("BLACK", "WHITE", "SIDETOMOVE")
DEFAULT_PV_LEN = 15  # moves after the first of each principal variation (KataGo's analysisPVLen default)
MAX_KOMI = 150.0  # KataGo refuses komi outside [-150, 150]
MAX_PRIORITY = 0x3FFFFFFFFFFFFFFF  # KataGo's priority range is about +-2^62
MAX_VISITS = 1 << 50

# Query fields this engine reads. Anything else gets a warning (KataGo's warnUnusedFields).
READ_FIELDS = frozenset({
    "id", "action", "moves", "initialStones", "initialPlayer", "rules", "komi", "whiteHandicapBonus",
    "boardXSize", "boardYSize", "analyzeTurns", "maxVisits", "analysisPVLen", "includeOwnership",
    "includeMovesOwnership", "includePolicy", "reportDuringSearchEvery", "firstReportDuringSearchAfter",
    "priority", "priorities", "overrideSettings",
})
# KataGo query fields that gozero understands but cannot honour: a warning names them and the
# query goes on without them.
UNSUPPORTED_FIELDS = frozenset({
    "rootPolicyTemperature", "rootFpuReductionMax", "includePVVisits", "includeOwnershipStdev",
    "includeMovesOwnershipStdev", "avoidMoves", "allowMoves",
})
# overrideSettings keys honoured per query; others are named in one warning and ignored.
OVERRIDE_KEYS = frozenset({"reportAnalysisWinratesAs", "maxVisits", "maxTime", "analysisPVLen"})


class QueryError(ValueError):
    """A query that cannot be served: answered with ``{"error", "field", "id"}``."""

    def __init__(self, field_name: str, message: str):
        super().__init__(message)
        self.field = field_name
        self.message = message


@dataclass(frozen=True)
class KataRules:
    """A KataGo rule set as parsed from a query (KataGo's names and defaults)."""

    ko: str = "POSITIONAL"  # SIMPLE | POSITIONAL | SITUATIONAL | SPIGHT
    scoring: str = "AREA"  # AREA | TERRITORY
    tax: str = "NONE"  # NONE | SEKI | ALL
    suicide: bool = True
    button: bool = False
    white_handicap_bonus: str = "0"  # "0" | "N" | "N-1"
    friendly_pass_ok: bool = False
    komi: float = 7.5


# KataGo's rule shorthands (Rules::parseRules), lower-cased, and what each stands for.
_NAMED_RULES: dict[str, KataRules] = {}
for _names, _rules in (
    (("japanese", "korean"), KataRules("SIMPLE", "TERRITORY", "SEKI", False, False, "0", False, 6.5)),
    (("chinese",), KataRules("SIMPLE", "AREA", "NONE", False, False, "N", True, 7.5)),
    (("chineseogs", "chinese_ogs", "chinese-ogs", "chinesekgs", "chinese_kgs", "chinese-kgs"),
     KataRules("POSITIONAL", "AREA", "NONE", False, False, "N", True, 7.5)),
    (("ancientarea", "ancient-area", "ancient_area", "ancient area", "stonescoring", "stone-scoring",
      "stone_scoring", "stone scoring"), KataRules("SIMPLE", "AREA", "ALL", False, False, "0", True, 7.5)),
    (("ancientterritory", "ancient-territory", "ancient_territory", "ancient territory"),
     KataRules("SIMPLE", "TERRITORY", "ALL", False, False, "0", False, 6.5)),
    (("agabutton", "aga-button", "aga_button", "aga button"),
     KataRules("SITUATIONAL", "AREA", "NONE", False, True, "N-1", True, 7.0)),
    (("aga", "bga", "french"), KataRules("SITUATIONAL", "AREA", "NONE", False, False, "N-1", True, 7.5)),
    (("nz", "newzealand", "new zealand", "new-zealand", "new_zealand"),
     KataRules("SITUATIONAL", "AREA", "NONE", True, False, "0", True, 7.5)),
    (("tromp-taylor", "tromp_taylor", "tromp taylor", "tromptaylor"),
     KataRules("POSITIONAL", "AREA", "NONE", True, False, "0", False, 7.5)),
    (("goe", "ing"), KataRules("POSITIONAL", "AREA", "NONE", True, False, "0", True, 7.5)),
):
    for _name in _names:
        _NAMED_RULES[_name] = _rules

_RULE_KEYS = {"ko": ("SIMPLE", "POSITIONAL", "SITUATIONAL", "SPIGHT"), "scoring": ("AREA", "TERRITORY"),
              "score": ("AREA", "TERRITORY"), "tax": ("NONE", "SEKI", "ALL")}


def parse_rules(value: Any) -> KataRules:
    """KataGo's ``rules`` field (a shorthand name or a JSON object) as `KataRules`; raises QueryError."""
    if isinstance(value, str):
        rules = _NAMED_RULES.get(value.strip().lower())
        if rules is None:
            raise QueryError("rules", f"Could not parse rules: {value}")
        return rules
    if not isinstance(value, dict):
        raise QueryError("rules", "Must specify rules string, such as \"chinese\" or \"tromp-taylor\", "
                                  "or a JSON object with detailed rules parameters.")
    text = json.dumps(value, sort_keys=True)
    out: dict[str, Any] = {}
    for key, v in value.items():
        if key in _RULE_KEYS:
            if not isinstance(v, str) or v.upper() not in _RULE_KEYS[key]:
                raise QueryError("rules", f"Could not parse rules: {text} ({key} must be one of "
                                          f"{', '.join(_RULE_KEYS[key])})")
            out["scoring" if key == "score" else key] = v.upper()
        elif key in ("suicide", "hasButton", "friendlyPassOk"):
            if not isinstance(v, bool):
                raise QueryError("rules", f"Could not parse rules: {text} ({key} must be a boolean)")
            out[{"suicide": "suicide", "hasButton": "button", "friendlyPassOk": "friendly_pass_ok"}[key]] = v
        elif key == "whiteHandicapBonus":
            if v not in ("0", "N", "N-1"):
                raise QueryError("rules", f"Could not parse rules: {text} (whiteHandicapBonus must be \"0\", "
                                          f"\"N\" or \"N-1\")")
            out["white_handicap_bonus"] = v
        elif key == "komi":
            out["komi"] = _komi(v, "rules")
        else:
            raise QueryError("rules", f"Could not parse rules: {text} (unknown rules option {key!r})")
    if "tax" not in out:
        out["tax"] = "SEKI" if out.get("scoring") == "TERRITORY" else "NONE"
    if "komi" not in out:
        out["komi"] = 6.5 if out.get("scoring") == "TERRITORY" else (7.0 if out.get("button") else 7.5)
    return KataRules(**out)


def gozero_rules(rules: KataRules, komi: float) -> tuple[Rules, list[str]]:
    """The `Rules` gozero plays for a KataGo rule set, and the warnings of what had to change.

    Area scoring maps to ``area_dead_removed`` (dead stones removed, as people and GNU Go
    count), except KataGo's strict Tromp-Taylor (area scoring without friendly passes), which
    maps to ``tromp_taylor``. Territory scoring, stone counting (tax ALL) and the button
    have no gozero counterpart: like KataGo with a network that lacks a rule, the query is
    played by the nearest rules gozero has (area scoring with dead stones removed, the komi
    unchanged) and a warning says so. The spight ko rule is refused.
    """
    if rules.ko == "SPIGHT":
        raise QueryError("rules", "gozero cannot play the SPIGHT ko rule; use SIMPLE, POSITIONAL or SITUATIONAL")
    warnings = []
    if rules.scoring == "TERRITORY":
        warnings.append("gozero scores by area: territory scoring is played as area scoring with dead stones "
                        f"removed, komi {komi:g} unchanged")
    elif rules.tax != "NONE":
        warnings.append(f"gozero has no {rules.tax} tax rule: played as area scoring with dead stones removed")
    if rules.button:
        warnings.append("gozero has no button rule: played without the button, komi unchanged")
    strict = rules.scoring == "AREA" and rules.tax == "NONE" and not rules.friendly_pass_ok
    scoring = "tromp_taylor" if strict else "area_dead_removed"
    return Rules(komi=komi, ko=rules.ko.lower(), suicide=rules.suicide, scoring=scoring), warnings


def _komi(value: Any, field_name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
            or abs(value) > MAX_KOMI or float(value) * 2 != round(float(value) * 2):
        raise QueryError(field_name, "Must be a integer or half-integer from -150.0 to 150.0")
    return float(value)


def parse_location(text: Any, size: int, allow_pass: bool) -> int:
    """Flat index of a KataGo location: a GTP vertex (``C4``, ``pass``) or ``(x,y)`` (0-based,
    ``y`` from the top). Raises CoordError."""
    if not isinstance(text, str):
        raise CoordError(f"Could not parse board location: {text!r}")
    s = text.strip()
    m = re.fullmatch(r"\(\s*(\d+)\s*,\s*(\d+)\s*\)", s)
    if m:
        x, y = int(m.group(1)), int(m.group(2))
        if not (0 <= x < size and 0 <= y < size):
            raise CoordError(f"Could not parse board location: {text}")
        return y * size + x
    try:
        point = from_gtp(s, size)
    except CoordError:
        raise CoordError(f"Could not parse board location: {text}") from None
    if point == size * size and not allow_pass:
        raise CoordError(f"Could not parse board location: {text}")
    return point


def parse_player(value: Any) -> int | None:
    """BLACK or WHITE for ``"B"``, ``"w"``, ``"black"``, ``"White"`` ...; None otherwise."""
    if not isinstance(value, str):
        return None
    return {"b": BLACK, "black": BLACK, "w": WHITE, "white": WHITE}.get(value.strip().lower())


def _int(query: dict, name: str, lo: int, hi: int, message: str) -> int:
    v = query[name]
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise QueryError(name, message)
    return v


def _number(source: dict, name: str, lo: float, hi: float, message: str, field_name: str | None = None) -> float:
    v = source[name]
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or not lo <= v <= hi:
        raise QueryError(field_name or name, message)
    return float(v)


def _bool(query: dict, name: str) -> bool:
    v = query[name]
    if not isinstance(v, bool):
        raise QueryError(name, "Must be a boolean")
    return v


def _pairs(query: dict, name: str, size: int, allow_pass: bool) -> list[tuple[int, int]]:
    shape = "Must be an array of pairs of the form: [\"b\" or \"w\", GTP board vertex]"
    items = query[name]
    if not isinstance(items, list):
        raise QueryError(name, shape)
    out = []
    for item in items:
        if not isinstance(item, list) or len(item) != 2 or not all(isinstance(x, str) for x in item):
            raise QueryError(name, shape)
        color = parse_player(item[0])
        if color is None:
            raise QueryError(name, f"Could not parse player: {item[0]}")
        try:
            point = parse_location(item[1], size, allow_pass)
        except CoordError as exc:
            raise QueryError(name, str(exc)) from None
        out.append((color, point))
    return out


def _int_list(query: dict, name: str, message: str) -> list[int]:
    v = query[name]
    if not isinstance(v, list) or not all(isinstance(x, int) and not isinstance(x, bool) for x in v):
        raise QueryError(name, message)
    return list(v)


def _board_size(query: dict, allowed: set[int] | None) -> int:
    message = f"Must provide an integer from {MIN_SIZE} to {MAX_SIZE}"
    for name in ("boardXSize", "boardYSize"):
        if name not in query:
            raise QueryError(name, message)
    xs = _int(query, "boardXSize", MIN_SIZE, MAX_SIZE, message)
    ys = _int(query, "boardYSize", MIN_SIZE, MAX_SIZE, message)
    if xs != ys:
        raise QueryError("boardYSize", f"gozero plays square boards only: boardXSize {xs} and boardYSize {ys} differ")
    if allowed is not None and xs not in allowed:
        raise QueryError("boardXSize", f"this model plays board sizes {sorted(allowed)}, not {xs}")
    return xs


def _turns_and_priorities(query: dict, n_moves: int) -> tuple[list[int], dict[int, int]]:
    """The turns to analyse (default: the last) and the priority of each."""
    if "analyzeTurns" in query:
        turns = _int_list(query, "analyzeTurns", "Must specify an array of integers indicating turns to analyze")
        for t in turns:
            if not 0 <= t <= n_moves:
                raise QueryError("analyzeTurns", f"Invalid turn number: {t}")
    else:
        turns = [n_moves]
    if "priorities" in query:
        plist = _int_list(query, "priorities", "Must specify an array of integers indicating priorities")
        if "analyzeTurns" not in query:
            raise QueryError("priorities", "Can only specify when also specifying analyzeTurns")
        if len(plist) != len(turns):
            raise QueryError("priorities", "Must be of matching length to analyzeTurns")
        for p in plist:
            if abs(p) > MAX_PRIORITY:
                raise QueryError("priorities", f"Invalid priority: {p}")
        if "priority" in query:
            raise QueryError("priority", "Cannot specify both priority and priorities")
        return turns, dict(zip(turns, plist, strict=True))
    priority = 0
    if "priority" in query:
        priority = _int(query, "priority", -MAX_PRIORITY, MAX_PRIORITY, "Must be a number between -2^62 and 2^62")
    return turns, dict.fromkeys(turns, priority)


def _query_rules(query: dict, setup: list[tuple[int, int]]) -> tuple[Rules, int, list[tuple[str, str]]]:
    """(rules, number of handicap stones, warnings) of a query's ``rules``, ``komi`` and
    ``whiteHandicapBonus``. White's compensation for handicap stones (black initial stones
    and no white ones) is added to komi: under area scoring the two are the same thing."""
    if "rules" not in query:
        raise QueryError("rules", "Must specify rules string, such as \"chinese\" or \"tromp-taylor\", or a JSON "
                                  "object with detailed rules parameters.")
    krules = parse_rules(query["rules"])
    komi = _komi(query["komi"], "komi") if "komi" in query else krules.komi
    whb = krules.white_handicap_bonus
    if "whiteHandicapBonus" in query:
        whb = query["whiteHandicapBonus"]
        if whb not in ("0", "N", "N-1"):
            raise QueryError("whiteHandicapBonus", "Must be a string: \"0\", \"N\" or \"N-1\"")
    blacks = sum(1 for c, _ in setup if c == BLACK)
    handicap = blacks if blacks >= 2 and all(c == BLACK for c, _ in setup) else 0
    bonus = {"0": 0, "N": handicap, "N-1": max(0, handicap - 1)}[whb]
    rules, warnings = gozero_rules(krules, komi + bonus)
    return rules, handicap, [("rules", w) for w in warnings]


def _search_settings(query: dict, st: EngineSettings) -> tuple[str, int, SearchLimits, list[tuple[str, str]]]:
    """(perspective, PV length, search limits, warnings) from the engine's defaults, the
    query's ``overrideSettings`` and its ``maxVisits``/``analysisPVLen`` fields."""
    perspective, pv_len, visits, seconds = st.perspective, st.pv_len, st.max_visits, st.max_time
    warnings = []
    if "overrideSettings" in query:
        over = query["overrideSettings"]
        if not isinstance(over, dict):
            raise QueryError("overrideSettings", "Must be an object")
        if "reportAnalysisWinratesAs" in over:
            p = over["reportAnalysisWinratesAs"]
            if not isinstance(p, str) or p.upper() not in PERSPECTIVES:
                raise QueryError("overrideSettings", "Could not set settings: reportAnalysisWinratesAs must be "
                                                     "BLACK, WHITE or SIDETOMOVE")
            perspective = p.upper()
        if "maxVisits" in over:
            message = "Could not set settings: maxVisits must be an integer from 1 to 2^50"
            v = _number(over, "maxVisits", 1, MAX_VISITS, message, "overrideSettings")
            if not v.is_integer():
                raise QueryError("overrideSettings", message)
            visits = int(v)
        if "maxTime" in over:
            seconds = _number(over, "maxTime", 1e-3, 1e9, "Could not set settings: maxTime must be a positive "
                              "number of seconds", "overrideSettings")
        if "analysisPVLen" in over:
            message = "Could not set settings: analysisPVLen must be an integer from 1 to 1000"
            v = _number(over, "analysisPVLen", 1, 1000, message, "overrideSettings")
            if not v.is_integer():
                raise QueryError("overrideSettings", message)
            pv_len = int(v)
        ignored = sorted(k for k in over if k not in OVERRIDE_KEYS)
        if ignored:
            warnings.append(("overrideSettings", f"Settings gozero does not have, ignored: {','.join(ignored)}"))
    if "maxVisits" in query:
        visits = _int(query, "maxVisits", 1, MAX_VISITS, "Must be an integer from 1 to 2^50")
    if "analysisPVLen" in query:
        pv_len = _int(query, "analysisPVLen", 1, 1000, "Must be an integer from 1 to 1000")
    return perspective, pv_len, SearchLimits(visits=visits, seconds=seconds), warnings


def replay(size: int, rules: Rules, setup: list[tuple[int, int]], first: int, moves: list[tuple[int, int]],
           turns: set[int]) -> dict[int, Game]:
    """The game at each of ``turns`` (turn t: after the first t moves). Moves are played by
    the colour given, in or out of turn, as KataGo does; an illegal one is refused."""
    game = Game(size, rules)
    for color, point in setup:
        try:
            game.place_setup(color, point)
        except IllegalMove as exc:
            raise QueryError("initialStones", f"Illegal initial stone {to_gtp(point, size)}: {exc}") from None
    if game.to_move != first:
        game.position.to_move = first
    games: dict[int, Game] = {}
    for t in range(len(moves) + 1):
        if t in turns:
            games[t] = game.copy()
        if t == len(moves):
            break
        color, point = moves[t]
        try:
            game.play(point, color)
        except IllegalMove:
            raise QueryError("moves", f"Illegal move {t}: {to_gtp(point, size)}") from None
    return games


QUEUED, RUNNING, TERMINATED = "queued", "running", "terminated"  # a TurnRequest's status


@dataclass
class TurnRequest:
    """One position of a query to analyse (a query asks for one per turn in ``analyzeTurns``)."""

    id: str
    turn: int
    priority: int
    game: Game
    limits: SearchLimits
    perspective: str
    pv_len: int
    include_ownership: bool = False
    include_moves_ownership: bool = False
    include_policy: bool = False
    report_every: float | None = None
    first_report_after: float | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    status: str = QUEUED
    key: int = 0  # arrival number: the queue's tie breaker and the open-requests key


@dataclass
class EngineSettings:
    """Defaults of every query (the command line's options; a query's fields override them)."""

    max_visits: int = DEFAULT_VISITS  # root visits per search unless a query sets maxVisits
    max_time: float | None = None  # seconds per search (None: no time limit)
    perspective: str = "BLACK"  # reportAnalysisWinratesAs: BLACK, WHITE or SIDETOMOVE
    pv_len: int = DEFAULT_PV_LEN  # moves after the first in each reported variation
    warn_unused_fields: bool = True  # warn about query fields this engine does not read
    strict_rules: bool = False  # refuse rules gozero can only approximate (territory, tax, button) instead of warning

    def __post_init__(self) -> None:
        if self.max_visits < 1:
            raise ValueError("max_visits must be at least 1")
        if self.max_time is not None and not self.max_time > 0:
            raise ValueError("max_time must be positive")
        if self.perspective.upper() not in PERSPECTIVES:
            raise ValueError(f"perspective must be one of {', '.join(PERSPECTIVES)}, not {self.perspective!r}")
        self.perspective = self.perspective.upper()
        if not 1 <= self.pv_len <= 1000:
            raise ValueError("pv_len must be between 1 and 1000")


def _finite(x: float) -> float:
    x = float(x)
    return x if math.isfinite(x) else 0.0


def position_hashes(game: Game) -> tuple[str, str]:
    """(thisHash, symHash): hex digests of (stones, side to move, ko point), the second the
    smallest over the 8 board symmetries (the same for symmetric positions)."""
    pos = game.position
    stones, ko, nn = pos.stones, pos.ko_point, pos.geo.nn

    def digest(st: np.ndarray, k: int) -> str:
        data = st.astype(np.int8).tobytes() + bytes([pos.to_move]) + int(k).to_bytes(2, "little", signed=True)
        return hashlib.blake2b(data, digest_size=16).hexdigest().upper()

    idx = symmetry_indices(game.size)
    sym = []
    for s in range(8):
        k = int(np.flatnonzero(idx[s] == ko)[0]) if 0 <= ko < nn else -1
        sym.append(digest(stones[idx[s]], k))
    return digest(stones, ko), min(sym)


class AnalysisEngine:
    """Serves KataGo analysis queries with one `AnalysisPlayer`; see the module docstring."""

    def __init__(self, player, out: TextIO, settings: EngineSettings | None = None,
                 board_sizes: Iterable[int] | None = None):
        if not callable(getattr(player, "analyze", None)):
            raise ValueError(f"player {getattr(player, 'name', player)!r} cannot analyse (it has no analyze)")
        self.player = player
        self.out = out
        self.settings = settings or EngineSettings()
        self.board_sizes = set(board_sizes) if board_sizes is not None else None
        self._out_lock = threading.Lock()
        self._cv = threading.Condition()
        self._queue: list[tuple[int, int, TurnRequest]] = []  # heap of (-priority, arrival, request)
        self._open: dict[int, TurnRequest] = {}  # queued or running requests by arrival number
        self._arrivals = itertools.count()
        self._closing = False
        self.output_lost = False  # set when stdout cannot be written any more; answers are dropped
        self._worker = threading.Thread(target=self._work, name="gozero-analysis", daemon=True)
        self._worker.start()

    # -- output ---------------------------------------------------------------------------
    def write(self, obj: dict) -> None:
        """One answer line (keys sorted, as KataGo's JSON library writes them)."""
        line = json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)
        with self._out_lock:
            if self.output_lost:
                return
            try:
                self.out.write(line + "\n")
                self.out.flush()
            except (OSError, ValueError) as exc:  # the reader went away (closed pipe or file)
                self.output_lost = True
                log.warning("output closed (%s): stopping the searches", exc)
        if self.output_lost:
            self.terminate(None)

    def _error(self, message: str, field_name: str | None = None, qid: str | None = None) -> None:
        obj: dict[str, Any] = {"error": message}
        if field_name is not None:
            obj["field"] = field_name
        if qid is not None:
            obj["id"] = qid
        log.warning("error: %s", obj)
        self.write(obj)

    def _warning(self, qid: str, field_name: str, message: str) -> None:
        self.write({"id": qid, "field": field_name, "warning": message})

    # -- input ----------------------------------------------------------------------------
    def handle_line(self, line: str) -> None:
        """Parse one input line and act on it; every failure is answered, none is raised."""
        line = line.strip()
        if not line:
            return
        try:
            query = json.loads(line)
        except (json.JSONDecodeError, RecursionError) as exc:
            m = re.search(r'"id"\s*:\s*"((?:[^"\\]|\\.)*)"', line)
            qid = None
            if m:
                try:
                    qid = json.loads(f'"{m.group(1)}"')
                except json.JSONDecodeError:
                    qid = None
            self._error(f"{exc} - could not parse input line as json request: {line}", qid=qid)
            return
        if not isinstance(query, dict):
            self._error(f"Request line was valid json but was not an object, ignoring: {line}")
            return
        qid = query.get("id")
        if not isinstance(qid, str):
            self._error("Request must have a string \"id\" field", field_name="id")
            return
        try:
            if "action" in query:
                self._action(query, qid)
            else:
                self._analysis_query(query, qid)
        except QueryError as exc:
            self._error(exc.message, field_name=exc.field, qid=qid)
        except Exception as exc:  # a bug must not end the engine: answer and go on
            log.exception("query %s failed", qid)
            self._error(f"internal error while reading the query: {type(exc).__name__}: {exc}", qid=qid)

    def _action(self, query: dict, qid: str) -> None:
        action = query["action"]
        if action == "query_version":
            self.write({**query, "version": __version__, "git_hash": "<omitted>", "engine": "gozero"})
        elif action == "clear_cache":
            clear = getattr(self.player, "clear_cache", None)
            if callable(clear):
                clear()
            self.write(query)
        elif action in ("terminate", "terminate_all"):
            term_id = None
            if action == "terminate":
                term_id = query.get("terminateId")
                if not isinstance(term_id, str):
                    raise QueryError("terminateId",
                                     "Requests for a terminate action must have a string \"terminateId\" field")
            turns = None
            if "turnNumbers" in query:
                turns = set(_int_list(query, "turnNumbers",
                                      "If provided, must be an array of integers indicating turns to terminate"))
            self.terminate(term_id, turns)
            self.write(query)
        else:
            raise QueryError("action", "'action' field must be 'query_version' or 'terminate' or 'terminate_all' "
                                       "or 'clear_cache'")

    def _analysis_query(self, query: dict, qid: str) -> None:
        requests, warnings = self.parse_query(query, qid)
        for field_name, message in warnings:
            self._warning(qid, field_name, message)
        with self._cv:
            closing = self._closing
            if not closing:
                for req in requests:
                    req.key = next(self._arrivals)
                    self._open[req.key] = req
                    heapq.heappush(self._queue, (-req.priority, req.key, req))
            self._cv.notify_all()
        if closing:
            self._error("the engine is shutting down: query not analysed", qid=qid)

    def parse_query(self, query: dict, qid: str) -> tuple[list[TurnRequest], list[tuple[str, str]]]:
        """The requests of one analysis query and its warnings; raises QueryError (with the field)."""
        size = _board_size(query, self.board_sizes)
        setup = _pairs(query, "initialStones", size, allow_pass=False) if "initialStones" in query else []
        if "moves" not in query:
            raise QueryError("moves", "Must specify an array of [player,location] pairs")
        moves = _pairs(query, "moves", size, allow_pass=True)
        initial = None
        if "initialPlayer" in query:
            initial = parse_player(query["initialPlayer"])
            if initial is None:
                raise QueryError("initialPlayer", "Must be \"b\" or \"w\"")
        turns, priorities = _turns_and_priorities(query, len(moves))
        warnings_turns = [] if turns else [("analyzeTurns", "no turn to analyse: the query gets no answer")]
        rules, handicap, warnings = _query_rules(query, setup)
        if warnings and self.settings.strict_rules:
            raise QueryError("rules", f"{warnings[0][1]} (refused: the engine runs with strict rules)")
        warnings += warnings_turns
        perspective, pv_len, limits, more = _search_settings(query, self.settings)
        warnings += more
        flags = {name: _bool(query, name) if name in query else False
                 for name in ("includeOwnership", "includeMovesOwnership", "includePolicy")}
        if flags["includeMovesOwnership"] and not callable(getattr(self.player, "ownership_after", None)):
            warnings.append(("includeMovesOwnership", "this player has no per-move ownership; omitted"))
            flags["includeMovesOwnership"] = False
        every = first = None
        if "reportDuringSearchEvery" in query:
            every = first = _number(query, "reportDuringSearchEvery", 0.001, 1e6,
                                    "Must be number of seconds from 0.001 to 1000000.0")
        if "firstReportDuringSearchAfter" in query:
            first = _number(query, "firstReportDuringSearchAfter", 0.001, 1e6,
                            "Must be number of seconds from 0.001 to 1000000.0")
            every = every if every is not None else 1e6
        for name in query:
            if name in UNSUPPORTED_FIELDS:
                warnings.append((name, "gozero does not support this field; it is ignored"))
            elif name not in READ_FIELDS and self.settings.warn_unused_fields:
                warnings.append((name, "Unused field"))
        if initial is None:
            initial = moves[0][0] if moves else (WHITE if handicap else BLACK)
        games = replay(size, rules, setup, initial, moves, set(turns))
        requests = [TurnRequest(id=qid, turn=t, priority=priorities[t], game=games[t], limits=limits,
                                perspective=perspective, pv_len=pv_len, include_ownership=flags["includeOwnership"],
                                include_moves_ownership=flags["includeMovesOwnership"],
                                include_policy=flags["includePolicy"], report_every=every, first_report_after=first)
                    for t in sorted(games)]
        return requests, warnings

    # -- requests -------------------------------------------------------------------------
    def terminate(self, query_id: str | None, turns: set[int] | None = None) -> None:
        """Stop the matching requests (all with ``query_id`` None): queued ones are answered
        ``noResults`` now, a running search stops and answers with what it found."""
        unanswered = []
        with self._cv:
            for key, req in list(self._open.items()):
                if (query_id is not None and req.id != query_id) or (turns is not None and req.turn not in turns):
                    continue
                if req.status == QUEUED:
                    req.status = TERMINATED
                    del self._open[key]
                    unanswered.append(req)
                elif req.status == RUNNING:
                    req.status = TERMINATED
                    req.stop.set()
        for req in unanswered:
            self.write({"id": req.id, "turnNumber": req.turn, "isDuringSearch": False, "noResults": True})

    def pending(self) -> int:
        """Requests queued or running."""
        with self._cv:
            return len(self._open)

    def close(self, wait: bool = True, timeout: float | None = None) -> None:
        """Stop taking queries; with ``wait`` finish every queued request first (KataGo's
        behaviour when stdin closes), otherwise terminate them all."""
        with self._cv:
            self._closing = True
            self._cv.notify_all()
        if not wait:
            self.terminate(None)
        self._worker.join(timeout)

    def run(self, lines: Iterable[str], wait: bool = True) -> None:
        """Serve every line of ``lines`` (e.g. stdin), then close."""
        try:
            for line in lines:
                self.handle_line(line)
        finally:
            self.close(wait=wait)

    def _work(self) -> None:
        while True:
            with self._cv:
                while not self._queue and not self._closing:
                    self._cv.wait()
                if not self._queue:
                    return
                _, _, req = heapq.heappop(self._queue)
                if req.status != QUEUED:
                    continue
                req.status = RUNNING
            try:
                self._search(req)
            except Exception as exc:  # answer, log, and serve the next request
                log.exception("analysis of %s turn %d failed", req.id, req.turn)
                self.write({"id": req.id, "turnNumber": req.turn, "error": f"analysis failed: "
                                                                             f"{type(exc).__name__}: {exc}"})
            finally:
                with self._cv:
                    self._open.pop(req.key, None)

    def _search(self, req: TurnRequest) -> None:
        on_update = None
        interval = 1.0
        if req.report_every is not None:
            start = time.monotonic()
            last: list[float] = []

            def on_update(analysis: Analysis) -> None:
                now = time.monotonic()
                if now - start < req.first_report_after - 1e-3 or req.stop.is_set():
                    return
                if last and now - last[0] < req.report_every - 1e-3:
                    return
                last[:] = [now]
                self.write(self.response(req, analysis, during=True))

            interval = min(req.report_every, req.first_report_after)
        analysis = self.player.analyze(req.game, req.limits, on_update=on_update, stop=req.stop, interval=interval)
        if req.status == TERMINATED and analysis.visits <= 0:
            self.write({"id": req.id, "turnNumber": req.turn, "isDuringSearch": False, "noResults": True})
            return
        self.write(self.response(req, analysis, during=False))

    # -- answers --------------------------------------------------------------------------
    def response(self, req: TurnRequest, analysis: Analysis, during: bool) -> dict:
        """The answer object of one analysed turn, from ``req.perspective``."""
        game = req.game
        size, nn = game.size, game.size * game.size
        me = game.to_move
        sign = 1.0 if req.perspective == "SIDETOMOVE" or (req.perspective == "BLACK") == (me == BLACK) else -1.0

        def rate(w: float) -> float:  # a win rate (or its bound) of the side to move, in the perspective
            w = _finite(w)
            return w if sign > 0 else 1.0 - w

        infos = []
        weights, means, variances = [], [], []
        for order, mi in enumerate(analysis.moves):
            lead = _finite(mi.score_lead)
            info = {
                "move": to_gtp(mi.move, size), "visits": int(mi.visits), "order": order,
                "winrate": rate(mi.winrate), "lcb": rate(mi.lcb), "prior": _finite(mi.prior),
                "scoreLead": sign * lead, "scoreMean": sign * lead, "scoreSelfplay": sign * lead,
                "scoreStdev": _finite(mi.score_stdev),
                "utility": sign * (2.0 * _finite(mi.winrate) - 1.0),
                "utilityLcb": sign * (2.0 * _finite(mi.lcb) - 1.0),
                "pv": [to_gtp(m, size) for m in mi.pv[: req.pv_len + 1]] or [to_gtp(mi.move, size)],
            }
            infos.append(info)
            weights.append(max(int(mi.visits), 0))
            means.append(lead)
            variances.append(_finite(mi.score_stdev) ** 2)
        if req.include_moves_ownership and analysis.moves:
            own = np.asarray(self.player.ownership_after(game, [mi.move for mi in analysis.moves]), np.float64)
            for info, row in zip(infos, own, strict=True):
                info["ownership"] = [_finite(v) for v in sign * row[:nn]]

        root_lead = _finite(analysis.score_lead)
        stdev = 0.0
        if sum(weights) > 0:  # the spread of the score over the visited moves' subtrees (a mixture)
            w = np.asarray(weights, np.float64) / sum(weights)
            m = np.asarray(means)
            mix = float(w @ m)
            stdev = math.sqrt(max(0.0, float(w @ (np.asarray(variances) + (m - mix) ** 2))))
        this_hash, sym_hash = position_hashes(game)
        root = {
            "winrate": rate(analysis.winrate), "lcb": rate(analysis.winrate),
            "scoreLead": sign * root_lead, "scoreSelfplay": sign * root_lead, "scoreStdev": stdev,
            "utility": sign * (2.0 * _finite(analysis.winrate) - 1.0), "visits": int(analysis.visits),
            "currentPlayer": "B" if me == BLACK else "W", "thisHash": this_hash, "symHash": sym_hash,
        }
        out: dict[str, Any] = {"id": req.id, "turnNumber": req.turn, "isDuringSearch": during,
                               "moveInfos": infos, "rootInfo": root}
        if req.include_ownership and analysis.ownership is not None:
            own = np.asarray(analysis.ownership, np.float64).reshape(-1)[:nn]
            out["ownership"] = [_finite(v) for v in sign * own]
        if req.include_policy:
            legal = game.legal_mask()
            prior = np.where(legal, np.maximum(np.asarray(analysis.policy, np.float64).reshape(-1)[: nn + 1], 0), 0)
            total = prior.sum()
            prior = prior / total if total > 0 else legal / max(legal.sum(), 1)
            out["policy"] = [_finite(p) if ok else -1.0 for p, ok in zip(prior, legal, strict=True)]
        return out


__all__ = ["AnalysisEngine", "EngineSettings", "KataRules", "QueryError", "TurnRequest", "gozero_rules",
           "parse_location", "parse_player", "parse_rules", "position_hashes"]
