"""Bradley-Terry (Elo) ratings by maximum likelihood, with 95% intervals, and Wilson intervals.

The model: P(i beats j) = 1 / (1 + 10^((R_j - R_i) / 400)). `fit_ratings` maximises the
likelihood of all games among all players (draws count half a win each way, as in
BayesElo) by Newton's method on the natural scale, with

* a weak prior of ``prior_draws`` virtual draws between every pair that has met, which keeps
  perfect scores finite (a player who won every game is rated high, not infinitely high);
* a very weak Gaussian prior around the anchor (``ridge_elo`` wide), which only matters for
  players not connected to the anchor by any chain of games;
* one anchor player held at a stated rating (``random`` = 0 by default).

Intervals are +-1.96 standard errors from the inverse observed Fisher information (the
negative Hessian at the optimum) with the anchor fixed, so they are intervals relative to
the anchor.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

ELO_PER_NAT = 400.0 / math.log(10.0)
Z95 = 1.959963984540054


@dataclass
class Rating:
    """A player's fitted rating and what it rests on."""

    player: str
    elo: float
    sd: float  # standard error (Elo), relative to the anchor
    games: int
    score: float  # points scored (wins + draws/2)

    @property
    def low(self) -> float:
        return self.elo - Z95 * self.sd

    @property
    def high(self) -> float:
        return self.elo + Z95 * self.sd


@dataclass
class RatingFit:
    """The result of a fit: ratings by player plus the covariance for pairwise questions."""

    ratings: dict[str, Rating]
    anchor: str
    anchor_elo: float
    cov: np.ndarray  # Elo^2, rows in the order of `players`
    players: list[str]

    def ordered(self) -> list[Rating]:
        return sorted(self.ratings.values(), key=lambda r: -r.elo)

    def expected(self, a: str, b: str) -> float:
        """Predicted score of ``a`` against ``b``."""
        return expected_score(self.ratings[a].elo, self.ratings[b].elo)

    def diff_sd(self, a: str, b: str) -> float:
        """Standard error of R_a - R_b."""
        i, j = self.players.index(a), self.players.index(b)
        v = self.cov[i, i] + self.cov[j, j] - 2 * self.cov[i, j]
        return float(math.sqrt(max(v, 0.0)))


def expected_score(elo_a: float, elo_b: float) -> float:
    """Bradley-Terry probability that a player rated ``elo_a`` beats one rated ``elo_b``."""
    return 1.0 / (1.0 + 10.0 ** ((elo_b - elo_a) / 400.0))


