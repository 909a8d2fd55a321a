"""``gozero research``: experiments with a CPU budget, a frozen panel, a ledger, sweeps, reports.

    gozero research new NAME [--from PRESET] [--size N]   experiments/<date>-<slug>/
    gozero research run EXP [--budget 10m] [--seed N] [--set k=v ...] [--init CKPT] [--desc TEXT]
    gozero research sweep EXP --trials N [--budget 5m]    Optuna TPE over [search_space]
    ... run/sweep --cluster local|auto|HOST:PORT           trials as Ray tasks, several at once
    gozero research curve EXP RUN [--doubling 1m | --points 1m,2m] [--commit]   rate a run's snapshots
    gozero research ledger EXP                            the rows of results.tsv
    gozero research rerate EXP [--dry-run]                 rows re-rated from their kept scores
    gozero research report EXP                            report.md + report.png

Every command is non-interactive, shows progress on stderr, and with ``--json`` prints one
JSON document on stdout instead of tables.
"""

from __future__ import annotations

import contextlib
import json
import math
import subprocess
from pathlib import Path

import typer

research_app = typer.Typer(help="Budgeted experiments rated on a frozen panel: new, run, sweep, curve, ledger, report.",
                           no_args_is_help=True, add_completion=False)


def _elo(v) -> str:
    """An Elo for a table: whole numbers, '-' for none."""
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.0f}"


def _fail(exc: Exception, code: int = 2) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(code)


CLUSTER_HELP = ("run trials as Ray tasks: local (a Ray instance here), auto (the cluster this machine joined) or "
                "HOST:PORT; rows and artefacts are written here (docs/cluster.md); implies --backend ray")
BACKEND_HELP = "where trials run: local (processes here) or ray (--cluster, default local)"


def _cluster_choice(cluster: str | None, backend: str) -> tuple[str, str | None]:
    """(backend, cluster) from --cluster and --backend: --cluster means the ray backend, and
    --backend ray alone a local Ray instance. Checks the name and that Ray is installed."""
    if cluster is None and backend != "ray":
        return backend, None
    if cluster is not None and backend not in ("local", "ray"):
        raise ValueError(f"--cluster runs trials with the ray backend, not {backend!r}: drop --backend")
    from gozero.train.cluster import check_cluster_name, require_ray

    name = check_cluster_name(cluster or "local")
    require_ray()
    return "ray", name


def _cluster_session(cluster: str | None):
    """The command's one Ray connection (its trials reuse it), opened now; a context that does
    nothing without --cluster. Exit 2 when the cluster cannot be reached."""
    if not cluster:
        return contextlib.nullcontext()
    from gozero.train.cluster import ClusterError, ClusterSession

    try:
        return ClusterSession(cluster)
    except (ClusterError, ValueError) as exc:
        raise _fail(exc) from exc


def _console():
    from rich.console import Console

    return Console(stderr=True)


@research_app.command("new")
def new_cmd(
    name: str = typer.Argument(..., help="the experiment's name (the folder is experiments/<date>-<slug>)"),
    from_: str = typer.Option("tiny", "--from", help="training preset every run starts from, or a config .toml "
                              "file (copied into the folder)"),
    size: int = typer.Option(0, help="board size (0: the preset's); 7 uses the shipped 7x7 anchor networks"),
    komi: float | None = typer.Option(None, help="komi (default: the preset's; 9 on 7x7)"),
    budget: str = typer.Option("10m", help="training CPU budget of every run (20s, 5m, 1h)"),
    root: Path = typer.Option(Path("experiments"), help="folder of experiments"),
    panel: list[str] = typer.Option([], "--panel", help="a panel member (repeatable; default: random, the shipped "
                                    "networks of this size, the engines installed here)"),
    as_json: bool = typer.Option(False, "--json", help="print the folder as JSON"),
) -> None:
    """Create an experiment folder: README.md, experiment.toml (panel and budget fixed here), empty ledger."""
    from .experiment import new_experiment, parse_budget

    try:
        folder = new_experiment(name, from_, root, size=size or None, komi=komi, budget=parse_budget(budget),
                                members=panel or None)
    except (ValueError, FileExistsError) as exc:
        raise _fail(exc) from exc
    if as_json:
        typer.echo(json.dumps({"experiment": str(folder)}))
    else:
        typer.echo(f"created {folder}: edit its README.md (question, hypothesis) and experiment.toml, then\n"
                   f"  gozero research run {folder} --desc baseline")


