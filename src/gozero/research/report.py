"""`gozero research report`: an experiment's ledger as ``report.md`` and ``report.png``.

The figure has three panels: the panel Elo of every run against the training CPU seconds it
used (95 % intervals; kept, discarded, pruned and crashed runs told apart; the rated
snapshots of a long run, status ``curve``, drawn as one line per run, searched and raw), the sweep's
parameter importances (Optuna's PED-ANOVA evaluator, which needs no extra packages), and the
keep/discard history in ledger order with the best kept Elo so far. The Markdown gives the
best runs with their intervals and the commands that re-run them, the best trials with their
parameters, the importances, each curve as a table (CPU-hours, Elo, raw Elo), the
keep/discard sequence with its reasons, and the panel.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from .experiment import Experiment
from .ledger import Ledger, rerun_command

COLOURS = {"keep": "tab:green", "discard": "tab:gray", "pruned": "tab:orange", "crash": "tab:red"}


def curve_label(row: dict) -> str:
    """The curve a ``curve`` row belongs to: ``curve LABEL: ...`` in its description, else the
    folder of its snapshot."""
    desc = row.get("description") or ""
    if desc.startswith("curve ") and ":" in desc:
        return desc[6:desc.index(":")]
    return Path(row["init"]).parent.name


def curves(rows: list[dict]) -> dict[str, list[dict]]:
    """The ``curve`` rows by run (the folder of their snapshot), in CPU order."""
    out: dict[str, list[dict]] = {}
    for r in rows:
        if r["status"] == "curve" and _num(r.get("elo")):
            out.setdefault(curve_label(r), []).append(r)
    return {k: sorted(v, key=lambda r: r["cpu_s"]) for k, v in out.items()}


def _num(v) -> bool:
    return v is not None and not (isinstance(v, float) and math.isnan(v))


def _f(v, fmt: str = "{:.0f}") -> str:
    return fmt.format(v) if _num(v) else "-"


def _cell(text: str) -> str:
    return (text or "").replace("|", "\\|")


def importances(exp: Experiment) -> tuple[dict[str, float], list]:
    """(parameter importances, completed trials best first) of the experiment's sweep, if any."""
    if not (exp.dir / "sweep.sqlite3").exists():
        return {}, []
    try:
        import optuna
        from optuna.trial import TrialState

        from .sweep import load_study

        study = load_study(exp, create=False)
    except (ImportError, KeyError, ValueError):
        return {}, []
    done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if t.value is not None]
    done.sort(key=lambda t: -t.value)
    imp: dict[str, float] = {}
    if len(done) >= 3 and len({k for t in done for k in t.params}) >= 1:
        try:
            evaluator = optuna.importance.PedAnovaImportanceEvaluator()
            imp = dict(optuna.importance.get_param_importances(study, evaluator=evaluator))
        except (ValueError, RuntimeError, ZeroDivisionError, AttributeError):
            imp = {}
    return imp, done


