"""One research run, start to ledger row: train under a CPU budget, rate on the panel.

`execute_trial(spec)` trains in a subprocess (``gozero.research.worker train``) watched by a
watchdog that reads the process tree's CPU time: past ``kill_factor`` x the budget (or
``wall_factor`` x the budget in wall time) the run is killed and its row says ``crash`` with
its log. A finished run's final network is rated in a second subprocess (its CPU time is the
row's ``eval_cpu_s``, apart from the budget). With ``spec.prune_fractions`` the run stops at
those fractions of its budget, is rated on a smaller panel, and ``on_intermediate(fraction,
elo)`` may end it there (Optuna pruning); training then resumes where it stopped.

Every trial goes through `run_trial`, which calls the backend registered under a name
(``local`` = `execute_trial` in this machine's processes; ``ray`` = one Ray task, see
`gozero.research.cluster_trials`). Another backend registers a function with the same
signature (`register_backend`): it receives a `TrialSpec` and returns the row; the caller
alone writes the ledger.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from gozero.train.config import to_toml
from gozero.train.cputime import tree_cpu_seconds

from .experiment import load_experiment


@dataclass
class TrialSpec:
    """Everything that decides one run (and its ledger row)."""

    exp_dir: str
    seed: int = 0
    budget: float | None = None  # CPU seconds; None: the experiment's
    overrides: list[str] = field(default_factory=list)  # section.key=value beyond the experiment's
    init: str = ""  # start from this checkpoint's weights
    description: str = ""
    trial: int = -1  # Optuna trial number
    prune_fractions: tuple[float, ...] = ()
    run_id: str = ""

    def __post_init__(self) -> None:
        if not self.run_id:
            self.run_id = f"{time.strftime('%Y%m%d-%H%M%S')}-s{self.seed}-{uuid.uuid4().hex[:4]}"


def code_commit() -> str:
    """The git commit of the gozero source that runs (``-dirty`` with uncommitted changes
    outside experiments/), or ``unknown``."""
    src = Path(__file__).resolve().parents[3]
    try:
        head = subprocess.run(["git", "-C", str(src), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                              text=True, timeout=20, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(src), "status", "--porcelain", "--untracked-files=no", "--",
                                "src", "pyproject.toml"], capture_output=True, text=True, timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("-dirty" if dirty else "")


def config_hash(cfg) -> str:
    """Hash of a resolved training config without its seed and budget (runs that differ only
    there share it)."""
    d = cfg.to_dict()
    d["run"] = {k: v for k, v in d["run"].items() if k not in ("seed", "max_cpu_seconds")}
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:12]


class Watchdog:
    """Kills a process group past a CPU or wall limit; says why."""

    def __init__(self, proc: subprocess.Popen, run_dir: Path, cpu_before: float, cpu_limit: float,
                 wall_limit: float):
        self.proc, self.run_dir = proc, run_dir
        self.cpu_before, self.cpu_limit, self.wall_limit = cpu_before, cpu_limit, wall_limit
        self.t0 = time.monotonic()
        self.reason = ""
        self.last_used = cpu_before  # the last reading (a killed process has no CPU time left to read)

    def used(self) -> float:
        """CPU seconds of the run so far: earlier sessions, plus this process tree's since its
        training loop started (its start-up, before the loop, is left out)."""
        start = self.run_dir / "clock_start.json"
        startup = None
        try:
            startup = json.loads(start.read_text())["startup_cpu"] if start.is_file() else None
        except (OSError, ValueError, KeyError):
            startup = None
        if startup is None:
            return self.cpu_before
        return self.cpu_before + max(tree_cpu_seconds(self.proc.pid) - startup, 0.0)

    def wait(self, poll: float = 0.25) -> int:
        while True:
            rc = self.proc.poll()
            if rc is not None:
                return rc
            used = self.last_used = self.used()
            wall = time.monotonic() - self.t0
            if used > self.cpu_limit:
                self.reason = f"killed at {used:.1f} CPU s, past its limit of {self.cpu_limit:.1f} s"
            elif wall > self.wall_limit:
                self.reason = f"killed after {wall:.0f} s of wall time, past its limit of {self.wall_limit:.0f} s"
            if self.reason:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait()
                return -9
            time.sleep(poll)


def _worker(args: list[str], log: Path, cwd: Path | None = None) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}
    src = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    fh = open(log, "a")  # noqa: SIM115 - handed to the child
    try:
        return subprocess.Popen([sys.executable, "-m", "gozero.research.worker", *args], stdout=subprocess.PIPE,
                                stderr=fh, text=True, start_new_session=True, env=env, cwd=cwd)
    finally:
        fh.close()


def _last_json(text: str) -> dict:
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                continue
    return {}


def _tail(path: Path, n: int = 2000) -> str:
    try:
        return path.read_text()[-n:]
    except OSError:
        return ""


def execute_trial(spec: TrialSpec, on_intermediate: Callable[[float, float], bool] | None = None,
                  progress: Callable[[str], None] | None = None) -> dict:
    """Run one trial in local processes; returns its ledger row (status keep/discard left to
    the caller: ``rated``, or ``crash`` / ``pruned``)."""
    say = progress or (lambda s: None)
    exp = load_experiment(spec.exp_dir)
    budget = float(exp.budget if spec.budget is None else spec.budget)
    if budget == 0 and not spec.init:
        raise ValueError("a zero training budget needs an initial checkpoint (--init)")
    overrides = list(spec.overrides) + [f"run.seed={spec.seed}"]
    cfg = exp.config(overrides)
    run_dir = exp.runs_dir / spec.run_id
    train_dir = run_dir / "train"
    run_dir.mkdir(parents=True, exist_ok=False)
    (run_dir / "spec.json").write_text(json.dumps(asdict(spec), indent=1))
    (run_dir / "config.toml").write_text(to_toml(cfg))
    log = run_dir / "run.log"
    row = {"run_id": spec.run_id, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "commit": code_commit(),
           "config_hash": config_hash(cfg), "seed": spec.seed, "budget_s": budget, "cpu_s": 0.0, "eval_cpu_s": 0.0,
           "elo": None, "elo_low": None, "elo_high": None, "raw_elo": None, "status": "rated",
           "description": spec.description, "overrides": json.dumps(list(spec.overrides)), "init": spec.init,
           "trial": spec.trial, "steps": 0, "games": 0, "log": str(log.relative_to(exp.dir))}
    checkpoints = sorted(f * budget for f in spec.prune_fractions if 0 < f < 1) + [budget]
    cpu_limit = exp.kill_factor * budget
    wall_limit = exp.wall_factor * budget + 120.0
    t_start = time.monotonic()
    final = {}
    if budget == 0:  # the test-time track: rate the --init network as it is, with this run's search
        rated = _rate(exp, Path(spec.init), run_dir, log, games=None, raw=True)
        if "error" in rated:
            row.update(status="crash", description=(spec.description + "; " if spec.description else "")
                       + rated["error"])
            return row
        row.update(eval_cpu_s=rated["eval_cpu_s"], elo=rated["elo"], elo_low=rated["low"], elo_high=rated["high"],
                   raw_elo=rated["raw_elo"])
        meta = _checkpoint_meta(Path(spec.init))  # a snapshot's own training CPU, for curves over one run
        row.update(cpu_s=meta.get("cpu_seconds", 0.0), steps=meta.get("step", 0), games=meta.get("games", 0))
        return row
    for k, target in enumerate(checkpoints):
        say(f"training to {target:.0f} of {budget:.0f} CPU s")
        args = ["train", "--run-dir", str(train_dir), "--config", str(run_dir / "config.toml"),
                "--budget", repr(target)]
        if spec.init and k == 0:
            args += ["--init", spec.init]
        proc = _worker(args, log)
        dog = Watchdog(proc, train_dir, row["cpu_s"], cpu_limit, max(wall_limit - (time.monotonic() - t_start), 1.0))
        out_lines: list[str] = []

        def read(stream=proc.stdout, out_lines=out_lines) -> None:
            for line in stream:  # one JSON line per generation
                out_lines.append(line)
                info = _last_json(line)
                if "cpu_seconds" in info and "done" not in info:
                    say(f"step {info.get('step')}, {info['cpu_seconds']:.0f} of {budget:.0f} CPU s")

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        rc = dog.wait()
        reader.join(timeout=10)
        proc.stdout.close()
        final = _last_json("".join(out_lines))
        with open(log, "a") as fh:
            fh.write("".join(out_lines))
        if rc != 0 or not final.get("done"):
            row["cpu_s"] = dog.last_used if dog.reason else max(row["cpu_s"], final.get("cpu_seconds", 0.0))
            why = dog.reason or f"the training process exited with code {rc}: {_tail(log, 300)!r}"
            row.update(status="crash", description=(spec.description + "; " if spec.description else "") + why)
            with open(log, "a") as fh:
                fh.write(f"\n[research] crash: {why}\n")
            return row
        row.update(cpu_s=final["cpu_seconds"], steps=final["step"], games=final["games"])
        (train_dir / "clock_start.json").unlink(missing_ok=True)
        last = k == len(checkpoints) - 1
        rated = _rate(exp, train_dir / "checkpoints" / "model_latest.pt", run_dir, log,
                      games=None if last else exp.prune_games, raw=last)
        if "error" in rated:
            row.update(status="crash", description=(spec.description + "; " if spec.description else "")
                       + rated["error"])
            return row
        row["eval_cpu_s"] += rated["eval_cpu_s"]
        row.update(elo=rated["elo"], elo_low=rated["low"], elo_high=rated["high"],
                   raw_elo=rated["raw_elo"] if last else None)
        say(f"Elo {rated['elo']:.0f} [{rated['low']:.0f}, {rated['high']:.0f}] at {row['cpu_s']:.0f} CPU s")
        if not last and on_intermediate is not None and on_intermediate(target / budget, rated["elo"]):
            row.update(status="pruned", description=(spec.description + "; " if spec.description else "")
                       + f"pruned at {target / budget:.0%} of its budget")
            return row
    return row


def _checkpoint_meta(path: Path) -> dict:
    import torch

    try:
        data = torch.load(path, map_location="cpu", weights_only=False)
    except (OSError, RuntimeError, EOFError):
        return {}
    return {k: data[k] for k in ("cpu_seconds", "step", "games") if k in data}


def _rate(exp, checkpoint: Path, run_dir: Path, log: Path, games: int | None, raw: bool) -> dict:
    args = ["rate", "--experiment", str(exp.dir), "--checkpoint", str(checkpoint), "--config",
            str(run_dir / "config.toml")]
    if games is not None:
        args += ["--games", str(games)]
    if not raw:
        args.append("--no-raw")
    proc = _worker(args, log)
    out, _ = proc.communicate()
    res = _last_json(out or "")
    if proc.returncode != 0 or "elo" not in res:
        return {"error": f"rating failed (exit {proc.returncode}): {_tail(log, 300)!r}"}
    with open(run_dir / "ratings.jsonl", "a") as fh:
        fh.write(json.dumps({"checkpoint": str(checkpoint), **res}) + "\n")
    return res


TrialFn = Callable[..., dict]
_BACKENDS: dict[str, TrialFn] = {"local": execute_trial}


def register_backend(name: str, fn: TrialFn) -> None:
    """Make ``fn(spec, on_intermediate=None, progress=None) -> row`` available as ``--backend name``."""
    _BACKENDS[name] = fn


def run_trial(spec: TrialSpec, backend: str = "local", on_intermediate: Callable[[float, float], bool] | None = None,
              progress: Callable[[str], None] | None = None) -> dict:
    """The one door every trial goes through (``ray`` registers itself on first use)."""
    if backend == "ray" and backend not in _BACKENDS:
        from . import cluster_trials  # noqa: F401 - registers the backend
    if backend not in _BACKENDS:
        raise ValueError(f"unknown trial backend {backend!r}; known: {', '.join(sorted(_BACKENDS))}")
    return _BACKENDS[backend](spec, on_intermediate=on_intermediate, progress=progress)


__all__ = ["TrialSpec", "code_commit", "config_hash", "execute_trial", "register_backend", "run_trial"]