def fit_ratings(results: Iterable[tuple[str, str, float]], anchor: str = "random", anchor_elo: float = 0.0,
                prior_draws: float = 1.0, ridge_elo: float = 3000.0, players: Sequence[str] | None = None,
                max_iter: int = 200, tol: float = 1e-10) -> RatingFit:
    """Fit ratings to ``(player_a, player_b, score_of_a)`` results (score 1, 0.5 or 0).

    Raises ValueError when the anchor has played no game and is not among ``players``.
    """
    names: list[str] = list(players or [])
    index = {p: k for k, p in enumerate(names)}
    rows = []
    for a, b, s in results:
        if a == b:
            continue
        if not 0.0 <= s <= 1.0:
            raise ValueError(f"score {s} of {a} vs {b} is not in [0, 1]")
        for p in (a, b):
            if p not in index:
                index[p] = len(names)
                names.append(p)
        rows.append((index[a], index[b], float(s)))
    if anchor not in index:
        raise ValueError(f"anchor {anchor!r} has no games; players: {', '.join(names) or '(none)'}")
    n = len(names)
    wins = np.zeros((n, n))  # wins[i, j]: points i scored against j
    games = np.zeros((n, n))
    for i, j, s in rows:
        wins[i, j] += s
        wins[j, i] += 1.0 - s
        games[i, j] += 1
        games[j, i] += 1
    met = games > 0
    w = wins + 0.5 * prior_draws * met
    g = games + prior_draws * met
    ridge = (ELO_PER_NAT / ridge_elo) ** 2  # Gaussian prior precision on the natural scale
    a_idx = index[anchor]
    free = np.array([k for k in range(n) if k != a_idx], dtype=int)
    theta = np.zeros(n)

    def objective(t: np.ndarray) -> float:
        d = t[:, None] - t[None, :]
        return float(np.sum(w * -np.logaddexp(0.0, -d)) - 0.5 * ridge * np.sum((t - t[a_idx]) ** 2))

    def grad_hess(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        d = t[:, None] - t[None, :]
        p = 1.0 / (1.0 + np.exp(-d))
        grad = np.sum(w - g * p, axis=1) - ridge * (t - t[a_idx])
        c = g * p * p.T
        hess = c.copy()
        np.fill_diagonal(hess, -np.sum(c, axis=1) - ridge)
        return grad, hess

    f = objective(theta)
    for _ in range(max_iter):
        if len(free) == 0:
            break
        grad, hess = grad_hess(theta)
        gr, hr = grad[free], hess[np.ix_(free, free)]
        step = np.linalg.solve(hr, -gr)
        t = 1.0
        while t > 1e-8:
            cand = theta.copy()
            cand[free] += t * step
            fc = objective(cand)
            if fc >= f - 1e-12:
                break
            t *= 0.5
        theta, f_old, f = cand, f, fc
        if abs(f - f_old) < tol and np.max(np.abs(t * step)) < 1e-7:
            break
    _, hess = grad_hess(theta)
    cov = np.zeros((n, n))
    if len(free):
        cov_free = np.linalg.inv(-hess[np.ix_(free, free)])
        cov[np.ix_(free, free)] = cov_free * ELO_PER_NAT**2
    elo = (theta - theta[a_idx]) * ELO_PER_NAT + anchor_elo
    n_games = games.sum(axis=1)
    scored = wins.sum(axis=1)
    ratings = {p: Rating(p, float(elo[k]), float(math.sqrt(max(cov[k, k], 0.0))), int(n_games[k]), float(scored[k]))
               for p, k in index.items()}
    return RatingFit(ratings, anchor, anchor_elo, cov, names)


def wilson_interval(wins: float, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a win rate (draws may count as half wins). (0, 1) when n = 0."""
    if n <= 0:
        return 0.0, 1.0
    p = wins / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def results_from_rows(rows: Iterable) -> list[tuple[str, str, float]]:
    """(black, white, score of black) for every game row with a result (winner B, W or 0)."""
    out = []
    for r in rows:
        if r.winner == "B":
            out.append((r.black, r.white, 1.0))
        elif r.winner == "W":
            out.append((r.black, r.white, 0.0))
        elif r.winner == "0":
            out.append((r.black, r.white, 0.5))
    return out


def _sigmoid(x: float) -> float:
    """1 / (1 + e^-x) for any float (no overflow far from 0)."""
    return 0.5 * (1.0 + math.tanh(0.5 * x))


def rate_against(results: Iterable[tuple[str, str, float]], player: str, fixed: dict[str, float],
                 prior_draws: float = 1.0, ridge_elo: float = 3000.0, anchor_elo: float = 0.0,
                 max_iter: int = 100, tol: float = 1e-9) -> Rating:
    """``player``'s rating from its games against opponents whose ratings are held at
    ``fixed`` (a frozen panel): a one-player Bradley-Terry MAP with the same half-draw prior
    per opponent met and the same Gaussian ridge (around ``anchor_elo``) as `fit_ratings`.
    Identical results give identical ratings, whatever else was rated on the panel."""
    tallies: dict[str, tuple[float, float]] = {}
    for a, b, s in results:
        if player not in (a, b) or a == b:
            continue
        other, mine = (b, s) if a == player else (a, 1.0 - s)
        pts, n = tallies.get(other, (0.0, 0.0))
        tallies[other] = (pts + mine, n + 1.0)
    return rate_tallies(tallies, fixed, player, prior_draws, ridge_elo, anchor_elo, max_iter, tol)


def rate_tallies(tallies: dict[str, tuple[float, float]], fixed: dict[str, float], player: str = "player",
                 prior_draws: float = 1.0, ridge_elo: float = 3000.0, anchor_elo: float = 0.0,
                 max_iter: int = 100, tol: float = 1e-9) -> Rating:
    """`rate_against` from ``tallies``: opponent -> (points scored, games played) against it,
    the sufficient statistics of the games (what a ledger keeps, so rows can be re-rated)."""
    for other in tallies:
        if other not in fixed:
            raise ValueError(f"{other!r} is not on the panel ({', '.join(sorted(fixed))})")
    ridge = (ELO_PER_NAT / ridge_elo) ** 2
    centre = anchor_elo / ELO_PER_NAT
    opp = [(fixed[o] / ELO_PER_NAT, pts + 0.5 * prior_draws, n + prior_draws) for o, (pts, n) in tallies.items()
           if n > 0]

    def grad_hess(t: float) -> tuple[float, float]:
        grad, hess = -ridge * (t - centre), -ridge
        for r, w, g in opp:
            p = _sigmoid(t - r)
            grad += w - g * p
            hess -= g * p * (1.0 - p)
        return grad, hess

    # The objective is strictly concave, so its gradient falls as t rises and has one root.
    # Newton alone overshoots from the centre when the player is far from it (a flat
    # log-likelihood far from every opponent), so it runs inside a bracket of that root and
    # bisects whenever its step would leave the bracket.
    lo, hi, width = centre, centre, 1.0
    while grad_hess(lo)[0] < 0:
        lo, width = lo - width, 2 * width
    width = 1.0
    while grad_hess(hi)[0] > 0:
        hi, width = hi + width, 2 * width
    t = centre if lo < centre < hi else 0.5 * (lo + hi)
    for _ in range(max_iter):
        grad, hess = grad_hess(t)
        if grad == 0.0:
            break
        if grad > 0:
            lo = t
        else:
            hi = t
        new = t - grad / hess
        if not lo < new < hi:
            new = 0.5 * (lo + hi)
        step, t = new - t, new
        if abs(step) < tol:
            break
    info = ridge
    for r, _, g in opp:
        p = _sigmoid(t - r)
        info += g * p * (1.0 - p)
    games, points = int(round(sum(n for _, n in tallies.values()))), float(sum(p for p, _ in tallies.values()))
    return Rating(player, t * ELO_PER_NAT, ELO_PER_NAT / math.sqrt(info), games, points)