def _row_line(row: dict) -> str:
    interval = f"[{_elo(row['elo_low'])}, {_elo(row['elo_high'])}]"
    return (f"{row['run_id']}  {row['status']:7s}  Elo {_elo(row['elo'])} {interval}"
            f"  raw {_elo(row['raw_elo'])}  train {row['cpu_s']:.0f}/{row['budget_s']:.0f} CPU s"
            f"  eval {row['eval_cpu_s']:.0f} CPU s  {row['description']}")


@research_app.command("run")
def run_cmd(
    experiment: Path = typer.Argument(..., help="the experiment folder"),
    budget: str | None = typer.Option(None, help="training CPU budget (default: the experiment's), e.g. 10m; "
                                      "0 with --init: rate that network as it is (test-time search track)"),
    seed: int = typer.Option(0, help="the run's seed (run.seed)"),
    set_: list[str] = typer.Option([], "--set", help="override a training key: section.key=value (repeatable)"),
    init: Path | None = typer.Option(None, help="start from this checkpoint's weights instead of from zero"),
    desc: str = typer.Option("", help="what this run tries (kept in the ledger)"),
    backend: str = typer.Option("local", help=BACKEND_HELP),
    cluster: str | None = typer.Option(None, help=CLUSTER_HELP),
    as_json: bool = typer.Option(False, "--json", help="print the ledger row as JSON"),
) -> None:
    """Train from zero (or --init) under the CPU budget, rate on the panel, append a ledger row."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from gozero.train.cluster import ClusterError

    from .experiment import load_experiment, parse_budget
    from .trial import TrialSpec, run_trial

    try:
        exp = load_experiment(experiment)
        seconds = parse_budget(budget, allow_zero=True) if budget else exp.budget
        exp.config(list(set_) + [f"run.seed={seed}"])  # bad overrides fail here, before anything runs
        if init is not None and not init.is_file():
            raise FileNotFoundError(f"--init {init} does not exist")
        if seconds == 0 and init is None:
            raise ValueError("--budget 0 rates an existing network: give it with --init CKPT")
        backend, cluster = _cluster_choice(cluster, backend)
    except (ValueError, FileNotFoundError, ClusterError) as exc:
        raise _fail(exc) from exc
    spec = TrialSpec(str(exp.dir), seed=seed, budget=seconds, overrides=list(set_),
                     init=str(init.resolve()) if init else "", description=desc)
    session = _cluster_session(cluster)
    with session, Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=_console(),
                           disable=as_json, transient=True) as bar:
        task = bar.add_task(f"{spec.run_id}: starting", total=None)
        row = run_trial(spec, backend, progress=lambda s: bar.update(task, description=f"{spec.run_id}: {s}"))
    from .ledger import Ledger

    row = Ledger(exp.dir).record(row)
    if as_json:
        typer.echo(json.dumps(row))
    else:
        typer.echo(_row_line(row))
    if row["status"] == "crash":
        raise typer.Exit(1)


@research_app.command("sweep")
def sweep_cmd(
    experiment: Path = typer.Argument(..., help="the experiment folder"),
    trials: int = typer.Option(16, help="trials to reach in the study (a resumed sweep counts the ones done)"),
    budget: str | None = typer.Option(None, help="training CPU budget per trial (default: the experiment's)"),
    seed: int = typer.Option(0, help="seed of the sampler and of every trial's run"),
    prune: bool = typer.Option(True, help="rate trials at [sweep] prune_fractions and prune poor ones"),
    backend: str = typer.Option("local", help=BACKEND_HELP),
    cluster: str | None = typer.Option(None, help=CLUSTER_HELP),
    parallel: int = typer.Option(0, help="with --cluster: trials at once (0: as many as the cluster has trial slots)"),
    trial_cpus: float = typer.Option(1.0, help="with --cluster: CPUs each trial reserves (the experiments train "
                                     "with one thread)"),
    as_json: bool = typer.Option(False, "--json", help="print the rows as JSON"),
) -> None:
    """Optuna TPE over the experiment's search space; every trial is a ledger row; resumable after a kill."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from gozero.train.cluster import ClusterError

    from .experiment import load_experiment, parse_budget
    from .sweep import run_sweep

    try:
        exp = load_experiment(experiment)
        seconds = parse_budget(budget) if budget else exp.budget
        if not exp.space:
            raise ValueError(f"{exp.toml_path} declares no [search_space]")
        if trials < 1:
            raise ValueError("--trials must be >= 1")
        if parallel < 0 or trial_cpus <= 0:
            raise ValueError("--parallel must be >= 0 and --trial-cpus > 0")
        backend, cluster = _cluster_choice(cluster, backend)
    except (ValueError, FileNotFoundError, ClusterError) as exc:
        raise _fail(exc) from exc
    rows = []
    session = _cluster_session(cluster)
    with session, Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                           console=_console(), disable=as_json) as bar:
        task = bar.add_task("sweep", total=trials)

        def on_row(row: dict, done: int) -> None:
            rows.append(row)
            bar.update(task, completed=done)
            if not as_json:
                bar.console.print(_row_line(row))

        def on_progress(text: str, done: int) -> None:
            bar.update(task, completed=done, description=text)

        run_sweep(exp, trials, seconds, seed=seed, prune=prune, backend=backend, on_row=on_row,
                  on_progress=on_progress, cluster=cluster, parallel=parallel, trial_cpus=trial_cpus)
    if as_json:
        typer.echo(json.dumps(rows))


