"""The ladder: schedule informative games among a panel of engines until a budget runs out.

Each round refits the ratings from every game in the database and picks the pair whose next
games teach the most: the expected information of a game is p(1-p) under the current fit
(largest for evenly matched pairs), discounted by the games the pair has already played, so
blowouts are played a little (enough to place a player) and close pairs a lot. New players
start at the anchor's rating, so they are scheduled early. Games go into ordinary matches
(one per pair and settings), so the ladder resumes and grows across runs like `gozero match`.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass

from .engines import EngineSpec, parse_spec
from .match import GameOutcome, MatchSettings, SettingsError, match_key, preflight, run_match
from .ratings import RatingFit, expected_score, fit_ratings, results_from_rows
from .results_db import ResultsDB


@dataclass
class PairChoice:
    a: str
    b: str
    expected: float  # predicted score of a
    played: int  # games recorded between them so far
    value: float


def current_fit(db: ResultsDB, size: int, anchor: str, anchor_elo: float, players: list[str] | None = None,
                prior_draws: float = 1.0) -> RatingFit | None:
    """Ratings from every game of this board size, or None when the anchor has played nothing."""
    results = results_from_rows(db.games(size))
    try:
        return fit_ratings(results, anchor=anchor, anchor_elo=anchor_elo, players=players, prior_draws=prior_draws)
    except ValueError:
        return None


def pair_counts(db: ResultsDB, size: int) -> dict[frozenset, int]:
    """Games recorded between each pair (failed ones too, so a broken pairing is not retried forever)."""
    counts: dict[frozenset, int] = {}
    for row in db.games(size):
        key = frozenset((row.black, row.white))
        counts[key] = counts.get(key, 0) + 1
    return counts


def choose_pair(panel: list[str], fit: RatingFit | None, counts: dict[frozenset, int],
                anchor_elo: float = 0.0) -> PairChoice:
    """The most informative next pairing of the panel: max p(1-p) / (1 + games played)."""
    if len(panel) < 2:
        raise SettingsError("a ladder needs at least two engines")
    best: PairChoice | None = None
    for a, b in itertools.combinations(panel, 2):
        ra = fit.ratings[a].elo if fit and a in fit.ratings else anchor_elo
        rb = fit.ratings[b].elo if fit and b in fit.ratings else anchor_elo
        p = expected_score(ra, rb)
        n = counts.get(frozenset((a, b)), 0)
        value = p * (1 - p) / (1.0 + n)
        if best is None or value > best.value + 1e-12:
            best = PairChoice(a, b, p, n, value)
    assert best is not None
    return best


def run_ladder(panel: list[str], db: ResultsDB, settings: MatchSettings, sgf_dir: str, max_games: int = 20,
               minutes: float | None = None, batch: int = 2, parallel: int = 1, anchor: str = "random",
               anchor_elo: float = 0.0, on_game: Callable[[GameOutcome], None] | None = None,
               on_round: Callable[[PairChoice], None] | None = None, cluster: str | None = None) -> int:
    """Play up to ``max_games`` games (and up to ``minutes``) among ``panel``; return games played.

    ``cluster``: play each round's games on that Ray cluster (see `run_match`)."""
    specs: list[EngineSpec] = [parse_spec(s) for s in panel]
    names = [s.spec for s in specs]
    if len(set(names)) != len(names):
        raise SettingsError("the panel names an engine twice")
    if batch < 1 or max_games < 1:
        raise SettingsError("batch and max_games must be >= 1")
    preflight(specs, settings)
    by_name = dict(zip(names, specs, strict=True))
    deadline = time.monotonic() + 60 * minutes if minutes else None
    played = 0
    while played < max_games and (deadline is None or time.monotonic() < deadline):
        fit = current_fit(db, settings.size, anchor, anchor_elo, players=names)
        choice = choose_pair(names, fit, pair_counts(db, settings.size), anchor_elo)
        if on_round is not None:
            on_round(choice)
        a, b = sorted((choice.a, choice.b))
        key = match_key(by_name[a], by_name[b], settings)
        row = db.conn.execute("SELECT id FROM matches WHERE key=?", (key,)).fetchone()
        have = len(db.done_indices(int(row[0]))) if row else 0
        n = min(batch, max_games - played)
        result = run_match(by_name[a], by_name[b], have + n, settings, db, sgf_dir, parallel=parallel, on_game=on_game,
                           check_engines=False, cluster=cluster)
        played += result.played_now
        if result.played_now == 0:
            break
    return played
