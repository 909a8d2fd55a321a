"""The ledger of an experiment: one row per run, in ``ledger.sqlite`` and ``results.tsv``.

SQLite is the record: each row is appended in one transaction (a process killed mid-write
leaves the ledger as it was before the row). ``results.tsv`` is written from it after every
append, to a temporary file that replaces the old one (a kill leaves the previous complete
file; the next append or `Ledger.rows` brings it up to date). A lock file serialises writers,
so a sweep and a single run may append to one experiment at once.

Every row can be re-run from its fields: the commit, the overrides (``--set`` items, JSON),
the seed, the budget and the initial checkpoint (see `rerun_command`). And every rated row
can be re-rated without replaying a game: the rating that made it (its mean score against
each member, and the games per member) is appended to ``panel_scores.jsonl`` with the row,
kept in git beside the ledger (the run folders under ``runs/`` are not).
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import shlex
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

COLUMNS = (
    ("run_id", "TEXT PRIMARY KEY"),  # <time>-<seed>-<short hash>, the run's folder under runs/
    ("time", "TEXT"),  # UTC time the row was written
    ("commit", "TEXT"),  # git commit of the code that ran (with -dirty when uncommitted changes)
    ("config_hash", "TEXT"),  # hash of the resolved training config (seed and budget left out)
    ("seed", "INTEGER"),
    ("budget_s", "REAL"),  # training CPU budget
    ("cpu_s", "REAL"),  # training CPU seconds used (the run and its children)
    ("eval_cpu_s", "REAL"),  # CPU seconds of the panel evaluation (apart from the budget)
    ("elo", "REAL"),  # panel Elo of the searched network
    ("elo_low", "REAL"),  # 95 % interval
    ("elo_high", "REAL"),
    ("raw_elo", "REAL"),  # panel Elo of the raw network (policy only, no search)
    ("status", "TEXT"),  # keep, discard, crash, pruned, or curve (a rated snapshot of a longer run)
    ("description", "TEXT"),
    ("overrides", "TEXT"),  # JSON list of section.key=value items of this run (beyond the experiment's)
    ("init", "TEXT"),  # checkpoint the run started from ('' = from zero)
    ("trial", "INTEGER"),  # Optuna trial number (-1 outside a sweep)
    ("steps", "INTEGER"),  # training steps done
    ("games", "INTEGER"),  # self-play games played
    ("log", "TEXT"),  # the run's log, relative to the experiment folder
)
NAMES = tuple(c for c, _ in COLUMNS)
_QUOTED = ", ".join(f'"{c}"' for c in NAMES)
_SCHEMA = ", ".join(f'"{c}" {t}' for c, t in COLUMNS)
_ASSIGN = ", ".join(f'"{c}" = ?' for c in NAMES)
STATUSES = ("keep", "discard", "crash", "pruned", "curve")


def _fmt(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.6g}" if abs(v) < 1e6 else f"{v:.1f}"
    return str(v).replace("\t", " ").replace("\n", " ")


class Ledger:
    """The ledger of the experiment in ``folder``."""

    def __init__(self, folder: str | Path):
        self.dir = Path(folder)
        self.db_path = self.dir / "ledger.sqlite"
        self.tsv_path = self.dir / "results.tsv"
        self.lock_path = self.dir / ".ledger.lock"
        self.scores_path = self.dir / "panel_scores.jsonl"

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.db_path, timeout=60)
        con.execute("PRAGMA journal_mode=DELETE")  # a rollback journal: one file to commit, atomic rows
        con.execute("PRAGMA synchronous=FULL")
        con.execute(f"CREATE TABLE IF NOT EXISTS runs ({_SCHEMA})")
        return con

    def ensure(self) -> None:
        """Create the (empty) ledger files."""
        with self._locked():
            self._connect().close()
            self._write_tsv(self._read())

    def append(self, row: dict) -> None:
        """Add one row (unknown keys are an error; missing ones are empty)."""
        extra = set(row) - set(NAMES)
        if extra:
            raise ValueError(f"unknown ledger fields {sorted(extra)}")
        if row.get("status") not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, not {row.get('status')!r}")
        values = [row.get(c) for c in NAMES]
        with self._locked():
            con = self._connect()
            try:
                with con:
                    con.execute(f"INSERT INTO runs ({_QUOTED}) VALUES ({', '.join('?' * len(NAMES))})",
                                values)
            finally:
                con.close()
            self._write_tsv(self._read())

    def _read(self) -> list[dict]:
        if not self.db_path.exists():
            return []
        con = self._connect()
        try:
            cur = con.execute(f"SELECT {_QUOTED} FROM runs ORDER BY rowid")
            return [dict(zip(NAMES, r, strict=True)) for r in cur.fetchall()]
        finally:
            con.close()

    def rows(self) -> list[dict]:
        """All rows, oldest first (and results.tsv brought up to date)."""
        with self._locked():
            rows = self._read()
            if not self.tsv_path.exists() or self.tsv_path.read_text().count("\n") != len(rows) + 1:
                self._write_tsv(rows)
        return rows

    def _write_tsv(self, rows: list[dict]) -> None:
        lines = ["\t".join(NAMES)] + ["\t".join(_fmt(r[c]) for c in NAMES) for r in rows]
        tmp = self.tsv_path.with_name(f".{self.tsv_path.name}.{os.getpid()}.tmp")
        with open(tmp, "w") as fh:
            fh.write("\n".join(lines) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.tsv_path)

    def record(self, row: dict) -> dict:
        """Append a trial's row, giving a rated one (status ``rated``) its keep/discard status
        against the best kept row (see `decide_status`); returns the row as written."""
        row = dict(row)
        if row["status"] == "rated":
            status, reason = decide_status(row, self.best_kept())
            row["status"] = status
            row["description"] = (row["description"] + "; " if row["description"] else "") + reason
        self.append(row)
        self.archive_rating(row)
        return row

    def archive_rating(self, row: dict) -> dict | None:
        """Keep the rating that made ``row`` in ``panel_scores.jsonl`` (once); returns it, or
        None when the row is unrated or no such rating is found (see `rating_of`)."""
        with self._locked():
            if row["run_id"] in (stored := self._stored()):
                return stored[row["run_id"]]
            rating = self._from_run(row)
            if rating is not None:
                with open(self.scores_path, "a") as fh:
                    fh.write(json.dumps(rating, sort_keys=True) + "\n")
                    fh.flush()
                    os.fsync(fh.fileno())
            return rating

    def rating_of(self, row: dict) -> dict | None:
        """The rating that made ``row``: the one kept in ``panel_scores.jsonl``, else the last
        line of its run's ``runs/<id>/ratings.jsonl`` when that line's Elo is the row's. A dict
        with ``scores`` and ``raw_scores`` (member -> mean score) and ``games_per_member``."""
        with self._locked():
            return self._stored().get(row["run_id"]) or self._from_run(row)

    def _from_run(self, row: dict) -> dict | None:
        if row.get("elo") is None or (isinstance(row["elo"], float) and math.isnan(row["elo"])):
            return None
        path = self.dir / "runs" / row["run_id"] / "ratings.jsonl"
        lines = [ln for ln in path.read_text().splitlines() if ln.strip()] if path.is_file() else []
        try:
            rating = json.loads(lines[-1]) if lines else None
        except json.JSONDecodeError:
            return None
        if not isinstance(rating, dict) or not math.isclose(rating.get("elo", math.nan), row["elo"], abs_tol=1e-3):
            return None  # the run's last rating did not make this row (or the row was re-rated since)
        return _with_games_per_member({"run_id": row["run_id"], "checkpoint": rating.get("checkpoint"),
                                       "elo": rating["elo"], "raw_elo": rating.get("raw_elo"),
                                       "games": rating.get("games"), "scores": rating.get("scores") or {},
                                       "raw_scores": rating.get("raw_scores") or {}})

    def stored_ratings(self) -> dict[str, dict]:
        """run id -> the rating kept for it in ``panel_scores.jsonl``."""
        with self._locked():
            return self._stored()

    def _stored(self) -> dict[str, dict]:
        out: dict[str, dict] = {}
        if self.scores_path.is_file():
            for line in self.scores_path.read_text().splitlines():
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:  # a line cut by a kill: the rating is in runs/ still
                    continue
                if isinstance(rec, dict) and rec.get("run_id"):
                    out[rec["run_id"]] = _with_games_per_member(rec)
        return out

    def update(self, rows: list[dict]) -> None:
        """Replace rows (by run id) with the given ones, in one transaction; the ledger's
        only rewrite, for `gozero research rerate` (every other write appends)."""
        if not rows:
            return
        with self._locked():
            con = self._connect()
            try:
                with con:
                    for row in rows:
                        cur = con.execute(f"UPDATE runs SET {_ASSIGN} WHERE run_id = ?",
                                          [row.get(c) for c in NAMES] + [row["run_id"]])
                        if cur.rowcount != 1:
                            raise KeyError(f"no ledger row {row['run_id']!r}")
            finally:
                con.close()
            self._write_tsv(self._read())

    def best_kept(self) -> dict | None:
        """The kept row with the highest Elo."""
        kept = [r for r in self.rows() if r["status"] == "keep" and r["elo"] is not None]
        return max(kept, key=lambda r: r["elo"]) if kept else None


def _with_games_per_member(rating: dict) -> dict:
    """``rating`` with ``games_per_member`` filled in (lines kept before it was recorded have
    only the total): every member plays the same number of games, searched and raw alike."""
    if rating.get("games_per_member"):
        return rating
    per = len(rating.get("scores") or {}) + len(rating.get("raw_scores") or {})
    return {**rating, "games_per_member": rating["games"] / per if per and rating.get("games") else None}


def decide_status(row: dict, best: dict | None) -> tuple[str, str]:
    """keep when there is no kept run yet, or when the new run's interval lies above the best
    kept run's Elo (its low end higher); discard otherwise. Returns (status, reason)."""
    if best is None:
        return "keep", "first rated run: the baseline"
    if row["elo_low"] > best["elo"]:
        return "keep", f"low end {row['elo_low']:.0f} above the best kept Elo {best['elo']:.0f} ({best['run_id']})"
    return "discard", (f"Elo {row['elo']:.0f} [{row['elo_low']:.0f}, {row['elo_high']:.0f}] does not clear the best "
                       f"kept {best['elo']:.0f} ({best['run_id']})")


def rerun_command(exp_dir: str | Path, row: dict) -> str:
    """The command that runs a ledger row again (check out ``row['commit']`` first)."""
    argv = ["gozero", "research", "run", str(exp_dir), "--seed", str(row["seed"]), "--budget",
            f"{row['budget_s']:g}s"]
    for item in json.loads(row.get("overrides") or "[]"):
        argv += ["--set", item]
    if row.get("init"):
        argv += ["--init", row["init"]]
    return shlex.join(argv)


__all__ = ["COLUMNS", "Ledger", "NAMES", "decide_status", "rerun_command"]