@research_app.command("curve")
def curve_cmd(
    experiment: Path = typer.Argument(..., help="the experiment folder (its panel rates the snapshots)"),
    run: Path = typer.Argument(..., help="a training run folder (gozero train --run-dir RUN), or a folder of kept "
                               "snapshots (EXP/snapshots/LABEL)"),
    points: str | None = typer.Option(None, help="CPU times to rate at, comma-separated (1m,2m,4m or seconds)"),
    doubling: str = typer.Option("1m", help="without --points: rate at this CPU time, twice it, four times it, ... "
                                 "up to the run's last snapshot"),
    final: bool = typer.Option(True, help="rate the run's last snapshot too"),
    final_only: bool = typer.Option(False, "--final-only", help="rate the run's last snapshot only"),
    label: str | None = typer.Option(None, help="the curve's name (default: the run folder's name); snapshots are "
                                     "kept in EXP/snapshots/LABEL/"),
    set_: list[str] = typer.Option([], "--set", help="a search key for the rated network: search.key=value"),
    keep: str = typer.Option("all", help="rated snapshots copied (fp16) into EXP/snapshots/LABEL/: all, final "
                             "(the run's last) or none (the others are rated in the run folder)"),
    commit: bool = typer.Option(False, "--commit", help="git-commit each new row with its snapshot as it arrives"),
    keep_only: bool = typer.Option(False, "--keep-only", help="copy the points' snapshots into EXP/snapshots/LABEL/ "
                                   "(committed with --commit) and rate none: rate that folder later, anywhere"),
    dry_run: bool = typer.Option(False, "--dry-run", help="list the snapshots that would be rated, rate none"),
    backend: str = typer.Option("local", help="where the ratings run"),
    as_json: bool = typer.Option(False, "--json", help="print the new rows as JSON"),
) -> None:
    """Rate a run's snapshots at points of CPU time (the last one at or before each); one ledger row each, resumable."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from .curve import curve_points, doubling_points, keep_snapshots, parse_points, rate_curve, run_snapshots
    from .experiment import load_experiment, parse_budget

    try:
        exp = load_experiment(experiment)
        snaps = run_snapshots(run)
        if not snaps:
            raise ValueError(f"{run} has no snapshots with a CPU clock yet (checkpoints/step_*.pt)")
        if final_only:
            pts, final = [], True
        else:
            pts = parse_points(points) if points else doubling_points(parse_budget(doubling), snaps[-1].cpu_seconds)
        exp.config(list(set_))
        if keep_only:
            if dry_run:
                for _, snap in curve_points(snaps, pts, final):
                    typer.echo(f"would keep {snap.path}")
            else:
                for kept in keep_snapshots(exp, run, pts, label=label, final=final, commit=commit):
                    typer.echo(f"kept {kept}")
            return
    except (ValueError, FileNotFoundError, subprocess.SubprocessError) as exc:
        raise _fail(exc) from exc
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=_console(),
                  disable=as_json, transient=True) as bar:
        task = bar.add_task("curve", total=None)

        def on_row(row: dict) -> None:
            if not as_json:
                bar.console.print(_row_line(row))

        try:
            rows = rate_curve(exp, run, pts, label=label, final=final, overrides=list(set_), commit=commit, keep=keep,
                              backend=backend, on_row=on_row, dry_run=dry_run,
                              progress=lambda s: bar.update(task, description=s))
        except (ValueError, OSError, subprocess.SubprocessError) as exc:
            raise _fail(exc) from exc
    if as_json:
        typer.echo(json.dumps(rows))
    elif dry_run:
        for r in rows:
            typer.echo(f"would rate {r['init']}: {r['description']}")
    elif not rows:
        typer.echo("every point already has a row")
    if any(r.get("status") == "crash" for r in rows):
        raise typer.Exit(1)


@research_app.command("ledger")
def ledger_cmd(
    experiment: Path = typer.Argument(..., help="the experiment folder"),
    as_json: bool = typer.Option(False, "--json", help="print the rows as JSON"),
    commands: bool = typer.Option(False, "--commands", help="print the command that re-runs each row"),
) -> None:
    """Print the experiment's ledger (results.tsv)."""
    from rich.table import Table

    from .experiment import load_experiment
    from .ledger import Ledger, rerun_command

    try:
        exp = load_experiment(experiment)
    except (ValueError, FileNotFoundError) as exc:
        raise _fail(exc) from exc
    rows = Ledger(exp.dir).rows()
    if as_json:
        typer.echo(json.dumps(rows))
        return
    if commands:
        for r in rows:
            typer.echo(f"# {r['run_id']} at {r['commit']}\n{rerun_command(exp.dir, r)}")
        return
    table = Table(title=f"{exp.dir} ({len(rows)} runs)")
    for col in ("run", "status", "Elo", "95%", "raw", "CPU s", "eval s", "seed", "config"):
        table.add_column(col, no_wrap=True)
    table.add_column("description")

    for r in rows:
        table.add_row(r["run_id"], r["status"], _elo(r["elo"]), f"[{_elo(r['elo_low'])}, {_elo(r['elo_high'])}]",
                      _elo(r["raw_elo"]), f"{r['cpu_s']:.0f}/{r['budget_s']:.0f}", _elo(r["eval_cpu_s"]),
                      str(r["seed"]), r["config_hash"], r["description"])
    from rich.console import Console

    console = Console()
    if not console.is_terminal:
        console = Console(width=200)  # a pipe or a file: rows on one line where they fit
    console.print(table)


