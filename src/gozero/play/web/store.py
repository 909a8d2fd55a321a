"""SQLite persistence of the web page's games, so that a reload or a server restart loses nothing.

One row per game in ``games`` (settings, setup stones, the move list, the result, all as
plain columns or small JSON lists) and one row per analysed position in ``evals`` (black's
win rate and score lead at a ply, for the graph). Every call opens its own short
connection, so the store can be used from the server's worker threads at once; SQLite's
WAL journal lets readers and one writer work together.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS games (
    id TEXT PRIMARY KEY,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    size INTEGER NOT NULL,
    komi REAL NOT NULL,
    handicap INTEGER NOT NULL DEFAULT 0,
    human INTEGER NOT NULL,            -- colour of the person: 1 black, 2 white, 0 nobody (review)
    mode TEXT NOT NULL,                -- 'play' or 'review'
    strength TEXT NOT NULL,            -- JSON object: visits, seconds, weak
    setup TEXT NOT NULL,               -- JSON list of [colour, point]
    moves TEXT NOT NULL,               -- JSON list of [colour, move]; move NN is pass
    result TEXT,                       -- 'B+3.5', 'W+R', '0' or NULL while playing
    dead TEXT NOT NULL DEFAULT '[]',   -- JSON list of points marked dead at the end
    names TEXT NOT NULL DEFAULT '{}',  -- JSON object: black, white player names
    rules TEXT NOT NULL DEFAULT 'Chinese',  -- SGF RU name (ko and suicide rules)
    first INTEGER NOT NULL DEFAULT 1   -- colour to move after the setup stones
);
CREATE TABLE IF NOT EXISTS evals (
    game_id TEXT NOT NULL REFERENCES games(id) ON DELETE CASCADE,
    ply INTEGER NOT NULL,
    winrate REAL NOT NULL,             -- black's win rate, 0..1
    score_lead REAL NOT NULL,          -- black's lead in points
    visits INTEGER NOT NULL,
    PRIMARY KEY (game_id, ply)
);
"""


@dataclass
class GameRecord:
    """One stored game, in the plain values the server rebuilds a `Game` from."""

    id: str
    size: int
    komi: float
    human: int
    mode: str = "play"
    handicap: int = 0
    strength: dict = field(default_factory=dict)
    setup: list[tuple[int, int]] = field(default_factory=list)
    moves: list[tuple[int, int]] = field(default_factory=list)
    result: str | None = None
    dead: list[int] = field(default_factory=list)
    names: dict = field(default_factory=dict)
    rules: str = "Chinese"
    first: int = 1
    created: float = 0.0
    updated: float = 0.0


@dataclass
class EvalPoint:
    """Black's win rate and score lead at one ply, as the graph draws them."""

    ply: int
    winrate: float
    score_lead: float
    visits: int


class GameStore:
    """Games and per-ply evaluations in one SQLite file (created with its folder on first use)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as con:
            con.execute("PRAGMA journal_mode=WAL")
            con.executescript(SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=30.0)
        con.execute("PRAGMA foreign_keys=ON")
        return con

    # -- games -------------------------------------------------------------------------------
    def save(self, rec: GameRecord) -> None:
        """Insert or replace a whole game (the move list is small; one write per change)."""
        now = time.time()
        rec.updated = now
        if not rec.created:
            rec.created = now
        with self._connect() as con:
            con.execute(
                "INSERT INTO games (id, created, updated, size, komi, handicap, human, mode, strength, setup,"
                " moves, result, dead, names, rules, first) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
                " ON CONFLICT(id) DO UPDATE SET updated=excluded.updated, moves=excluded.moves,"
                " result=excluded.result, dead=excluded.dead, strength=excluded.strength, names=excluded.names",
                (rec.id, rec.created, rec.updated, rec.size, rec.komi, rec.handicap, rec.human, rec.mode,
                 json.dumps(rec.strength), json.dumps([list(s) for s in rec.setup]),
                 json.dumps([list(m) for m in rec.moves]), rec.result, json.dumps(rec.dead), json.dumps(rec.names),
                 rec.rules, rec.first),
            )

    def load(self, game_id: str) -> GameRecord | None:
        with self._connect() as con:
            row = con.execute(
                "SELECT id, size, komi, human, mode, handicap, strength, setup, moves, result, dead, names, created,"
                " updated, rules, first FROM games WHERE id = ?", (game_id,)).fetchone()
        if row is None:
            return None
        return GameRecord(
            id=row[0], size=row[1], komi=row[2], human=row[3], mode=row[4], handicap=row[5],
            strength=json.loads(row[6]), setup=[tuple(s) for s in json.loads(row[7])],
            moves=[tuple(m) for m in json.loads(row[8])], result=row[9], dead=json.loads(row[10]),
            names=json.loads(row[11]), created=row[12], updated=row[13], rules=row[14], first=row[15])

    def count(self) -> int:
        with self._connect() as con:
            return int(con.execute("SELECT COUNT(*) FROM games").fetchone()[0])

    # -- evaluations ---------------------------------------------------------------------------
    def put_eval(self, game_id: str, point: EvalPoint) -> None:
        with self._connect() as con:
            con.execute("INSERT OR REPLACE INTO evals (game_id, ply, winrate, score_lead, visits) VALUES (?,?,?,?,?)",
                        (game_id, point.ply, point.winrate, point.score_lead, point.visits))

    def evals(self, game_id: str, max_ply: int | None = None) -> list[EvalPoint]:
        """Stored evaluations of a game by ply (only plies up to ``max_ply`` when given)."""
        with self._connect() as con:
            rows = con.execute("SELECT ply, winrate, score_lead, visits FROM evals WHERE game_id = ? ORDER BY ply",
                               (game_id,)).fetchall()
        return [EvalPoint(*r) for r in rows if max_ply is None or r[0] <= max_ply]

    def drop_evals_after(self, game_id: str, ply: int) -> None:
        """Forget evaluations past ``ply`` (after an undo the later positions are gone)."""
        with self._connect() as con:
            con.execute("DELETE FROM evals WHERE game_id = ? AND ply > ?", (game_id, ply))
