"""The Bradley-Terry fit recovers known ratings from synthetic games; intervals cover the truth."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gozero.eval.ratings import expected_score, fit_ratings, results_from_rows, wilson_interval
from gozero.eval.results_db import GameRow

TRUE = {"random": 0.0, "gnugo:0": 350.0, "pachi:500": 600.0, "gnugo:10": 700.0, "pachi:5000": 1100.0}


def simulate(rng: np.random.Generator, n_games: int, draw_rate: float = 0.0) -> list[tuple[str, str, float]]:
    players = list(TRUE)
    out = []
    for _ in range(n_games):
        i, j = rng.choice(len(players), size=2, replace=False)
        a, b = players[i], players[j]
        if rng.random() < draw_rate:
            out.append((a, b, 0.5))
        else:
            out.append((a, b, float(rng.random() < expected_score(TRUE[a], TRUE[b]))))
    return out


def test_recovers_true_ratings_within_intervals() -> None:
    rng = np.random.default_rng(2024)
    fit = fit_ratings(simulate(rng, 4000), anchor="random")
    assert fit.ratings["random"].elo == 0 and fit.ratings["random"].sd == 0
    inside = 0
    for p, true in TRUE.items():
        if p == "random":
            continue
        r = fit.ratings[p]
        assert abs(r.elo - true) < 3 * r.sd, (p, r.elo, r.sd)
        assert 10 < r.sd < 60  # 4000 games: tens of Elo, not hundreds
        inside += r.low <= true <= r.high
    assert inside >= 3
    order = [r.player for r in fit.ordered()]
    assert order == sorted(TRUE, key=lambda p: -TRUE[p])


def test_interval_coverage_is_near_95_percent() -> None:
    rng = np.random.default_rng(7)
    covered = total = 0
    widths = []
    for _ in range(40):
        fit = fit_ratings(simulate(rng, 600), anchor="random", prior_draws=0.5)
        for p, true in TRUE.items():
            if p == "random":
                continue
            r = fit.ratings[p]
            covered += r.low <= true <= r.high
            total += 1
            widths.append(r.high - r.low)
    assert 0.85 <= covered / total <= 0.995, covered / total
    # more games, narrower intervals
    big = fit_ratings(simulate(rng, 6000), anchor="random")
    assert max(big.ratings[p].high - big.ratings[p].low for p in TRUE if p != "random") < np.median(widths)


def test_anchor_value_shifts_everyone() -> None:
    res = simulate(np.random.default_rng(3), 800)
    a = fit_ratings(res, anchor="random")
    b = fit_ratings(res, anchor="gnugo:10", anchor_elo=1500)
    assert b.ratings["gnugo:10"].elo == 1500
    shift = 1500 - a.ratings["gnugo:10"].elo
    for p in TRUE:
        assert b.ratings[p].elo == pytest.approx(a.ratings[p].elo + shift, abs=1.0)
        assert math.isclose(b.diff_sd(p, "random"), a.ratings[p].sd, rel_tol=0.05) or p == "random"


def test_perfect_scores_stay_finite_and_ordered() -> None:
    res = [("strong", "random", 1.0)] * 20 + [("medium", "random", 1.0)] * 5
    fit = fit_ratings(res)
    s, m = fit.ratings["strong"], fit.ratings["medium"]
    assert 0 < m.elo < s.elo < 2000
    assert math.isfinite(s.sd) and s.sd > 0


def test_draws_count_half_and_balance() -> None:
    fit = fit_ratings([("a", "random", 0.5)] * 30)
    assert abs(fit.ratings["a"].elo) < 1e-6
    even = fit_ratings([("a", "random", 1.0), ("a", "random", 0.0)] * 15)
    assert abs(even.ratings["a"].elo) < 1e-6
    # a draw is worth as much as a win and a loss
    assert fit.ratings["a"].sd < fit_ratings([("a", "random", 0.5)] * 5).ratings["a"].sd


def test_unknown_anchor_and_bad_scores() -> None:
    with pytest.raises(ValueError, match="anchor 'random' has no games"):
        fit_ratings([("a", "b", 1.0)])
    with pytest.raises(ValueError, match="not in"):
        fit_ratings([("a", "random", 2.0)])


def test_results_from_rows_reads_winners() -> None:
    rows = [GameRow("x", "y", "B", "scored", 9, 7.5), GameRow("x", "y", "W", "resign", 9, 7.5),
            GameRow("x", "y", "0", "scored", 9, 7.5), GameRow("x", "y", None, "crash", 9, 7.5)]
    assert results_from_rows(rows) == [("x", "y", 1.0), ("x", "y", 0.0), ("x", "y", 0.5)]


def test_wilson_interval() -> None:
    lo, hi = wilson_interval(5, 10)
    assert lo < 0.5 < hi and hi - 0.5 == pytest.approx(0.5 - lo)
    lo, hi = wilson_interval(10, 10)
    assert hi == pytest.approx(1.0) and 0.6 < lo < 0.8  # 0.722 for z = 1.96
    assert wilson_interval(0, 0) == (0.0, 1.0)
    assert wilson_interval(30, 100)[1] - wilson_interval(30, 100)[0] < wilson_interval(3, 10)[1] - wilson_interval(
        3, 10)[0]


def test_rating_against_a_frozen_panel_depends_on_the_players_own_games_only():
    from gozero.eval.ratings import fit_ratings, rate_against

    cal = [("random", "a", 0.0)] * 30 + [("random", "a", 1.0)] * 10 + [("a", "b", 0.0)] * 25 + [("a", "b", 1.0)] * 15
    panel = fit_ratings(cal, anchor="random", players=["random", "a", "b"])
    fixed = {m: panel.ratings[m].elo for m in ("random", "a", "b")}
    mine = [("x", "random", 1.0)] * 10 + [("x", "a", 0.0)] * 6 + [("x", "a", 1.0)] * 4 + [("x", "b", 0.0)] * 10
    alone = rate_against(mine, "x", fixed)
    with_others = rate_against(mine + [("y", "a", 1.0)] * 10, "x", fixed)  # another player's games change nothing
    assert alone.elo == with_others.elo and alone.games == 30 and alone.score == 14.0
    assert fixed["random"] < alone.elo < fixed["b"]  # 10/10 against random, 0/10 against b
    better = rate_against([("x", "random", 1.0)] * 10 + [("x", "a", 1.0)] * 10 + [("x", "b", 0.0)] * 10, "x", fixed)
    assert better.elo > alone.elo and better.sd > 0
    # with a panel fixed at the joint fit's values, the one-player fit is the joint fit's optimum for x
    joint = fit_ratings(cal * 200 + mine, anchor="random")  # members pinned by a huge calibration
    pinned = {m: joint.ratings[m].elo for m in ("random", "a", "b")}
    assert abs(rate_against(mine, "x", pinned).elo - joint.ratings["x"].elo) < 1.0
    with pytest.raises(ValueError, match="not on the panel"):
        rate_against([("x", "z", 1.0)], "x", fixed)


def test_rating_far_above_or_below_the_anchor_is_the_fits_optimum():
    """A network that beats a panel rated up to ~1,100 Elo most of the time sits far from the
    anchor, where plain Newton from the anchor overshoots (it used to overflow); the fit must
    land on the one root of the MAP gradient, rise with the score and stay finite."""
    import math

    from gozero.eval.ratings import ELO_PER_NAT, rate_tallies

    fixed = {"random": 0.0, "a": 188.0, "b": 472.0, "c": 820.0, "d": 1031.0, "e": 909.0, "f": 953.0, "g": 1082.0}
    elos = []
    for pts in (0, 2, 10, 15, 18, 19, 20):
        r = rate_tallies({m: (float(pts), 20.0) for m in fixed}, fixed)
        assert math.isfinite(r.elo) and math.isfinite(r.sd) and r.sd > 0
        t = r.elo / ELO_PER_NAT  # the MAP condition: the gradient (likelihood + half-draw prior + ridge) is 0
        grad = -((ELO_PER_NAT / 3000.0) ** 2) * t + sum(
            (pts + 0.5) - 21.0 / (1.0 + math.exp(-(t - e / ELO_PER_NAT))) for e in fixed.values())
        assert abs(grad) < 1e-6
        elos.append(r.elo)
    assert elos == sorted(elos) and elos[3] > max(fixed.values()) - 100 and elos[-1] < 3000
    assert elos[0] < 0  # 0 of 160: below the random player