@research_app.command("rerate")
def rerate_cmd(
    experiment: Path = typer.Argument(..., help="the experiment folder"),
    dry_run: bool = typer.Option(False, "--dry-run", help="print what would change; write nothing"),
    as_json: bool = typer.Option(False, "--json", help="print the changes as JSON"),
) -> None:
    """Re-rate every rated row from its kept per-member scores, without replaying a game.

    For a change of the rating fit: the old values go into each row's description, statuses
    stay as decided (a row whose decision would now differ says so), the scores of rows
    found only under runs/ are kept in panel_scores.jsonl."""
    from .experiment import load_experiment
    from .rerate import rerate

    try:
        exp = load_experiment(experiment)
        out = rerate(exp, dry_run=dry_run)
    except (ValueError, FileNotFoundError, KeyError) as exc:
        raise _fail(exc) from exc
    if as_json:
        typer.echo(json.dumps(out))
        return

    for c in out["changed"]:
        (e, lo, hi, raw), (e2, lo2, hi2, raw2) = c["old"], c["new"]
        would = "" if c["would_be"] == c["status"] else f"  (would be {c['would_be']})"
        typer.echo(f"{c['run_id']}  {c['status']:8s} {_elo(e)} [{_elo(lo)}, {_elo(hi)}] raw {_elo(raw)}  ->  "
                   f"{_elo(e2)} [{_elo(lo2)}, {_elo(hi2)}] raw {_elo(raw2)}{would}")
    verb = "would change" if dry_run else "changed"
    gone = f", {len(out['missing'])} with no kept scores: {', '.join(out['missing'])}" if out["missing"] else ""
    typer.echo(f"{len(out['changed'])} rows {verb}, {out['unchanged']} already right{gone}")


@research_app.command("report")
def report_cmd(
    experiment: Path = typer.Argument(..., help="the experiment folder"),
    as_json: bool = typer.Option(False, "--json", help="print the written files and the summary as JSON"),
) -> None:
    """Write report.md and report.png: Elo against CPU time, parameter importances, best trials, keep/discard."""
    from .experiment import load_experiment
    from .report import write_report

    try:
        exp = load_experiment(experiment)
    except (ValueError, FileNotFoundError) as exc:
        raise _fail(exc) from exc
    out = write_report(exp)
    if as_json:
        typer.echo(json.dumps(out))
    else:
        typer.echo(f"wrote {out['markdown']} and {out['png']}")


def register(app: typer.Typer) -> None:
    """Add ``gozero research`` to the top-level command."""
    app.add_typer(research_app, name="research")
