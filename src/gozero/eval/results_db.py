"""The results database (SQLite): players, matches and games, growing across runs.

A match is keyed by its players and settings, so running the same `gozero match` again
resumes it: the games already recorded (finished or failed, each with its cause) are kept
and only the missing game numbers are played. Ratings read every game with a winner or
a draw, among all players, across all matches.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS players (
    id INTEGER PRIMARY KEY,
    spec TEXT UNIQUE NOT NULL,      -- canonical engine spec, e.g. gnugo:10
    name TEXT NOT NULL DEFAULT '',  -- GTP name
    version TEXT NOT NULL DEFAULT '',
    settings TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS matches (
    id INTEGER PRIMARY KEY,
    key TEXT UNIQUE NOT NULL,       -- players + settings; the same key resumes the match
    player_a INTEGER NOT NULL REFERENCES players(id),
    player_b INTEGER NOT NULL REFERENCES players(id),
    size INTEGER NOT NULL,
    komi REAL NOT NULL,
    rules TEXT NOT NULL,
    games INTEGER NOT NULL,         -- games asked for (the largest number asked so far)
    settings TEXT NOT NULL,         -- JSON of the remaining settings
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS games (
    id INTEGER PRIMARY KEY,
    match_id INTEGER NOT NULL REFERENCES matches(id),
    game_index INTEGER NOT NULL,
    black INTEGER NOT NULL REFERENCES players(id),
    white INTEGER NOT NULL REFERENCES players(id),
    size INTEGER NOT NULL,
    komi REAL NOT NULL,
    status TEXT NOT NULL,           -- scored resign illegal move_cap crash timeout malformed refused missing error
    winner TEXT,                    -- 'B', 'W', '0' (jigo) or NULL (no result)
    result TEXT NOT NULL,           -- SGF RE: B+3.5, W+R, B+F, 0, Void
    score REAL,                     -- black - white - komi, gozero area scoring
    check_score REAL,               -- GNU Go final_score of the same game (cross-check), if any
    cause TEXT NOT NULL DEFAULT '', -- what went wrong, or a scoring disagreement
    moves INTEGER NOT NULL,
    seed INTEGER,
    sgf TEXT NOT NULL DEFAULT '',   -- path of the SGF file
    seconds REAL NOT NULL,
    finished REAL NOT NULL,
    UNIQUE(match_id, game_index)
);
CREATE INDEX IF NOT EXISTS games_players ON games(black, white);
"""


@dataclass
class GameRow:
    """One recorded game as read back for ratings and reports."""

    black: str
    white: str
    winner: str | None
    status: str
    size: int
    komi: float


class ResultsDB:
    """A connection to a results database file (created on first use)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(str(self.path), timeout=60, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA foreign_keys=ON")
        self.conn.executescript(SCHEMA)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> ResultsDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- players -----------------------------------------------------------------------------
    def player_id(self, spec: str, name: str = "", version: str = "", settings: str = "") -> int:
        """The id of a player, created if new; name/version/settings are filled in when given."""
        row = self.conn.execute("SELECT id, name, version FROM players WHERE spec=?", (spec,)).fetchone()
        if row is None:
            cur = self.conn.execute("INSERT OR IGNORE INTO players(spec, name, version, settings, created) "
                                    "VALUES (?,?,?,?,?)", (spec, name, version, settings, time.time()))
            if cur.lastrowid and cur.rowcount:
                return int(cur.lastrowid)
            row = self.conn.execute("SELECT id, name, version FROM players WHERE spec=?", (spec,)).fetchone()
        pid = int(row[0])
        if (name and name != row[1]) or (version and version != row[2]):
            self.conn.execute("UPDATE players SET name=?, version=?, settings=COALESCE(NULLIF(?, ''), settings) "
                              "WHERE id=?", (name or row[1], version or row[2], settings, pid))
        return pid

    def players(self) -> dict[str, dict]:
        rows = self.conn.execute("SELECT spec, name, version, settings FROM players ORDER BY id").fetchall()
        return {r[0]: {"name": r[1], "version": r[2], "settings": r[3]} for r in rows}

    # -- matches -----------------------------------------------------------------------------
    def match_id(self, key: str, spec_a: str, spec_b: str, size: int, komi: float, rules: str, games: int,
                 settings: dict) -> int:
        row = self.conn.execute("SELECT id, games FROM matches WHERE key=?", (key,)).fetchone()
        if row is not None:
            if games > row[1]:
                self.conn.execute("UPDATE matches SET games=? WHERE id=?", (games, row[0]))
            return int(row[0])
        a, b = self.player_id(spec_a), self.player_id(spec_b)
        cur = self.conn.execute(
            "INSERT INTO matches(key, player_a, player_b, size, komi, rules, games, settings, created) "
            "VALUES (?,?,?,?,?,?,?,?,?)", (key, a, b, size, komi, rules, games, json.dumps(settings, sort_keys=True),
                                           time.time()))
        return int(cur.lastrowid)

    def done_indices(self, match_id: int) -> set[int]:
        rows = self.conn.execute("SELECT game_index FROM games WHERE match_id=?", (match_id,)).fetchall()
        return {int(r[0]) for r in rows}

    def add_game(self, match_id: int, game_index: int, black: str, white: str, size: int, komi: float, status: str,
                 winner: str | None, result: str, score: float | None, check_score: float | None, cause: str,
                 moves: int, seed: int | None, sgf: str, seconds: float) -> None:
        b, w = self.player_id(black), self.player_id(white)
        self.conn.execute(
            "INSERT OR REPLACE INTO games(match_id, game_index, black, white, size, komi, status, winner, result,"
            " score, check_score, cause, moves, seed, sgf, seconds, finished)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (match_id, game_index, b, w, size, komi, status, winner, result, score, check_score, cause, moves, seed,
             sgf, seconds, time.time()))

    def match_games(self, match_id: int) -> list[dict]:
        cur = self.conn.execute(
            "SELECT g.game_index, pb.spec, pw.spec, g.status, g.winner, g.result, g.score, g.check_score, g.cause,"
            " g.moves, g.sgf, g.seconds FROM games g JOIN players pb ON pb.id=g.black JOIN players pw ON pw.id=g.white"
            " WHERE g.match_id=? ORDER BY g.game_index", (match_id,))
        keys = ["index", "black", "white", "status", "winner", "result", "score", "check_score", "cause", "moves",
                "sgf", "seconds"]
        return [dict(zip(keys, r, strict=True)) for r in cur.fetchall()]

    # -- reading for ratings ------------------------------------------------------------------
    def games(self, size: int | None = None) -> list[GameRow]:
        """Every recorded game (optionally of one board size)."""
        q = ("SELECT pb.spec, pw.spec, g.winner, g.status, g.size, g.komi FROM games g "
             "JOIN players pb ON pb.id=g.black JOIN players pw ON pw.id=g.white")
        args: tuple = ()
        if size is not None:
            q += " WHERE g.size=?"
            args = (size,)
        return [GameRow(*r) for r in self.conn.execute(q + " ORDER BY g.id", args).fetchall()]
