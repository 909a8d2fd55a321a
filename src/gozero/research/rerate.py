"""Re-rate an experiment's ledger rows from the scores kept with them (`gozero research rerate`).

A row's Elo rests on three things: its mean score against each panel member with the games
per member (kept in ``panel_scores.jsonl``, see ledger.py), the members' ratings from the
calibration games (``calibration.json``), and the fit that turns the two into an Elo
(`gozero.research.panel.rate_tallies`). When the fit changes, `rerate` recomputes every rated
row's Elo, interval and raw Elo from the first two, without replaying a game.

The ledger stays honest about it. The old values are noted in the row's description. The
status stays as it was decided: a keep or a discard was a decision made at the time, and
later rows were built on it. A row whose decision would differ under the new numbers (the
same rule, `decide_status`, against the best row kept before it) says so. Rows with no kept
scores (an unrated crash, or a run folder that is gone) are left as they are and listed.

The fit changed once. Before 2026-12-01 the members were fitted again with every network
(one joint fit of the calibration, the searched network's games and the raw network's), so
the members moved with each rating and identical results could get different Elo. Since
then each network is rated alone against the members held at their calibrated ratings.
"""

from __future__ import annotations

import datetime
import json
import math

from .experiment import Experiment
from .ledger import Ledger, decide_status
from .panel import member_elos, rate_tallies

TOL = 1e-6  # Elo: below this a recomputed value is the recorded one


def _nan(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _f(v) -> str:
    return "-" if _nan(v) else f"{v:.0f}"


def calibration_games(exp: Experiment) -> list[tuple[str, str, float]]:
    """The experiment's stored calibration games (never replayed here: a missing or stale
    calibration is an error, since the rows were rated on the stored one)."""
    path = exp.dir / "calibration.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no calibration, so no row of this experiment has been rated")
    data = json.loads(path.read_text())
    if data.get("fingerprint") != exp.panel.fingerprint():
        raise ValueError(f"{path} was played for another panel than experiment.toml's: the rows cannot be re-rated")
    return [tuple(g) for g in data["games"]]


def rating_elos(rating: dict, fixed: dict[str, float], exp: Experiment) -> tuple[float, float, float, float]:
    """(Elo, low, high, raw Elo) of a kept rating on the panel with the members at ``fixed``."""
    scores, raw = rating.get("scores") or {}, rating.get("raw_scores") or {}
    per = rating.get("games_per_member")  # filled in by the ledger for lines kept without it
    if not per:
        raise ValueError(f"rating of {rating.get('run_id')!r} has no game counts")
    elo, low, high = rate_tallies({m: (s * per, float(per)) for m, s in scores.items()}, fixed, exp.panel)
    raw_elo = rate_tallies({m: (s * per, float(per)) for m, s in raw.items()}, fixed, exp.panel)[0]
    return elo, low, high, raw_elo


def _same(a, b) -> bool:
    return (_nan(a) and _nan(b)) or (not _nan(a) and not _nan(b) and abs(a - b) < TOL)


def rerate(exp: Experiment, dry_run: bool = False, date: str | None = None) -> dict:
    """Re-rate every rated row of ``exp``'s ledger; returns ``{"changed": [...], "unchanged":
    n, "missing": [run ids], "members": {member: Elo}}``. With ``dry_run`` nothing is written."""
    ledger = Ledger(exp.dir)
    fixed = member_elos(exp.panel, calibration_games(exp))
    date = date or datetime.date.today().isoformat()
    changed, missing, updates, unchanged = [], [], [], 0
    best: dict | None = None  # the best row kept so far, with the new numbers
    for row in ledger.rows():
        if _nan(row["elo"]):
            continue
        rating = ledger.rating_of(row) if dry_run else ledger.archive_rating(row)
        new = dict(row)
        if rating is None:
            missing.append(row["run_id"])
        else:
            new["elo"], new["elo_low"], new["elo_high"], new["raw_elo"] = rating_elos(rating, fixed, exp)
        if row["status"] in ("keep", "discard"):
            would, _ = decide_status(new, best)
            if row["status"] == "keep" and (best is None or new["elo"] > best["elo"]):
                best = new
        else:
            would = row["status"]
        if rating is None:
            continue
        if all(_same(row[c], new[c]) for c in ("elo", "elo_low", "elo_high", "raw_elo")):
            unchanged += 1
            continue
        note = (f"re-rated {date} with the members held at their calibrated Elo: was {_f(row['elo'])} "
                f"[{_f(row['elo_low'])}, {_f(row['elo_high'])}], raw {_f(row['raw_elo'])}")
        if would != row["status"]:
            note += f"; with these numbers it would have been {would}"
        new["description"] = (row["description"] + "; " if row["description"] else "") + note
        updates.append(new)
        changed.append({"run_id": row["run_id"], "status": row["status"], "would_be": would,
                        "old": [row[c] for c in ("elo", "elo_low", "elo_high", "raw_elo")],
                        "new": [new[c] for c in ("elo", "elo_low", "elo_high", "raw_elo")],
                        "description": new["description"]})
    if not dry_run:
        ledger.update(updates)
    return {"changed": changed, "unchanged": unchanged, "missing": missing, "members": fixed}


__all__ = ["calibration_games", "rating_elos", "rerate"]
