"""The pg-vs-search analysis, written before the main runs: it reads the study's ledgers and
the runs' logged signals and writes docs/research/pg-vs-search.md with its figure, judging
each pre-registered hypothesis (README.md) mechanically by its criteria, or saying what it
still waits for.

    python experiments/pg-vs-search/analyse.py collect   runs/*/metrics.jsonl, batches.jsonl -> signals.json
    python experiments/pg-vs-search/analyse.py report    ledgers + signals.json -> docs/research/pg-vs-search.md

``collect`` needs the training runs (``runs/``, not in git) and writes the small summary
that is committed (``signals.json``); ``report`` needs only committed files.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from study import (  # noqa: E402
    ARMS,
    CORE,
    CPU_RULE,
    FRACTIONS,
    GRIDS,
    LOST,
    MACHINES,
    MAIN_BUDGET,
    MAIN_SEEDS,
    NINE,
    NINE_BUDGET,
    OPTIONAL,
    REFERENCE,
    RUNS,
    SIGNALS,
    WORK_TOLERANCE,
    budget_measure,
    budget_scale,
    ledger_rows,
    lost,
    machine_ratios,
    machine_speed,
    nine_label,
    pilot_winner,
    reference_seconds,
    speed,
    work_fraction,
    work_steps,
)
from study import curve_rows as study_curve_rows  # noqa: E402  (analyse's own curve_rows adds the point)

DOC = HERE.parents[1] / "docs" / "research" / "pg-vs-search.md"
# what the results mean, written by hand once the hypotheses they speak of were judged (dated
# inside; the tables above it are regenerated, it is not): the report's "Discussion"
DISCUSSION = HERE / "discussion.md"
FIG = HERE / "pg-vs-search.png"
NINE_FIG = HERE / "pg-vs-search-9x9.png"
SEARCH_ARMS, PG_ARMS = ("A3", "A4", "A5"), ("A1", "A2")
POINTS = (*FRACTIONS, 1.0)
_DESC = re.compile(r"^curve (?P<label>[^:]+): .*\(point (?P<point>[0-9.e+]+) s\)")


def curve_rows(folder: Path) -> list[tuple[str, float, dict]]:
    """(label, point in CPU seconds as labelled, row) for the rated ``curve`` rows of a ledger
    that count (`study.curve_rows`: no lost run's), in ledger order."""
    out = []
    for r in study_curve_rows(folder):
        m = _DESC.match(r.get("description") or "")
        if m and r["elo"] is not None:
            out.append((m["label"], float(m["point"]), r))
    return out


# the least fraction of its budget a rating may have to be a run's full-budget point: A1-s1,
# trained under the CPU rule on a machine that did less than the reference, ended at 0.87 of its
# arm's work (README "Deviations" 2026-12-06); a run otherwise ends at its budget
FULL_FROM = 0.85


def row_fraction(label: str, point: float, row: dict, budget: float) -> float:
    """How far into its budget a rated row is: a main run's training steps over its arm's work
    budget (`work_fraction`, README "Deviations" 2026-12-06), any other run's reference CPU
    seconds over ``budget``."""
    frac = work_fraction(label, row.get("steps") or 0)
    return frac if frac is not None else reference_seconds(label, point) / budget


def curve_table(folder: Path, budget: float) -> dict[str, dict[float, dict]]:
    """label -> {fraction of the budget: ledger row} for the rated ``curve`` rows of a ledger.
    Each row goes to the registered point nearest its `row_fraction` (log scale); of two rows
    nearest one point, the nearer counts; a row more than `WORK_TOLERANCE` past the budget is
    no point of the curve (a run trained past its arm's work), and only a row from `FULL_FROM`
    of the budget on is its full-budget point. ``row["fraction"]`` keeps the exact fraction."""
    out: dict[str, dict[float, dict]] = {}
    gap: dict[tuple[str, float], float] = {}
    for label, point, r in curve_rows(folder):
        exact = row_fraction(label, point, r, budget)
        if exact > 1.0 + WORK_TOLERANCE and work_fraction(label, r.get("steps") or 0) is not None:
            continue
        frac = min(exact, 1.0)
        near = min(POINTS if frac >= FULL_FROM else POINTS[:-1], key=lambda f: abs(math.log(max(frac, 1e-9) / f)))
        d = abs(math.log(max(frac, 1e-9) / near))
        if d < gap.get((label, near), math.inf):
            gap[(label, near)] = d
            out.setdefault(label, {})[near] = {**r, "fraction": exact}
    return out


# -- collect ---------------------------------------------------------------------------------

def _jsonl(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def outcomes(run: Path) -> dict | None:
    """Black's wins, draws and losses in a run's self-play, from its shards: the value target
    of each game's first position (move 0, black to move). A search arm records a position
    only when it was fully searched, independently of the game's result, so its games with
    move 0 recorded are an unbiased sample; a policy arm records every position."""
    import numpy as np

    from gozero.selfplay.shards import load_arrays

    wdl = np.zeros(3)
    for path in sorted((run / "shards").glob("*.npz")):
        a = load_arrays(path)
        first = a["move_index"] == 0
        wdl += a["value"][first].sum(axis=0)
    n = int(wdl.sum())
    if n == 0:
        return None
    return {"games": n, "black": wdl[0] / n, "draw": wdl[1] / n, "white": wdl[2] / n}


def policy_spread(run: Path, positions: int = 512) -> dict | None:
    """How peaked the run's last network is on the positions of its last shard (its own
    recent games): the median spread of its policy logits over the legal moves (max - min)
    and the share of positions where one move takes more than 99 % of the probability. A
    policy whose logits run away (a spread in the hundreds or thousands) plays as if
    deterministic and no longer explores."""
    import numpy as np
    import torch

    from gozero.net.features import NUM_PLANES
    from gozero.net.inference import load_checkpoint_model
    from gozero.selfplay.shards import load_arrays
    from gozero.train.trainer import LEGAL_PLANE

    ckpt, shards = run / "checkpoints" / "model_latest.pt", sorted((run / "shards").glob("*.npz"))
    if not ckpt.is_file() or not shards:
        return None
    model, _ = load_checkpoint_model(ckpt)
    model.eval()
    a = load_arrays(shards[-1])
    n = min(positions, len(a["globals"]))
    size = int(round(math.sqrt(a["ownership"].shape[1])))
    planes = np.unpackbits(a["planes"][-n:], axis=2, count=size * size).astype(np.float32)
    with torch.no_grad():
        logits = model(torch.from_numpy(planes.reshape(n, NUM_PLANES, size, size)),
                       torch.from_numpy(a["globals"][-n:].astype(np.float32)))["policy"].double()
    legal = torch.cat([torch.from_numpy(planes[:, LEGAL_PLANE] > 0), torch.ones(n, 1, dtype=torch.bool)], dim=1)
    spread = logits.masked_fill(~legal, -math.inf).amax(1) - logits.masked_fill(~legal, math.inf).amin(1)
    pmax = torch.softmax(logits.masked_fill(~legal, -math.inf), dim=1).amax(1)
    return {"positions": n, "logit_spread": float(spread.median()), "peaked": float((pmax > 0.99).double().mean())}


def reanalyse_floor(run: Path) -> list[dict] | None:
    """`reanalyse_floor.floor` of a run at its own refresh's simulations and at 64; None
    where its folder has no self-play data or network left."""
    import reanalyse_floor as rf  # this folder's script (on sys.path as analyse is)

    try:
        return rf.floor(run)
    except FileNotFoundError:
        return None


def _median(rows: list[dict], key: str) -> float | None:
    """The median of ``key`` over the rows that have it as a finite number; None if none does."""
    vals = [r[key] for r in rows if isinstance(r.get(key), (int, float)) and math.isfinite(r[key])]
    return statistics.median(vals) if vals else None


def along_curve(batches: list[dict], last_step: int, keys: tuple[str, ...] = ("policy_entropy", "bits_soft")) -> dict:
    """The median of each of ``keys`` over the batches of each doubling that ends at a curve point:
    (f/2, f] of the run's last step for f in POINTS, the first point's window from step 0. Where the
    signals per run take the second half only, this dates a change (A6's sharpening, for one)."""
    out, start = {}, 0.0
    for frac in POINTS:
        end = frac * last_step
        rows = [b for b in batches if start < b.get("step", 0) <= end]
        start = end
        out[f"{frac:g}"] = {key: _median(rows, key) for key in keys}
    return out


def collect(only: set[str] | None = None) -> dict:
    """Per run: games, steps, the median bits per sample and policy entropy over the second
    half of its batches, the noise scale nearest 1/4, 1/2 and 1 of its budget, the
    previous-checkpoint win rates, black's win rate, and for a run that reanalysed the median
    change of its refreshed targets beside the search's own noise floor (`reanalyse_floor`);
    for the runs trained to their budget (with ``only``, those of these labels; the others keep
    what signals.json has)."""
    out = json.loads(SIGNALS.read_text()) if SIGNALS.is_file() else {}
    for run in sorted(p for p in RUNS.iterdir() if p.is_dir()) if RUNS.is_dir() else []:
        if only is not None and run.name not in only:
            continue
        metrics = _jsonl(run / "metrics.jsonl")
        batches = _jsonl(run / "batches.jsonl")
        if not metrics:
            continue
        last = metrics[-1]
        work = work_steps(run.name.split("-")[0]) if run.name not in CPU_RULE and "-s" in run.name else None
        if work:  # a work budget (README "Deviations" 2026-12-06): steps, and the noise scale by steps
            budget, at = float(work), "step"
        else:
            budget, at = (MAIN_BUDGET if "-s" in run.name else 900.0) * budget_scale(speed(run.name)), "cpu_seconds"
        if last[at] < budget:  # still training: its signals are taken once it reaches its budget
            continue
        half = [b for b in batches if b.get("step", 0) > last["step"] / 2]

        noise = {}
        for frac in (0.25, 0.5, 1.0):
            have = [m for m in metrics if isinstance(m.get("noise_scale"), (int, float))]
            if have:
                m = min(have, key=lambda m: abs(m[at] - frac * budget))
                noise[str(frac)] = {"noise_scale": m["noise_scale"], "cpu_seconds": m["cpu_seconds"]}
        out[run.name] = {
            "cpu_seconds": last["cpu_seconds"], "games": last["games"], "steps": last["step"],
            "positions": last["positions"],
            **{k: _median(half, k) for k in ("bits_per_sample", "bits_soft", "bits_onehot", "bits_outcome",
                                             "policy_entropy")},
            "along_curve": along_curve(batches, last["step"]), "noise_scale": noise,
            "previous_win_rate": [[m["cpu_seconds"], m["previous_win_rate"]] for m in metrics
                                  if isinstance(m.get("previous_win_rate"), (int, float))],
            "outcomes": outcomes(run), "policy_spread": policy_spread(run),
            "black_win_rate": statistics.median([m["black_win_rate"] for m in metrics if "black_win_rate" in m] or [0]),
            "mean_game_length": statistics.median([m["mean_game_length"] for m in metrics
                                                   if "mean_game_length" in m] or [0]),
        }
        if any("reanalyse_tv" in b for b in half):  # a run that reanalysed: how far it moved its targets
            out[run.name].update({k: _median(half, k)
                                  for k in ("reanalyse_kl_bits", "reanalyse_tv", "reanalyse_value_change")})
            out[run.name]["reanalyse_floor"] = reanalyse_floor(run)
    tmp = SIGNALS.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
    tmp.replace(SIGNALS)  # atomic: a reader never sees half a file
    return out


# -- the hypotheses --------------------------------------------------------------------------

def _elos(table: dict, arm: str, frac: float, key: str = "elo") -> list[float | None]:
    return [(table.get(f"{arm}-s{s}", {}).get(frac) or {}).get(key) for s in MAIN_SEEDS]


def _complete(vals: list) -> bool:
    return all(v is not None for v in vals)


def _pair(table: dict, a: str, b: str, margin: float, key: str) -> str:
    """H2/H3/H7's rule: a at least ``margin`` above b at the full budget with non-overlapping
    seed ranges confirms; the reverse refutes; else inconclusive."""
    ea, eb = _elos(table, a, 1.0, key), _elos(table, b, 1.0, key)
    if not (_complete(ea) and _complete(eb)):
        return f"pending ({sum(v is not None for v in ea + eb)} of {2 * len(MAIN_SEEDS)} full-budget ratings)"
    ma, mb = statistics.median(ea), statistics.median(eb)
    if ma - mb >= margin and min(ea) > max(eb):
        return f"confirmed ({a} {ma:.0f} vs {b} {mb:.0f}, seed ranges apart)"
    if mb - ma >= margin and min(eb) > max(ea):
        return f"refuted ({b} {mb:.0f} vs {a} {ma:.0f}, seed ranges apart)"
    return f"inconclusive ({a} {ma:.0f} [{min(ea):.0f}, {max(ea):.0f}] vs {b} {mb:.0f} [{min(eb):.0f}, {max(eb):.0f}])"


def h1(table: dict, key: str) -> str:
    full = {a: _elos(table, a, 1.0, key) for a in SEARCH_ARMS + PG_ARMS}
    if not all(_complete(v) for v in full.values()):
        n = sum(v is not None for vals in full.values() for v in vals)
        return f"pending ({n} of {len(full) * len(MAIN_SEEDS)} full-budget ratings)"
    confirmed = all(statistics.median(full[s]) - statistics.median(full[p]) >= 100 and min(full[s]) > max(full[p])
                    for s in SEARCH_ARMS for p in PG_ARMS)
    close = 0  # seeds in which PPO stays within 50 of the best search arm at every checkpoint
    for k in range(len(MAIN_SEEDS)):
        ok = True
        for f in POINTS:
            ppo = _elos(table, "A2", f, key)[k]
            best = max((_elos(table, a, f, key)[k] for a in SEARCH_ARMS if _elos(table, a, f, key)[k] is not None),
                       default=None)
            if ppo is None or best is None or abs(ppo - best) > 50:
                ok = False
                break
        close += ok
    if close >= 2:
        return f"refuted (PPO within 50 Elo of the best search arm over the whole curve in {close} seeds)"
    crossed = []
    for p in PG_ARMS:
        for s in SEARCH_ARMS:
            diffs = []
            for f in POINTS:
                ep, es = _elos(table, p, f, key), _elos(table, s, f, key)
                if _complete(ep) and _complete(es):
                    diffs.append(statistics.median(ep) - statistics.median(es))
            if any(d > 0 for d in diffs) and any(d < 0 for d in diffs):
                crossed.append(f"{p}/{s}")
    if confirmed:
        return "confirmed (every search arm >= 100 Elo above both policy-gradient arms, seed ranges apart)" + (
            f"; curves cross early: {', '.join(crossed)}" if crossed else "")
    if crossed:
        return f"partial (curves cross: {', '.join(crossed)})"
    return "partial (neither criterion met)"


def _bits(signals: dict, arm: str) -> list[float | None]:
    return [(signals.get(f"{arm}-s{s}") or {}).get("bits_per_sample") for s in MAIN_SEEDS]


def h4(signals: dict) -> str:
    s = {a: _bits(signals, a) for a in SEARCH_ARMS + PG_ARMS}
    if not all(_complete(v) for v in s.values()):
        return "pending (bits per sample of every main run)"
    ratios = [x / y for a in SEARCH_ARMS for b in PG_ARMS for x in s[a] for y in s[b] if y > 0]
    lo = min(ratios)
    if lo >= 10:
        return f"confirmed (smallest search/policy-gradient ratio {lo:.1f})"
    if lo < 3:
        return f"refuted (a ratio of {lo:.1f})"
    return f"partial (smallest ratio {lo:.1f})"


def h5(signals: dict) -> str:
    factors = []
    for frac in ("0.25", "0.5", "1.0"):
        base = _noise_median(signals, "A5", frac)
        for arm in PG_ARMS:
            v = _noise_median(signals, arm, frac)
            if base is None or v is None:
                return "pending (noise scales of every main run at 1/4, 1/2 and 1 of the budget)"
            factors.append(1.0 if math.isinf(v) and math.isinf(base) else v / base if base > 0 else math.inf)
    if min(factors) >= 10:
        return f"confirmed (smallest factor {min(factors):.1f})"
    if min(factors) < 3:
        return f"refuted (a factor of {min(factors):.1f})"
    return f"partial (factors {min(factors):.1f}-{max(factors):.1f})"


def _noise_median(signals: dict, arm: str, frac: str) -> float | None:
    """The median over seeds of an arm's noise scale nearest ``frac`` of its budget; None while
    a seed lacks it. A measure whose |G|^2 estimate was not positive is logged as NaN: the
    noise swamped the gradient, so it counts as +inf (the limit as the estimate goes to 0 from
    above)."""
    vals = [((signals.get(f"{arm}-s{s}") or {}).get("noise_scale") or {}).get(frac) for s in MAIN_SEEDS]
    vals = [v["noise_scale"] if math.isfinite(v["noise_scale"]) else math.inf for v in vals if v]
    return statistics.median(vals) if len(vals) == len(MAIN_SEEDS) else None


def pairs_section(table: dict, signals: dict) -> list[str]:
    """The hypotheses' arithmetic pair by pair: H1's gap between each search arm and each
    policy-gradient arm at the full budget (median of seeds; whether the seed ranges are
    apart), H4's smallest bits-per-sample ratio per pair, H5's noise-scale factor per
    policy-gradient arm and fraction: what a verdict of *partial* or *refuted* is made of."""
    def gap(a: str, b: str, key: str) -> str:
        ea, eb = _elos(table, a, 1.0, key), _elos(table, b, 1.0, key)
        if not (_complete(ea) and _complete(eb)):
            return "-"
        d = statistics.median(ea) - statistics.median(eb)
        return f"{d:+.0f}, " + ("apart" if min(ea) > max(eb) else "overlap")

    out = ["", "## The hypotheses pair by pair", "",
           "H1 and H4 per pair at the full budget: the median gap over seeds (and whether the seed ranges are apart; "
           "H1 asks for +100 and apart in every pair), and the smallest bits-per-sample ratio of any two seeds "
           "(H4 asks for 10).", "",
           "| search arm | policy-gradient arm | H1 searched | H1 raw | H4 smallest ratio |", "|---|---|---|---|---|"]
    for a in SEARCH_ARMS:
        for b in PG_ARMS:
            xa, xb = _bits(signals, a), _bits(signals, b)
            ratio = (f"{min(x / y for x in xa for y in xb if y):.1f}" if _complete(xa) and _complete(xb) else "-")
            out.append(f"| {a} {ARMS[a][0]} | {b} {ARMS[b][0]} | {gap(a, b, 'elo')} | {gap(a, b, 'raw_elo')} | "
                       f"{ratio} |")
    out += ["", "H5 per fraction of the budget: the median noise scale over seeds, and its factor over A5's "
            "(H5 asks for 10 at every fraction; below 3 at any refutes).", "",
            "| arm | 1/4 | 1/2 | 1 |", "|---|---|---|---|"]
    fracs = ("0.25", "0.5", "1.0")
    bases = {frac: _noise_median(signals, "A5", frac) for frac in fracs}
    for arm in ("A5", *PG_ARMS):
        cells = []
        for frac in fracs:
            v, base = _noise_median(signals, arm, frac), bases[frac]
            cells.append("-" if v is None else f"{v:.3g}" if arm == "A5" or not base else f"{v:.3g} ({v / base:.2f}x)")
        out.append(f"| {arm} {ARMS[arm][0]} | " + " | ".join(cells) + " |")
    return out


# A7-s0's and A7-s1's snapshots at A7-s2's budget, rated as curves LABEL-2844s (README
# "Deviations", 2026-12-06 23:20): reported beside the registered full-budget point
SENSITIVITY = "2844s"


def reanalyse_section(table: dict, signals: dict) -> list[str]:
    """The reanalyse gain seed by seed: A7's full-budget rating against A5's of the same seed,
    what each trained and played in the budget, and how far A7's refreshes moved its targets
    beside the search's own noise floor; empty until an A7 run is rated or collected."""
    labels = [f"A7-s{s}" for s in MAIN_SEEDS]
    if not any(1.0 in table.get(x, {}) or x in signals for x in labels):
        return []

    def elo(r: dict | None) -> str:
        return "-" if r is None else f"{r['elo']:.0f} / {r['raw_elo']:.0f}"

    def work(label: str) -> str:
        s = signals.get(label)
        return "-" if not s else f"{s['steps']:,}, {s['games']:,}"

    def num(v, fmt: str = ".3g") -> str:
        return "-" if v is None else format(v, fmt)

    out = ["", "## The reanalyse gain (A7 against A5 of the same seed, full budget)", "",
           "A7 is A5 with a share of each batch re-searched by the current network (its pilot's frozen "
           "configuration). The refresh costs training time, so at equal CPU time A7 should train fewer steps and play "
           "fewer games than A5; the steps and games columns say what each did. *moved*: the median over the second "
           "half of its batches of the refreshed targets' "
           "distance from the stored ones (KL in bits, total variation) and of the value change. *floor*: "
           "256 positions of its replay window refreshed by its last network, stored against refreshed and two "
           "refreshes against each other (total variation), at the refresh's simulations and at 64; a refresh is "
           "news only above the second.", "",
           "*at 2,844 s*: the run's snapshot at A7-s2's budget, 2,844 CPU s, and its gain over A5 (README "
           "Deviations, 2026-12-06 23:20: seeds 0 and 1 were measured at 0.95-1.0 of the reference, seed 2 at 1.27; "
           "this point decides nothing).", "",
           "| seed | A7 Elo / raw | A5 Elo / raw | gain / raw | A7 at 2,844 s / raw | its gain / raw | "
           "A7 steps, games | A5 steps, games | moved: KL bits, TV, value | "
           "floor: stored vs refreshed, refresh vs refresh |",
           "|---|---|---|---|---|---|---|---|---|---|"]

    def diff(a: dict | None, b: dict | None) -> str:
        return "-" if not (a and b) else f"{a['elo'] - b['elo']:+.0f} / {a['raw_elo'] - b['raw_elo']:+.0f}"

    for s, label in zip(MAIN_SEEDS, labels, strict=True):
        r7, r5 = table.get(label, {}).get(1.0), table.get(f"A5-s{s}", {}).get(1.0)
        alt = max((table.get(f"{label}-{SENSITIVITY}") or {}).values(), key=lambda r: r["cpu_s"], default=None)
        sig = signals.get(label) or {}
        moved = "-" if "reanalyse_tv" not in sig else \
            f"{num(sig['reanalyse_kl_bits'])}, {num(sig['reanalyse_tv'], '.2f')}, {num(sig['reanalyse_value_change'])}"
        fl = sig.get("reanalyse_floor") or []
        floor = "; ".join(f"{f['stored_vs_refreshed_tv']:.2f}, {f['refresh_vs_refresh_tv']:.2f} "
                          f"({f['simulations']} sims)" for f in fl) or "-"
        out.append(f"| {s} | {elo(r7)} | {elo(r5)} | {diff(r7, r5)} | {elo(alt)} | {diff(alt, r5)} | {work(label)} | "
                   f"{work(f'A5-s{s}')} | {moved} | {floor} |")
    return out


def h6(table: dict, key: str) -> str:
    e = {a: _elos(table, a, 1.0, key) for a in ("A1", "A2", "A5", "A6")}
    if not all(_complete(v) for v in e.values()):
        return "pending (A6 is optional: run after the core arms if compute allows)"
    m = {a: statistics.median(v) for a, v in e.items()}
    best_pg = max(m["A1"], m["A2"])
    if abs(m["A6"] - m["A5"]) <= 100 and m["A6"] - best_pg >= 100:
        return f"confirmed (A6 {m['A6']:.0f}, A5 {m['A5']:.0f}, best policy gradient {best_pg:.0f})"
    if abs(m["A6"] - best_pg) < abs(m["A6"] - m["A5"]):
        return f"refuted (A6 {m['A6']:.0f} nearer the best policy-gradient arm {best_pg:.0f} than A5 {m['A5']:.0f})"
    return f"inconclusive (A6 {m['A6']:.0f}, A5 {m['A5']:.0f}, best policy gradient {best_pg:.0f})"


# -- the 9x9 confirmation ----------------------------------------------------------------------

def confirm_pair(table: dict) -> tuple[str, str] | None:
    """The pair the 9x9 confirmation runs: the best search arm and the best policy-gradient arm
    by median searched Elo over the seeds at the full 7x7 budget, ties to the lower arm number;
    None until every core main run is rated there."""
    med = {}
    for arm in SEARCH_ARMS + PG_ARMS:
        elos = _elos(table, arm, 1.0)
        if not _complete(elos):
            return None
        med[arm] = statistics.median(elos)

    def best(arms: tuple[str, ...]) -> str:
        return max(arms, key=lambda a: (med[a], -int(a[1:])))
    return best(SEARCH_ARMS), best(PG_ARMS)


def nine_curves(folder: Path = NINE) -> dict[str, dict[float, dict]]:
    """label -> {point (reference CPU seconds, `reference_seconds`, of the point as labelled;
    the run's last snapshot under its own CPU seconds): ledger row} for the ``curve`` rows of
    the 9x9 experiment's ledger."""
    out: dict[str, dict[float, dict]] = {}
    for label, point, r in curve_rows(folder):
        out.setdefault(label, {})[round(reference_seconds(label, point), 1)] = r
    return out


def _nine_done(curve: dict[float, dict]) -> bool:
    """Whether a 9x9 curve has its last snapshot, at 4 CPU-hours (a run stops within a step of its
    budget, so 1 % short counts)."""
    return bool(curve) and max(curve) >= NINE_BUDGET * 0.99


def h_nine(curves: dict[str, dict[float, dict]], pair: tuple[str, str] | None) -> tuple[str, str]:
    """The 9x9 criteria (README), on searched ratings: confirmed if the search arm's last rating
    is >= 100 above the policy-gradient arm's with 95 % intervals apart; refuted if the
    policy-gradient arm is within 50 of it, or above, at every point both curves rated (the
    doubling points and the last snapshots); otherwise partial. Returns (verdict, the raw
    ratings at 4 CPU-hours, reported beside)."""
    if pair is None:
        return "pending (the pair is picked once every core main run is rated)", ""
    s, p = (curves.get(nine_label(a), {}) for a in pair)
    last = [c[max(c)] if c else None for c in (s, p)]
    waiting = [a for a, c in zip(pair, (s, p), strict=True) if not _nine_done(c)]
    if waiting:
        return f"pending ({', '.join(waiting)} not rated at 4 CPU-hours on 9x9)", ""
    fs, fp = last
    pairs = [(s[pt], p[pt]) for pt in sorted(set(s) & set(p)) if s[pt] is not fs and p[pt] is not fp]
    pairs.append((fs, fp))
    said = f"{pair[0]} {fs['elo']:.0f} [{fs['elo_low']:.0f}, {fs['elo_high']:.0f}] vs {pair[1]} {fp['elo']:.0f} " \
           f"[{fp['elo_low']:.0f}, {fp['elo_high']:.0f}] at 4 CPU-hours"
    raw = f"{pair[0]} {fs['raw_elo']:.0f} vs {pair[1]} {fp['raw_elo']:.0f}"
    if fs["elo"] - fp["elo"] >= 100 and fs["elo_low"] > fp["elo_high"]:
        return f"confirmed ({said})", raw
    if all(b["elo"] >= a["elo"] - 50 for a, b in pairs):
        return f"refuted ({said}; within 50 or above at all {len(pairs)} points both rated)", raw
    return f"partial ({said})", raw


def nine_section(curves: dict[str, dict[float, dict]], pair: tuple[str, str] | None) -> list[str]:
    """The 9x9 confirmation's two curves side by side: per point (reference CPU seconds) each
    arm's searched rating with its 95 % interval, raw rating, training steps and games, and the
    gap; draws `NINE_FIG`. Empty until the pair is picked and its policy-gradient arm has a rating."""
    if pair is None:
        return []
    s, p = (curves.get(nine_label(a), {}) for a in pair)
    if not p:
        return []

    def cell(r: dict | None) -> str:
        return "-" if r is None else f"{r['elo']:.0f} [{r['elo_low']:.0f}, {r['elo_high']:.0f}] / {r['raw_elo']:.0f}"

    def work(r: dict | None) -> str:
        return "-" if r is None else f"{r.get('steps') or 0:,}, {r.get('games') or 0:,}"

    out = ["", f"## The 9x9 confirmation ({pair[0]} against {pair[1]}, seed 0)", "",
           "Each arm trained 4 reference CPU-hours of `gozero train --preset 9x9` (a search arm on two cores, "
           "its trainer beside two self-play workers; a policy-acting arm alternating on one, README Deviations "
           f"2026-12-07; {pair[0]}'s run is the "
           "[9x9 CPU curve](../../experiments/2026-12-01-9x9-cpu-curve/README.md)'s), "
           "rated on that experiment's frozen panel at the doubling points of training CPU time (reference "
           "seconds; the last row of each arm is its last snapshot). Searched Elo [95 %] / raw; gap = "
           f"{pair[0]} - {pair[1]}, searched / raw.", "",
           f"![9x9 confirmation: Elo against CPU seconds](../../experiments/pg-vs-search/{NINE_FIG.name})", "",
           f"| CPU s (reference) | {pair[0]} Elo / raw | {pair[1]} Elo / raw | gap | {pair[0]} steps, games | "
           f"{pair[1]} steps, games |", "|---|---|---|---|---|---|"]
    def ends(c: dict[float, dict]) -> dict[float, dict]:  # the last snapshot at 4 CPU-hours shares one row
        return {(NINE_BUDGET if pt == max(c) and _nine_done(c) else pt): r for pt, r in c.items()}

    es, ep = ends(s), ends(p)
    for pt in sorted(set(es) | set(ep)):
        a, b = es.get(pt), ep.get(pt)
        gap = "-" if not (a and b) else f"{a['elo'] - b['elo']:+.0f} / {a['raw_elo'] - b['raw_elo']:+.0f}"
        at = f"{pt:,.0f}" if pt != NINE_BUDGET else \
            "last snapshot (" + ", ".join(f"{max(c):,.0f}" for c in (s, p) if _nine_done(c)) + ")"
        out.append(f"| {at} | {cell(a)} | {cell(b)} | {gap} | {work(a)} | {work(b)} |")
    _nine_figure({a: c for a, c in zip(pair, (s, p), strict=True)})
    return out


def _pyplot():
    """matplotlib's pyplot on the file-only Agg backend (no display on a CI machine)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _nine_figure(curves: dict[str, dict[float, dict]]) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for arm, c in curves.items():
        pts = sorted(pt for pt in c if pt > 0)
        if not pts:
            continue
        k = (CORE + OPTIONAL).index(arm)
        elo = [c[pt]["elo"] for pt in pts]
        ax.errorbar(pts, elo, yerr=[[e - c[pt]["elo_low"] for e, pt in zip(elo, pts, strict=True)],
                                    [c[pt]["elo_high"] - e for e, pt in zip(elo, pts, strict=True)]],
                    fmt="-o", color=f"C{k}", markersize=4, capsize=3, label=f"{arm} {ARMS[arm][0]}, searched")
        ax.plot(pts, [c[pt]["raw_elo"] for pt in pts], "--", color=f"C{k}", alpha=0.6, label=f"{arm} raw")
    ax.set_xscale("log")
    ax.set_xlabel("training CPU seconds (reference)")
    ax.set_ylabel("9x9 panel Elo (bars: 95 %)")
    ax.set_title("9x9 confirmation, seed 0")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(NINE_FIG, dpi=110)
    plt.close(fig)


# -- report ----------------------------------------------------------------------------------

def crash_text(desc: str) -> str:
    """A crashed row's description for the report: a failed rating's traceback cut to its
    last line (the exception), the rest as recorded."""
    m = re.match(r"(?s)(.*?rating failed \(exit -?\d+\)): (.*)", desc or "")
    if not m:
        return desc
    tail = [ln.strip(" '\"") for ln in m[2].replace("\\n", "\n").splitlines() if ln.strip(" '\"")]
    return f"{m[1]}: {tail[-1]}" if tail else m[1]


def machines_section() -> list[str]:
    lines = _jsonl(MACHINES)
    if not lines:
        return []
    out = ["", "## Machines (what a CPU-second bought where each run trained)", "",
           "Runs trained before 2026-12-02 ran on the development VM the compute plan was measured on (the "
           "reference). From then on `study.py` measures the machine before it trains a run (`throughput.py`, "
           "untrained weights, one core, *s* CPU seconds per row): each row over the reference. "
           "Back-to-back measures on one machine differ by up to about 15 %. *Counts*: the measure that "
           "sets the run's budget (its first), one taken again on a resume (it moves nothing), or one of an "
           "attempt that was voided (`study.LOST`).", "",
           "| run | measured | CPU | s | " + " | ".join(REFERENCE) + " | geometric mean | counts |",
           "|---|---|---|---|" + "---|" * (len(REFERENCE) + 2)]
    for line in lines:
        ratios = machine_ratios(line)
        gm = machine_speed(line) or float("nan")
        out.append(f"| {line['label']} | {line['time']} | {line['cpu']} | {line['seconds']:g} | "
                   + " | ".join(f"{ratios[k]:.2f}" if k in ratios else "-" for k in REFERENCE)
                   + f" | {gm:.2f} | {measure_role(line, lines)} |")
    return out


def measure_role(line: dict, lines: list[dict]) -> str:
    """What a machine measure did (`study.speed`): set its run's budget (the run's first measure
    after its `LOST` cut), nothing (a later one, taken on a resume), or belonged to a void attempt."""
    if line.get("time", "") < LOST.get(line["label"], ""):
        return "void attempt"
    return "budget" if budget_measure(line["label"], lines) is line else "resume"


def _figure(table: dict) -> None:
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8), sharey=True)
    for ax, key, title in ((axes[0], "elo", "searched (64 visits, the same Gumbel search)"),
                           (axes[1], "raw_elo", "raw network (its most likely move)")):
        for k, arm in enumerate(CORE + OPTIONAL):
            xs, mid, lo, hi = [], [], [], []
            for f in POINTS:
                vals = [v for v in _elos(table, arm, f, key) if v is not None]
                cpu = [r.get("fraction", f) * MAIN_BUDGET for s in MAIN_SEEDS
                       if (r := table.get(f"{arm}-s{s}", {}).get(f))]
                if vals and cpu:
                    xs.append(statistics.median(cpu))
                    mid.append(statistics.median(vals))
                    lo.append(min(vals))
                    hi.append(max(vals))
            if xs:
                ax.plot(xs, mid, "-o", color=f"C{k}", label=f"{arm} {ARMS[arm][0]}", markersize=4)
                ax.fill_between(xs, lo, hi, color=f"C{k}", alpha=0.15)
        ax.set_xscale("log")
        ax.set_xlabel("training work (reference CPU seconds, by steps)")
        ax.set_title(title)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("panel Elo (median of seeds; band: seed range)")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(FIG, dpi=110)
    plt.close(fig)


def _previous(s: dict) -> str:
    vals = [w for _, w in s.get("previous_win_rate") or []]
    return f"{statistics.median(vals):.2f} ({len(vals)})" if vals else "-"


def _spread(s: dict) -> str:
    sp = s.get("policy_spread")
    return f"{sp['logit_spread']:.3g}, {sp['peaked']:.0%}" if sp else "-"


def _wdl(s: dict) -> str:
    o = s.get("outcomes")
    if not o:
        return f"{s['black_win_rate']:.2f} / - / -"
    return f"{o['black']:.2f} / {o['draw']:.2f} / {o['white']:.2f} ({o['games']})"


def full_budget_section(table: dict) -> list[str]:
    """Each main run's full-budget point: the snapshot's training steps against its arm's work
    budget (README "Deviations" 2026-12-06), so that how near each run came to equal work is
    visible beside its rating."""
    out = ["", "## Each main run at its full budget (equal work: its arm's training steps at 1 reference CPU-hour)",
           "", "| run | steps | arm's work | fraction | Elo | 95 % | raw Elo |", "|---|---|---|---|---|---|---|"]
    for arm in CORE + OPTIONAL:
        for s in MAIN_SEEDS:
            r = table.get(f"{arm}-s{s}", {}).get(1.0)
            if r is None:
                continue
            work = work_steps(arm)
            out.append(f"| {arm}-s{s} | {r['steps']} | {work or '-'} | {r.get('fraction', 1.0):.2f} | {r['elo']:.0f} | "
                       f"[{r['elo_low']:.0f}, {r['elo_high']:.0f}] | {r['raw_elo']:.0f} |")
    return out


def state_line(table: dict, pilot: dict) -> str:
    """How far the study is: main runs rated at the full budget and pilot configurations rated,
    the core arms and the optional ones (A6, A7) counted apart."""
    def main_runs(arms: tuple[str, ...]) -> str:
        done = sum(e is not None for a in arms for e in _elos(table, a, 1.0))  # as the hypotheses count
        return f"{done} of {len(arms) * len(MAIN_SEEDS)}"

    def configs(arms: tuple[str, ...]) -> str:
        done = sum(1 for a in arms for k in range(len(GRIDS[a])) if pilot.get(f"{a}-c{k}"))
        return f"{done} of {sum(len(GRIDS[a]) for a in arms)}"

    return (f"main runs rated at the full budget: {main_runs(CORE)} core, {main_runs(OPTIONAL)} optional "
            f"({', '.join(OPTIONAL)}); pilot configurations rated: {configs(CORE)} core, {configs(OPTIONAL)} optional.")


def along_curve_section(signals: dict) -> list[str]:
    """Policy entropy and the soft target's bits, doubling by doubling, for the runs whose batch
    logs were collected with them (``along_curve``; runs trained on machines since gone lack it)."""
    runs = {name: s["along_curve"] for name, s in sorted(signals.items()) if s.get("along_curve")}
    if not runs:
        return []
    lines = ["", "## The policy along the curve (median over the batches of each doubling)", "",
             "Policy entropy in nats, then *bits soft* (KL(target || policy) in bits; for the arms that act "
             "with the raw policy the target is the behaviour policy) after the slash, over the batches "
             "between the previous curve point and this one (in steps, as a fraction of the run's last). "
             "Only runs whose batch logs were on the machine that collected this have it.", "",
             "| run | " + " | ".join(f"{f:g}" for f in POINTS) + " |", "|---|" + "---|" * len(POINTS)]

    def cell(c: dict | None) -> str:
        c = c or {}
        h, kl = c.get("policy_entropy"), c.get("bits_soft")
        return "-" if h is None else f"{h:.2f}" + ("" if kl is None else f" / {kl:.1f}")

    for name, curve in runs.items():
        lines.append(f"| {name} | " + " | ".join(cell(curve.get(f"{f:g}")) for f in POINTS) + " |")
    return lines


def report() -> Path:
    table = curve_table(HERE, MAIN_BUDGET)
    pilot = curve_table(HERE / "pilot", 900.0)
    signals = json.loads(SIGNALS.read_text()) if SIGNALS.is_file() else {}
    lines = ["# Policy gradient against search distillation at equal CPU time (7x7)", "",
             "Protocol, hypotheses and deviations: [experiments/pg-vs-search/README.md]"
             "(../../experiments/pg-vs-search/README.md). This page is written by "
             "`python experiments/pg-vs-search/analyse.py report` from the study's ledgers "
             "(`experiments/pg-vs-search/results.tsv`, `pilot/results.tsv`) and `signals.json`.", "",
             f"**State:** {state_line(table, pilot)}", ""]
    lines += ["## Pilot (0.25 CPU-hour, seed 100; pilot panel: random and GNU Go level 0, 40 games each)", "",
              "The registered score (40 searched games against GNU Go level 0; raw after the slash) "
              "beside the pilot Elo that picks the winner (README, Deviations).", "",
              "| arm | configuration | overrides | pilot Elo | 95 % | raw Elo | vs GNU Go 0 | games |",
              "|---|---|---|---|---|---|---|---|"]
    from gozero.research.ledger import Ledger

    kept = Ledger(HERE / "pilot").stored_ratings() if (HERE / "pilot" / "ledger.sqlite").exists() else {}

    def gnugo0(row: dict) -> str:
        rating = kept.get(row["run_id"]) or {}
        got = [(rating.get(k) or {}).get("gnugo:0") for k in ("scores", "raw_scores")]
        return "-" if got[0] is None else f"{got[0]:.0%} / {got[1]:.0%}" if got[1] is not None else f"{got[0]:.0%}"
    for arm in CORE + OPTIONAL:
        won = pilot_winner(arm)
        for k, grid in enumerate(GRIDS[arm]):
            r = (pilot.get(f"{arm}-c{k}") or {}).get(1.0)
            if r is None:
                continue
            mark = " **(frozen)**" if won and won[0] == k else ""
            lines.append(f"| {arm} {ARMS[arm][0]} | c{k}{mark} | `{' '.join(grid)}` | {r['elo']:.0f} | "
                         f"[{r['elo_low']:.0f}, {r['elo_high']:.0f}] | {r['raw_elo']:.0f} | {gnugo0(r)} | "
                         f"{r['games']} |")
    crashes = [r for folder in (HERE / "pilot", HERE) for r in ledger_rows(folder) if r["status"] == "crash"]
    if crashes:
        lines += ["", "Crashed runs (ledger rows, rerun as the deviations say):", ""]
        lines += [f"- `{r['run_id']}`: {crash_text(r['description'])}" for r in crashes]
    gone = [r for r in ledger_rows(HERE) if lost(r)]
    if gone:
        lines += ["", "Rows of lost runs (their run folder was lost before every point was rated; the run was "
                  "trained again under its label, and these rows are left out of the tables):", ""]
        lines += [f"- `{r['run_id']}`: {r['description']}: Elo {r['elo']:.0f} [{r['elo_low']:.0f}, "
                  f"{r['elo_high']:.0f}] / raw {r['raw_elo']:.0f}" for r in gone if r["elo"] is not None]
    lines += ["", "## Hypotheses (searched ratings; raw beside)", "", "| | searched | raw |", "|---|---|---|",
              f"| H1 search beats policy gradient by 100 | {h1(table, 'elo')} | {h1(table, 'raw_elo')} |",
              f"| H2 soft target beats one-hot by 50 | {_pair(table, 'A5', 'A3', 50, 'elo')} | "
              f"{_pair(table, 'A5', 'A3', 50, 'raw_elo')} |",
              f"| H3 Gumbel beats PUCT by 50 | {_pair(table, 'A5', 'A4', 50, 'elo')} | "
              f"{_pair(table, 'A5', 'A4', 50, 'raw_elo')} |",
              f"| H4 bits per sample, search >= 10x policy gradient | {h4(signals)} | |",
              f"| H5 gradient noise, policy gradient >= 10x search | {h5(signals)} | |",
              f"| H6 per-move Q credit without imitation (optional) | {h6(table, 'elo')} | {h6(table, 'raw_elo')} |",
              f"| H7 reanalyse pays at equal compute (optional) | {_pair(table, 'A7', 'A5', 50, 'elo')} | "
              f"{_pair(table, 'A7', 'A5', 50, 'raw_elo')} |"]
    pair, nine = confirm_pair(table), nine_curves()
    verdict, raw = h_nine(nine, pair)
    lines += [f"| 9x9 confirmation{' (' + ' vs '.join(pair) + ')' if pair else ''} | {verdict} | {raw} |"]
    lines += pairs_section(table, signals) + reanalyse_section(table, signals) + nine_section(nine, pair) + [""]
    if table:
        _figure(table)
        lines += ["![Elo against CPU seconds per arm](../../experiments/pg-vs-search/pg-vs-search.png)", "",
                  "## Elo by arm and fraction of the budget (median of seeds [seed range]; raw after the slash)", "",
                  "| arm | " + " | ".join(f"{f:g}" for f in POINTS) + " |", "|---|" + "---|" * len(POINTS)]
        for arm in CORE + OPTIONAL:
            cells = []
            for f in POINTS:
                e = [v for v in _elos(table, arm, f) if v is not None]
                raw = [v for v in _elos(table, arm, f, "raw_elo") if v is not None]
                cells.append(f"{statistics.median(e):.0f} [{min(e):.0f}, {max(e):.0f}] / {statistics.median(raw):.0f}"
                             if e and raw else "-")
            lines.append(f"| {arm} {ARMS[arm][0]} | " + " | ".join(cells) + " |")
        lines += full_budget_section(table)
    if signals:
        lines += ["", "## Signals per run (second half of each run's batches)", "",
                  "*bits/sample* is the arm's own learning signal (H4). *bits soft* is KL(target || current "
                  "policy) in bits; for the arms that act with the raw policy the target is the behaviour "
                  "policy, so it measures how far the network has moved from the ones that played the "
                  "positions it trains on. *previous*: the median win rate of a checkpoint against the one "
                  "before it (20 games each time; how many in brackets). The "
                  "outcomes are self-play's (komi 9), from the first position of each recorded game. *spread*: "
                  "the last network's median logit spread (max - min over the legal moves) on the positions of "
                  "its last shard, and the share of them where one move takes over 99 % of the probability.", "",
                  "| run | games | steps | bits/sample | bits soft | bits one-hot | bits outcome | entropy | "
                  "noise scale 1/4, 1/2, 1 | previous | spread, peaked | black / draw / white (games) |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|"]

        def f3(v) -> str:
            return "-" if v is None else f"{v:.3g}"

        def noise(v) -> str:  # NaN: the |G|^2 estimate was not positive, counted as inf (H5)
            return "inf" if isinstance(v, float) and math.isnan(v) else f3(v)

        for name, s in sorted(signals.items()):
            ns = ", ".join(noise((s["noise_scale"].get(k) or {}).get("noise_scale")) for k in ("0.25", "0.5", "1.0"))
            lines.append(f"| {name} | {s['games']} | {s['steps']} | {f3(s['bits_per_sample'])} | "
                         f"{f3(s['bits_soft'])} | {f3(s['bits_onehot'])} | {f3(s['bits_outcome'])} | "
                         f"{f3(s['policy_entropy'])} | {ns} | {_previous(s)} | {_spread(s)} | {_wdl(s)} |")
    lines += along_curve_section(signals) + machines_section()
    if DISCUSSION.is_file():
        lines += ["", "## Discussion", "", DISCUSSION.read_text().strip()]
    lines += ["", "## What limits the conclusion", "",
              "One board size (7x7), one small network (4x32), one CPU-hour per run and three seeds per arm;"
              " the panel's engines are weak on 7x7 and its intervals wide (20 games per member: a single "
              "rating's 95 % interval spans about 140 Elo, so seed ranges, not intervals, carry the verdicts). "
              "Each arm's tuning was one 2 x 2 grid at a quarter of the budget, the same for every arm. The "
              "policy-gradient arms' window and reuse are part of their design, not tuned beyond the pilot's "
              "grid. From seed 1 on, runs trained their arm's work (seed 0's training steps at 1 reference "
              "CPU-hour) instead of CPU seconds, because the machines changed under the study (README "
              "Deviations); equal work is equal compute on the reference machine only, and A1-s1 was rated at "
              "0.87 of its work.", ""]
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text("\n".join(lines) + "\n")
    return DOC


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("step", choices=["collect", "report"])
    args = ap.parse_args()
    if args.step == "collect":
        print(f"{len(collect())} runs in {SIGNALS}")
    else:
        print(f"wrote {report()}")


if __name__ == "__main__":
    main()