def _figure(rows: list[dict], imp: dict[str, float], path: Path, members: dict[str, float]) -> None:
    """The report's three panels; ``members``: the panel members' Elo, drawn as reference
    lines under the curves of long runs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8))
    ax = axes[0]
    for status, colour in COLOURS.items():
        pts = [r for r in rows if r["status"] == status and _num(r["elo"])]
        if pts:
            ax.errorbar([r["cpu_s"] for r in pts], [r["elo"] for r in pts],
                        yerr=[[r["elo"] - r["elo_low"] for r in pts], [r["elo_high"] - r["elo"] for r in pts]],
                        fmt="o", color=colour, label=status, capsize=3, alpha=0.8)
    for k, (label, pts) in enumerate(curves(rows).items()):
        colour = f"C{k % 10}"
        ax.errorbar([r["cpu_s"] for r in pts], [r["elo"] for r in pts],
                    yerr=[[r["elo"] - r["elo_low"] for r in pts], [r["elo_high"] - r["elo"] for r in pts]],
                    fmt="-o", color=colour, label=label, capsize=3, alpha=0.9, markersize=4)
        raw = [r for r in pts if _num(r["raw_elo"])]
        if raw:
            ax.plot([r["cpu_s"] for r in raw], [r["raw_elo"] for r in raw], "--", color=colour, alpha=0.6,
                    label=f"{label} (raw)")
    spans = sorted({r["cpu_s"] for r in rows if r["status"] == "curve" and r["cpu_s"] >= 1.0})
    if len(spans) > 2:  # log-spaced points: log from the decade of the first one on, linear below
        # it (a step-0 snapshot sits at 0, half a decade to its left, not at 1e-3)
        ax.set_xscale("symlog", linthresh=10.0 ** math.floor(math.log10(spans[0])), linscale=0.5)
    if curves(rows) and members:  # where the members stand, for reading a curve
        xlim = ax.get_xlim()
        for name, elo in members.items():
            ax.axhline(elo, color="0.6", lw=0.8, ls=":", zorder=0)
            ax.annotate(name, (1.0, elo), xycoords=("axes fraction", "data"), xytext=(-2, 2),
                        textcoords="offset points", ha="right", fontsize=7, color="0.4")
        log = ax.get_xscale() == "symlog"  # room on the right for the names
        ax.set_xlim(xlim[0], xlim[1] * 4.0 if log else xlim[1] + 0.2 * (xlim[1] - xlim[0]))
    ax.set_xlabel("training CPU seconds")
    ax.set_ylabel("panel Elo (95 % interval)")
    ax.set_title("Elo against CPU time, every run")
    if any(_num(r["elo"]) for r in rows):
        ax.legend(fontsize=8)
    ax = axes[1]
    if imp:
        names = list(imp)[::-1]
        ax.barh(names, [imp[n] for n in names], color="tab:blue")
        ax.set_xlabel("importance (PED-ANOVA)")
    else:
        ax.text(0.5, 0.5, "no sweep with 3+ complete trials", ha="center", va="center", transform=ax.transAxes)
    ax.set_title("parameter importances")
    ax = axes[2]
    best, xs, ys = None, [], []
    for i, r in enumerate(r for r in rows if r["status"] != "curve"):
        if _num(r["elo"]):
            ax.plot(i, r["elo"], "o", color=COLOURS.get(r["status"], "k"))
        if r["status"] == "keep" and _num(r["elo"]):
            best = r["elo"] if best is None else max(best, r["elo"])
        if best is not None:
            xs.append(i)
            ys.append(best)
    if xs:
        ax.step(xs, ys, where="post", color="tab:green", label="best kept")
        ax.legend(fontsize=8)
    ax.set_xlabel("run (ledger order)")
    ax.set_ylabel("panel Elo")
    ax.set_title("keep / discard history")
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)


def write_report(exp: Experiment) -> dict:
    """Write EXP/report.md and EXP/report.png; return their paths and a summary."""
    from gozero.eval.ratings import fit_ratings

    rows = Ledger(exp.dir).rows()
    imp, trials = importances(exp)
    png = exp.dir / "report.png"
    md = exp.dir / "report.md"
    cal_path = exp.dir / "calibration.json"
    cal = json.loads(cal_path.read_text()) if cal_path.is_file() else None
    games = [tuple(g) for g in cal["games"]] if cal else []
    fit = fit_ratings(games, anchor=exp.panel.anchor, anchor_elo=exp.panel.anchor_elo,
                      players=list(exp.panel.members)) if games else None
    _figure(rows, imp, png, {m: fit.ratings[m].elo for m in exp.panel.members} if fit else {})
    rated = sorted((r for r in rows if _num(r["elo"]) and r["status"] in ("keep", "discard")), key=lambda r: -r["elo"])
    counts = ", ".join(f"{s} {sum(r['status'] == s for r in rows)}" for s in (*COLOURS, "curve"))
    lines = [f"# Report: {exp.name}", "",
             f"{len(rows)} runs in the ledger ({counts})."
             f" Budget {exp.budget:g} CPU seconds per run unless a row says otherwise; panel: "
             f"{', '.join(exp.panel.members)}, {exp.panel.games} games per member at {exp.panel.visits} visits.", "",
             "![report](report.png)", "", "## Best runs", "",
             "| run | Elo | 95 % | raw Elo | CPU s | seed | description |", "|---|---|---|---|---|---|---|"]
    for r in rated[:8]:
        lines.append(f"| {r['run_id']} | {_f(r['elo'])} | [{_f(r['elo_low'])}, {_f(r['elo_high'])}] | "
                     f"{_f(r['raw_elo'])} | {r['cpu_s']:.0f} | {r['seed']} | {_cell(r['description'])} |")
    if rated:
        lines += ["", "Re-run the best (at its commit):", "", f"    {rerun_command(exp.dir, rated[0])}"]
    if trials:
        # the ledger's Elo (re-rated rows carry their new value; `gozero research rerate`),
        # the value the sweep's sampler saw beside it
        ledger_elo = {r["trial"]: r["elo"] for r in rows if r["trial"] is not None and r["trial"] >= 0
                      and _num(r["elo"])}
        trials = sorted(trials, key=lambda t: -ledger_elo.get(t.number, t.value))
        keys = sorted({k for t in trials for k in t.params})
        lines += ["", "## Best sweep trials", "", "| trial | Elo | Elo in the sweep | " + " | ".join(keys) + " |",
                  "|---|---|---|" + "---|" * len(keys)]
        for t in trials[:8]:
            vals = [_f(t.params.get(k), "{:.4g}") if isinstance(t.params.get(k), float) else str(t.params.get(k))
                    for k in keys]
            lines.append(f"| {t.number} | {_f(ledger_elo.get(t.number, t.value))} | {t.value:.0f} | "
                         + " | ".join(vals) + " |")
    if imp:
        lines += ["", "## Parameter importances (PED-ANOVA)", ""]
        lines += [f"- {k}: {v:.2f}" for k, v in imp.items()]
    for label, pts in curves(rows).items():
        lines += ["", f"## Curve: {label}", "", "| CPU-hours | Elo | 95 % | raw Elo | steps | games | snapshot |",
                  "|---|---|---|---|---|---|---|"]
        for r in pts:
            lines.append(f"| {r['cpu_s'] / 3600:.2f} | {_f(r['elo'])} | [{_f(r['elo_low'])}, {_f(r['elo_high'])}] | "
                         f"{_f(r['raw_elo'])} | {r['steps']} | {r['games']} | {r['init']} |")
    lines += ["", "## Keep / discard history", "", "| # | run | status | Elo | 95 % | description |",
              "|---|---|---|---|---|---|"]
    for i, r in enumerate(r for r in rows if r["status"] != "curve"):
        lines.append(f"| {i} | {r['run_id']} | {r['status']} | {_f(r['elo'])} | [{_f(r['elo_low'])}, "
                     f"{_f(r['elo_high'])}] | {_cell(r['description'])} |")
    if cal is not None:
        lines += ["", "## Panel (calibrated once, "
                  f"{len(games)} games, {cal.get('cpu_seconds', 0):.0f} CPU s)", "",
                  "| member | Elo | 95 % (joint fit) | score |", "|---|---|---|---|"]
        if fit is not None:
            for m in exp.panel.members:
                r = fit.ratings[m]
                lines.append(f"| {m} | {r.elo:.0f} | [{r.low:.0f}, {r.high:.0f}] | {r.score:g}/{r.games} |")
        else:
            lines.append(f"| {exp.panel.anchor} | {exp.panel.anchor_elo:.0f} | - | - |")
    md.write_text("\n".join(lines) + "\n")
    best = rated[0] if rated else None
    return {"markdown": str(md), "png": str(png), "runs": len(rows), "best": best, "importances": imp}


__all__ = ["importances", "write_report"]
