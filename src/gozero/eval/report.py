"""Reports: the ladder as Markdown with PNG plots, and Elo along a training run.

`build_report` writes ``report.md`` (ladder table with 95% intervals, pairwise win rates with
Wilson intervals beside the fit's prediction, games without a result and why) plus
``ratings.png`` and, for a training run, ``training_elo.png`` (Elo against training step,
self-play games and wall-clock hours). `read_run` reads a run directory tolerantly:
checkpoints ``RUN/checkpoints/step_XXXXXXXX.pt`` and ``RUN/metrics.jsonl`` lines with keys
such as ``step``, ``games``, ``hours`` (bad lines and missing keys are skipped).
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from .ratings import RatingFit, fit_ratings, results_from_rows, wilson_interval
from .results_db import ResultsDB

STEP_RE = re.compile(r"step_(\d+)\.pt$")
GOZERO_SPEC_RE = re.compile(r"^gozero:(.+)@(\d+)$")


@dataclass
class RunInfo:
    """What a training run directory tells about its checkpoints."""

    checkpoints: dict[int, Path] = field(default_factory=dict)  # step -> path
    metrics: list[dict] = field(default_factory=list)  # rows with a numeric step

    def at_step(self, step: int, key: str) -> float | None:
        """``key`` (e.g. games, hours) at ``step``, linearly interpolated between metric rows."""
        pts = sorted((float(r["step"]), float(r[key])) for r in self.metrics
                     if isinstance(r.get(key), (int, float)) and not isinstance(r.get(key), bool))
        if not pts:
            return None
        if step < pts[0][0]:
            return 0.0 if step == 0 else None
        for (s0, v0), (s1, v1) in zip(pts, pts[1:], strict=False):
            if s0 <= step <= s1:
                return v0 if s1 == s0 else v0 + (v1 - v0) * (step - s0) / (s1 - s0)
        return pts[-1][1] if step == pts[-1][0] else None


def short_name(spec: str) -> str:
    """A display name: gozero checkpoints by file name (``gozero:step_00001000.pt@64``), gtp: commands cut short."""
    m = GOZERO_SPEC_RE.match(spec)
    if m:
        return f"gozero:{Path(m.group(1)).name}@{m.group(2)}"
    return spec if len(spec) <= 40 else spec[:37] + "..."


def step_of(path: str | Path) -> int | None:
    m = STEP_RE.search(str(path))
    return int(m.group(1)) if m else None


def read_run(run_dir: str | Path) -> RunInfo:
    """Checkpoints and metrics of a training run (missing pieces give empty fields, never an error)."""
    run = Path(run_dir)
    info = RunInfo()
    for p in sorted((run / "checkpoints").glob("step_*.pt")):
        s = step_of(p)
        if s is not None:
            info.checkpoints[s] = p
    metrics = run / "metrics.jsonl"
    if metrics.is_file():
        for line in metrics.read_text(errors="replace").splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(row, dict) and isinstance(row.get("step"), (int, float)):
                if "hours" not in row:
                    for k, scale in (("seconds", 3600.0), ("elapsed_s", 3600.0), ("wall_hours", 1.0)):
                        if isinstance(row.get(k), (int, float)):
                            row["hours"] = row[k] / scale
                            break
                if "games" not in row and isinstance(row.get("selfplay_games"), (int, float)):
                    row["games"] = row["selfplay_games"]
                info.metrics.append(row)
    return info


def training_curve(fit: RatingFit, run_dir: str | Path) -> list[dict]:
    """Rows (step, games, hours, visits, elo, low, high) for the run's checkpoints rated in ``fit``."""
    run = Path(run_dir).resolve()
    info = read_run(run)
    rows = []
    for spec, r in fit.ratings.items():
        m = GOZERO_SPEC_RE.match(spec)
        if not m:
            continue
        path = Path(m.group(1))
        try:
            path.resolve().relative_to(run)
        except ValueError:
            continue
        step = step_of(path)
        if step is None:
            continue
        rows.append({"step": step, "games": info.at_step(step, "games"), "hours": info.at_step(step, "hours"),
                     "visits": int(m.group(2)), "elo": r.elo, "low": r.low, "high": r.high, "spec": spec})
    return sorted(rows, key=lambda x: (x["visits"], x["step"]))


def pairwise(db: ResultsDB, size: int | None) -> dict[tuple[str, str], dict]:
    """Points of a against b (a < b alphabetically) over every decided game."""
    table: dict[tuple[str, str], dict] = defaultdict(lambda: {"games": 0, "a_points": 0.0, "draws": 0})
    for black, white, s in results_from_rows(db.games(size)):
        a, b = sorted((black, white))
        cell = table[(a, b)]
        cell["games"] += 1
        pts = s if black == a else 1 - s
        cell["a_points"] += pts
        cell["draws"] += int(s == 0.5)
    return dict(table)


def failures(db: ResultsDB, size: int | None) -> dict[str, list[str]]:
    q = "SELECT status, cause FROM games WHERE winner IS NULL" + (" AND size=?" if size else "")
    out: dict[str, list[str]] = defaultdict(list)
    for status, cause in db.conn.execute(q, (size,) if size else ()).fetchall():
        out[status].append(cause)
    return dict(out)


