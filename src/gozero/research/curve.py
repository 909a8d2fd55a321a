"""`gozero research curve`: a training run's learning curve, rated on an experiment's panel.

A long run (``gozero train`` under ``run.max_cpu_seconds``, over any number of sessions)
writes a snapshot per generation carrying the CPU seconds the run had used
(``cpu_seconds``). `curve_points` picks, for each point of CPU time, the last snapshot at or
before it; `rate_curve` copies each pick (``keep="all"``, or only the run's last one with
``keep="final"``, or none) into ``EXP/snapshots/<label>/`` as a half-precision model file
(small enough to commit, so anyone can re-rate it from a clone; the others are rated where
the run keeps them) and rates it like
``gozero research run EXP --budget 0 --init SNAPSHOT``: one ledger row per point, status
``curve``, its ``cpu_s`` the snapshot's training CPU seconds. A point whose snapshot already
has a row is skipped, so the same command resumes after a stop and extends the curve as the
run goes on. With ``commit`` every new row is committed to git as it arrives (with its
snapshot), for curves that outlive a machine. `keep_snapshots` copies (and commits) the
points' snapshots without rating them, and a folder of kept snapshots is itself a run to
rate (``gozero research curve EXP EXP/snapshots/LABEL``): a run trained on one machine can
be rated on another, or after its run folder is gone.
"""

from __future__ import annotations

import math
import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .experiment import Experiment, parse_budget
from .ledger import Ledger
from .trial import TrialSpec, run_trial


@dataclass(frozen=True)
class Snapshot:
    """One of a run's per-generation snapshots."""

    path: Path
    step: int
    cpu_seconds: float
    games: int


def run_snapshots(run_dir: str | Path) -> list[Snapshot]:
    """The run's snapshots (``RUN/checkpoints/step_*.pt``, or the ``step_*.pt`` model files of
    a folder of kept snapshots) in training order, with the CPU seconds each records;
    snapshots written before the run kept a CPU clock are left out."""
    import torch

    ckpt = Path(run_dir) / "checkpoints"
    if not ckpt.is_dir():
        ckpt = Path(run_dir)  # kept snapshots (EXP/snapshots/LABEL/)
        if not ckpt.is_dir() or not any(ckpt.glob("step_*.pt")):
            raise FileNotFoundError(f"{run_dir} is not a training run (no checkpoints/ folder) "
                                    "nor a folder of kept snapshots (step_*.pt)")
    out = []
    for path in sorted(ckpt.glob("step_*.pt")):
        try:
            data = torch.load(path, map_location="cpu", weights_only=False)
        except (OSError, RuntimeError, EOFError):
            continue  # a snapshot being written: the next call sees it
        if not isinstance(data, dict) or "cpu_seconds" not in data:
            continue
        out.append(Snapshot(path, int(data.get("step", 0)), float(data["cpu_seconds"]), int(data.get("games", 0))))
    out.sort(key=lambda s: (s.cpu_seconds, s.step))
    return out


def doubling_points(start: float, stop: float) -> list[float]:
    """``start, 2 start, 4 start, ...`` up to ``stop`` (CPU seconds)."""
    if start <= 0:
        raise ValueError("the first point of a doubling curve must be above 0 CPU seconds")
    n = int(math.floor(math.log2(stop / start) + 1e-9)) + 1 if stop >= start else 0
    return [start * 2 ** k for k in range(n)]


def parse_points(text: str) -> list[float]:
    """``"1m,2m,4m"`` or ``"112.5,225"`` (CPU seconds) -> sorted seconds."""
    pts = sorted({parse_budget(p.strip()) for p in text.split(",") if p.strip()})
    if not pts:
        raise ValueError(f"no points in {text!r}")
    return pts


def curve_points(snaps: list[Snapshot], points: list[float], final: bool = True) -> list[tuple[float, Snapshot]]:
    """For each point the last snapshot at or before it (points before the first snapshot
    are dropped; a snapshot picked twice is rated once); with ``final`` the run's last
    snapshot too."""
    picks: list[tuple[float, Snapshot]] = []
    seen: set[Path] = set()
    for p in sorted(points):
        before = [s for s in snaps if s.cpu_seconds <= p + 1e-6]
        if not before or before[-1].path in seen:
            continue
        seen.add(before[-1].path)
        picks.append((p, before[-1]))
    if final and snaps and snaps[-1].path not in seen:
        picks.append((snaps[-1].cpu_seconds, snaps[-1]))
    return picks


def _relative(path: Path) -> str:
    try:
        return os.path.relpath(path.resolve(), Path.cwd())
    except ValueError:
        return str(path.resolve())


def git_commit(exp: Experiment, files: list[Path], message: str) -> None:
    """Commit ``files`` (and only them) in the git repository holding the experiment. Files
    that another process has already committed as they are now (two runs appending to one
    shared file, the first committing both rows) count as committed."""
    root = subprocess.run(["git", "-C", str(exp.dir), "rev-parse", "--show-toplevel"], capture_output=True,
                          text=True, check=True).stdout.strip()
    rel = [os.path.relpath(f.resolve(), root) for f in files]
    for cmd in (["add", "--", *rel], ["commit", "-q", "-m", message, "--", *rel]):
        for attempt in range(30):  # another process committing at the same time holds the index a moment
            done = subprocess.run(["git", "-C", root, *cmd], capture_output=True, text=True)
            if done.returncode == 0 or "index.lock" not in done.stderr or attempt == 29:
                break
            time.sleep(1.0)
        if done.returncode != 0 and not (cmd[0] == "commit" and _as_committed(root, rel)):
            raise subprocess.CalledProcessError(done.returncode, done.args, done.stdout, done.stderr)