def build_report(db: ResultsDB, out_dir: str | Path, size: int = 9, anchor: str = "random", anchor_elo: float = 0.0,
                 run_dir: str | Path | None = None, title: str = "gozero ladder", command: str | None = None) -> Path:
    """Write report.md and plots into ``out_dir``; return the Markdown path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results = results_from_rows(db.games(size))
    if not results:
        raise ValueError(f"no decided {size}x{size} games in {db.path}")
    fit = fit_ratings(results, anchor=anchor, anchor_elo=anchor_elo)
    players = db.players()
    lines = [f"# {title}", ""]
    if command:
        lines += ["Made with:", "", "```bash", command, "```", ""]
    n_all = len(db.games(size))
    lines += [f"{size}x{size}, {n_all} games recorded, {len(results)} with a result. Bradley-Terry (Elo) fit by "
              f"maximum likelihood, anchored at `{anchor}` = {anchor_elo:g}; intervals are 95% (relative to the "
              "anchor); one virtual draw per pair that met as a prior.", "",
              "## Ladder", "", "| # | player | Elo | 95% interval | games | score | engine |",
              "|---:|---|---:|---|---:|---:|---|"]
    for k, r in enumerate(fit.ordered(), start=1):
        meta = players.get(r.player, {})
        engine = " ".join(x for x in (meta.get("name", ""), meta.get("version", "")) if x)
        interval = "anchor" if r.player == anchor else f"{r.low:.0f} .. {r.high:.0f}"
        pct = 100 * r.score / r.games if r.games else 0
        lines.append(f"| {k} | `{short_name(r.player)}` | {r.elo:.0f} | {interval} | {r.games} | {pct:.0f}% | "
                     f"{engine} |")
    lines += ["", "![ratings](ratings.png)", "", "## Pairs", "",
              "Score of A against B (draws count half) with its 95% Wilson interval, and the fit's prediction.", "",
              "| A | B | games | A's score | 95% Wilson | predicted |", "|---|---|---:|---:|---|---:|"]
    for (a, b), cell in sorted(pairwise(db, size).items()):
        lo, hi = wilson_interval(cell["a_points"], cell["games"])
        rate = cell["a_points"] / cell["games"]
        lines.append(f"| `{short_name(a)}` | `{short_name(b)}` | {cell['games']} | {100 * rate:.0f}% | "
                     f"{100 * lo:.0f}% .. {100 * hi:.0f}% | "
                     f"{100 * fit.expected(a, b):.0f}% |")
    fails = failures(db, size)
    if fails:
        lines += ["", "## Games without a result", "", "| status | games | example cause |", "|---|---:|---|"]
        for status, causes in sorted(fails.items()):
            example = (causes[0] or "").replace("|", "/")[:160]
            lines.append(f"| {status} | {len(causes)} | {example} |")
    disagreements = db.conn.execute("SELECT COUNT(*) FROM games WHERE cause LIKE '%score disagreement%'"
                                    + (" AND size=?" if size else ""), (size,) if size else ()).fetchone()[0]
    checked = db.conn.execute("SELECT COUNT(*) FROM games WHERE check_score IS NOT NULL"
                              + (" AND size=?" if size else ""), (size,) if size else ()).fetchone()[0]
    lines += ["", f"Scoring cross-check: {checked} scored games replayed into GNU Go; {disagreements} "
              "disagree with gozero's score (details in each game's `cause`)."]
    _plot_ratings(fit, out / "ratings.png", anchor)
    if run_dir is not None:
        curve = training_curve(fit, run_dir)
        lines += ["", "## Training run", "", f"Run `{run_dir}`.", ""]
        if curve:
            lines += ["| step | self-play games | hours | visits | Elo | 95% interval |",
                      "|---:|---:|---:|---:|---:|---|"]
            for c in curve:
                g = "" if c["games"] is None else f"{c['games']:.0f}"
                h = "" if c["hours"] is None else f"{c['hours']:.2f}"
                lines.append(f"| {c['step']} | {g} | {h} | {c['visits']} | {c['elo']:.0f} | "
                             f"{c['low']:.0f} .. {c['high']:.0f} |")
            _plot_training(curve, out / "training_elo.png")
            lines += ["", "![Elo along training](training_elo.png)"]
        else:
            lines.append("No checkpoint of this run has been rated yet.")
    long = [p for p in fit.players if short_name(p) != p]
    if long:
        lines += ["", "Players named in short above: " + "; ".join(f"`{short_name(p)}` = `{p}`" for p in long) + "."]
    path = out / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def _plot_ratings(fit: RatingFit, path: Path, anchor: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rs = list(reversed(fit.ordered()))
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(rs) + 1.2))
    y = range(len(rs))
    ax.errorbar([r.elo for r in rs], list(y), xerr=[[r.elo - r.low for r in rs], [r.high - r.elo for r in rs]],
                fmt="o", capsize=3)
    ax.set_yticks(list(y), [short_name(r.player) for r in rs])
    ax.set_xlabel(f"Elo (anchor {anchor} = {fit.anchor_elo:g}), 95% intervals")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_training(curve: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), sharey=True)
    for ax, key, label in zip(axes, ("step", "games", "hours"), ("training step", "self-play games",
                                                                  "wall-clock hours"), strict=True):
        for visits in sorted({c["visits"] for c in curve}):
            pts = [c for c in curve if c["visits"] == visits and c[key] is not None]
            if not pts:
                continue
            xs = [c[key] for c in pts]
            ax.errorbar(xs, [c["elo"] for c in pts], yerr=[[c["elo"] - c["low"] for c in pts],
                                                            [c["high"] - c["elo"] for c in pts]],
                        fmt="o-", capsize=3, label=f"{visits} visits")
        ax.set_xlabel(label)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("Elo")
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