def _as_committed(root: str, rel: list[str]) -> bool:
    """Whether the files at ``rel`` are tracked and the same on disk as in HEAD."""
    tracked = subprocess.run(["git", "-C", root, "ls-files", "--error-unmatch", "--", *rel], capture_output=True)
    same = subprocess.run(["git", "-C", root, "diff", "--quiet", "HEAD", "--", *rel], capture_output=True)
    return tracked.returncode == 0 and same.returncode == 0


def _label(run_dir: Path, label: str | None) -> str:
    label = label or run_dir.resolve().name
    if not label or "/" in label or ":" in label or label.startswith("."):
        raise ValueError(f"bad curve label {label!r}")
    return label


def _kept(snap: Snapshot, keep_dir: Path, label: str) -> Path:
    """The snapshot's fp16 copy in ``keep_dir`` (written once; a kept snapshot is its own copy)."""
    from gozero.train.loop import export_model

    kept = keep_dir / snap.path.name
    if not kept.is_file():
        keep_dir.mkdir(parents=True, exist_ok=True)
        export_model(snap.path, kept, half=True, source=f"{label}/{snap.path.name}")
    return kept


def keep_snapshots(exp: Experiment, run_dir: str | Path, points: list[float], label: str | None = None,
                   final: bool = True, commit: bool = False) -> list[Path]:
    """Copy the snapshots `rate_curve` would rate at ``points`` into ``EXP/snapshots/LABEL/``
    (fp16) without rating them, committing the new ones with ``commit``; returns the copies.
    Rating that folder later gives the rows rating the run would have given."""
    run_dir = Path(run_dir)
    label = _label(run_dir, label)
    keep_dir = exp.dir / "snapshots" / label
    before = {p.name for p in keep_dir.glob("step_*.pt")} if keep_dir.is_dir() else set()
    kept = [_kept(snap, keep_dir, label) for _, snap in curve_points(run_snapshots(run_dir), points, final)]
    new = [k for k in kept if k.name not in before]
    if commit and new:
        git_commit(exp, new, f"{exp.dir.name}: {label}'s {len(new)} snapshots to rate, kept")
    return kept


def rate_curve(exp: Experiment, run_dir: str | Path, points: list[float], label: str | None = None,
               final: bool = True, overrides: list[str] | None = None, commit: bool = False, backend: str = "local",
               on_row: Callable[[dict], None] | None = None, progress: Callable[[str], None] | None = None,
               dry_run: bool = False, keep: str = "all") -> list[dict]:
    """Rate the run's snapshots at ``points`` (CPU seconds) that have no row yet; returns the
    new rows (with ``dry_run``, the rows it would rate, unrated)."""
    run_dir = Path(run_dir)
    label = _label(run_dir, label)
    if commit and not dry_run:
        subprocess.run(["git", "-C", str(exp.dir), "rev-parse", "--git-dir"], capture_output=True, check=True)
    if keep not in ("all", "final", "none"):
        raise ValueError(f"keep must be 'all', 'final' or 'none', not {keep!r}")
    snaps = run_snapshots(run_dir)
    picks = curve_points(snaps, points, final)
    ledger = Ledger(exp.dir)
    done = {r["init"] for r in ledger.rows() if r["status"] in ("curve", "keep", "discard")}
    keep_dir = exp.dir / "snapshots" / label
    rows = []
    for point, snap in picks:
        copy = keep == "all" or (keep == "final" and snap.path == snaps[-1].path)
        kept = keep_dir / snap.path.name if copy else snap.path
        init = _relative(kept)
        if init in done or str(kept.resolve()) in done or _relative(keep_dir / snap.path.name) in done:
            continue
        desc = f"curve {label}: {snap.cpu_seconds / 3600:.2f} CPU-hours (point {point:g} s), step {snap.step}"
        if dry_run:
            rows.append({"init": init, "cpu_s": snap.cpu_seconds, "step": snap.step, "description": desc})
            continue
        if copy:
            _kept(snap, keep_dir, label)
        if progress is not None:
            progress(f"rating {label} at {snap.cpu_seconds / 3600:.2f} CPU-hours")
        spec = TrialSpec(str(exp.dir), budget=0.0, overrides=list(overrides or []), init=init, description=desc)
        row = run_trial(spec, backend, progress=progress)
        if row["status"] != "crash":
            row["status"] = "curve"
        row = ledger.record(row)
        rows.append(row)
        if on_row is not None:
            on_row(row)
        if commit:
            elo = "-" if row["elo"] is None else f"{row['elo']:.0f} [{row['elo_low']:.0f}, {row['elo_high']:.0f}]"
            cal = exp.dir / "calibration.json"  # played before the first row: the panel's scale
            files = [ledger.tsv_path, ledger.db_path] + ([kept] if copy else []) + ([cal] if cal.is_file() else [])
            files += [ledger.scores_path] if ledger.scores_path.is_file() else []
            git_commit(exp, files,
                        f"{exp.dir.name}: curve {label} at {snap.cpu_seconds / 3600:.2f} CPU-hours: Elo {elo}")
    return rows


__all__ = ["Snapshot", "curve_points", "doubling_points", "git_commit", "keep_snapshots", "parse_points", "rate_curve",
           "run_snapshots"]
