"""The pg-vs-search study, stage by stage, on the research bench: train every run of a stage
under its CPU budget (resuming a run left by a stop), then rate it on the stage's panel with
``gozero research curve`` (one ledger row per rated checkpoint). Idempotent: run it again
after any stop and it goes on where it was; two copies at once (one per core) take different
runs (a lock file per run). With ``--until`` a copy starts no training it cannot finish by
then (a session's end); ratings, committed point by point, it always takes. Budgets (README
"Deviations"): a core arm's main run trains its arm's *work*, the training steps its seed 0 had
done at 1 reference CPU-hour, and is rated at those fractions of the steps (`work_steps`);
the runs trained before that rule (`CPU_RULE`) and the pilot and 9x9 runs train CPU seconds
of the reference machine: a run on a machine more than 15 % off trains budget / speed of its
own. Every run's machine is measured before it trains.

    python experiments/pg-vs-search/study.py status
    taskset -c 0 nice python experiments/pg-vs-search/study.py pilot [--arms A1,A2] [--commit]
    taskset -c 1 nice python experiments/pg-vs-search/study.py main [--arms A5] [--seeds 0,1,2] [--commit]
    taskset -c 1 nice python experiments/pg-vs-search/study.py main --train-first --until HH:MM --commit
    taskset -c 1 nice python experiments/pg-vs-search/study.py main --full-first --commit   full-budget points first
    python experiments/pg-vs-search/study.py frozen          the pilot's winners, per arm
    taskset -c 0 nice python experiments/pg-vs-search/study.py confirm --commit   the 9x9 confirmation

The arms, grids, seeds, budgets and checkpoint fractions are the ones pre-registered in
README.md; the pilot's winners are read from the pilot ledger (highest Elo on the pilot
panel, ties to the first listed configuration), and a main run of an arm waits until its
pilot is complete. ``--commit`` commits each ledger row as it arrives; a main run's
snapshots to rate are kept (``EXP/snapshots/LABEL/``, fp16) and committed as soon as it is
trained, so that its ratings go on from a clone once the machine that trained it is gone.

``confirm`` is the pre-registered 9x9 confirmation (README "9x9 confirmation"): once every
core main run is rated it picks the pair (the best search arm and the best policy-gradient
arm), trains each of them that has no 9x9 run yet with the 9x9 CPU curve's setup (a search
arm on both cores: a trainer and two self-play processes; a policy-acting arm alternating on
one, README Deviations 2026-12-07) and rates it on that experiment's panel. A5's 9x9 run is
the curve's own run (label ``9x9-cpu-curve``).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from gozero.research.report import curve_label

HERE = Path(__file__).resolve().parent
BASE = HERE / "base.toml"
PILOT = HERE / "pilot"  # the pilot's experiment folder (its own panel and ledger)
MACHINES = HERE / "machines.jsonl"  # what a CPU-second bought where each run trained (throughput.py)
RUNS = HERE / "runs"  # training runs (ignored by git; the ledgers and the snapshots rated are committed)
# Runs whose folder was lost with its machine before every point was rated (README
# "Deviations"): the rows rated from it stay in the ledger, and the analysis leaves out the
# rows of that label written before the time given, and the machine measures too (`speed`);
# the run is trained again, same label. A7-c0 was measured, then lost before its first checkpoint.
# 9x9-A2's first attempt (00:29) was voided; the cut sits before its retrain's measure (01:34:01).
LOST = {"A3-s0": "2026-12-02T04:00:00Z", "A4-s0": "2026-12-02T04:00:00Z", "A7-c0": "2026-12-02T16:00:00Z",
        "9x9-A2": "2026-12-07T01:34:00Z"}

# arm -> (name, overrides); README.md "Arms"
ARMS: dict[str, tuple[str, list[str]]] = {
    "A1": ("reinforce", ["selfplay.acting=\"policy\"", "train.policy_loss=\"reinforce\"", "train.sample_reuse=1.0",
                         "train.window_min=8192", "train.window_max=8192"]),
    "A2": ("ppo", ["selfplay.acting=\"policy\"", "train.policy_loss=\"ppo\"", "train.sample_reuse=1.0",
                   "train.window_min=8192", "train.window_max=8192"]),
    "A3": ("onehot", ["train.policy_loss=\"onehot\""]),
    "A4": ("puct", ["search.algorithm=\"puct\""]),
    "A5": ("gumbel", []),
    "A6": ("pg_q", ["train.policy_loss=\"pg_q\""]),
    "A7": ("reanalyse", ["train.reanalyse_fraction=0.25", "train.reanalyse_simulations=16"]),
}
CORE, OPTIONAL = ("A1", "A2", "A3", "A4", "A5"), ("A6", "A7")

_LR = ["train.lr=0.002", "train.lr=0.0005"]
# arm -> the pilot's 2 x 2 grid, in the order listed in README.md "Pilot" (ties go to the first)
GRIDS: dict[str, list[list[str]]] = {
    "A1": [[lr, ent] for lr in _LR for ent in ("train.entropy_coef=0.01", "train.entropy_coef=0.001")],
    "A2": [[lr, *ge] for lr in _LR for ge in (["train.gae_lambda=1.0", "train.ppo_epochs=4"],
                                               ["train.gae_lambda=0.95", "train.ppo_epochs=2"])],
    **{a: [[lr, reuse] for lr in _LR for reuse in ("train.sample_reuse=2.0", "train.sample_reuse=4.0")]
       for a in ("A3", "A4", "A5")},
    "A6": [[lr, ent] for lr in _LR for ent in ("train.entropy_coef=0.01", "train.entropy_coef=0.001")],
    "A7": [[lr, frac] for lr in _LR for frac in ("train.reanalyse_fraction=0.25", "train.reanalyse_fraction=0.5")],
}
PILOT_SEED, PILOT_BUDGET = 100, 900.0  # 0.25 CPU-hour
MAIN_SEEDS, MAIN_BUDGET = (0, 1, 2), 3600.0  # 1 CPU-hour
FRACTIONS = (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1 / 2)  # and the run's last checkpoint

# What one core of the compute plan's machine (the development VM every run before 2026-12-02
# trained on) did per CPU second, in the order of throughput.py's rows (README "Compute plan").
# The budgets are CPU seconds of that machine: a run on a machine whose measure (`speed`) is
# outside SAME_MACHINE of it trains budget / speed of its own CPU seconds (README "Deviations").
REFERENCE = {"raw-policy moves": 5434.0, "Gumbel moves": 503.0, "PUCT moves": 503.0, "search steps": 7.4,
             "PPO steps": 1.8, "reanalyse steps": 4.3}
SAME_MACHINE = 0.15  # back-to-back measures on one machine differ by up to this much

# the 9x9 confirmation (README "9x9 confirmation"): the 9x9 CPU curve's experiment, budget and launch
NINE = HERE.parent / "2026-12-01-9x9-cpu-curve"
NINE_PRESET, NINE_BUDGET, NINE_SEED, NINE_FIRST = "9x9", 14400.0, 0, 120.0  # NINE_FIRST: --doubling 2m
NINE_SETUP = ["run.torch_threads=1", "run.device=\"cpu\"", "run.keep_checkpoints=0", "selfplay.sgf_every=0",
              "run.selfplay_workers=2"]
# README "Deviations", 2026-12-07: an arm that acts with the raw policy trains alternating
# (self-play, then training, in one process) as every 7x7 run did, with generations of 32
# games (about 3,800 positions: the registered two generations in its 8,192-position window);
# beside two raw-policy workers its trainer saw 5 % of what they played
NINE_POLICY_SETUP = ["run.selfplay_workers=0", "run.games_per_generation=32", "selfplay.parallel_games=32"]
NINE_CURVE = "9x9-cpu-curve"  # the curve's own run: Gumbel with completed-Q targets, the preset's default (A5)
# the keys of an arm's frozen pilot configuration that are its own (the learning rate and the
# search arms' sample reuse stay the 9x9 preset's)
OWN_KEYS = {"A1": ("train.entropy_coef",), "A2": ("train.gae_lambda", "train.ppo_epochs"),
            "A6": ("train.entropy_coef",), "A7": ("train.reanalyse_fraction",)}


# README "Deviations", 2026-12-06: the budget rule revisited. The main runs trained under the
# CPU rule before it stand as trained (these labels); every other main run of a core arm trains
# `work_steps` of its arm, and every main run's ratings are placed by their training steps
# over that budget (`work_fraction`). A1-s1 fell short of it (0.87), A2-s1, A3-s1 and A4-s1
# went past it: theirs are the snapshots kept at the step where they matched it (LABEL-work).
CPU_RULE = ("A1-s0", "A2-s0", "A3-s0", "A4-s0", "A5-s0", "A1-s1", "A2-s1", "A3-s1", "A4-s1")
SIGNALS = HERE / "signals.json"  # per trained run: games, steps, signals (analyse.py collect)
WORK_SPARE = 1.25  # --until: a step budget's wall time over what the machine's measure says
WORK_TOLERANCE = 0.02  # a rating up to this far past its run's work budget counts as at the budget


def gozero(*args: str) -> list[str]:
    return [sys.executable, "-m", "gozero.cli", *args]


def ledger_rows(folder: Path) -> list[dict]:
    from gozero.research.ledger import Ledger

    return Ledger(folder).rows() if (folder / "ledger.sqlite").exists() else []


def lost(row: dict) -> bool:
    """Whether a ledger row was rated from a run folder since lost (`LOST`)."""
    cut = LOST.get(curve_label(row)) if (row.get("description") or "").startswith("curve ") else None
    return cut is not None and (row.get("time") or "") < cut


def curve_rows(folder: Path) -> list[dict]:
    """The ratings that count in a ledger (``curve LABEL: ...`` rows): a crashed one (redone)
    and the rows of a lost run are left out."""
    return [r for r in ledger_rows(folder) if r["status"] == "curve" and not lost(r)
            and (r.get("description") or "").startswith("curve ")]


def _curve_rows(folder: Path, label: str) -> list[dict]:
    """The ratings of one run (`curve_rows`)."""
    return [r for r in curve_rows(folder) if curve_label(r) == label]


def cpu_name() -> str:
    """This machine's CPU, as /proc/cpuinfo names it."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_ratios(line: dict) -> dict[str, float]:
    """A throughput.py measure (a line of machines.jsonl) over the reference, per row."""
    got = [r.get("moves_per_s", r.get("steps_per_s")) for r in line["rows"]]
    return {k: v / REFERENCE[k] for k, v in zip(REFERENCE, got, strict=True) if v}


def machine_speed(line: dict) -> float | None:
    """The geometric mean of a measure's rows over the reference (None without rows)."""
    ratios = machine_ratios(line)
    return math.exp(statistics.mean(math.log(v) for v in ratios.values())) if ratios else None


def measures() -> list[dict]:
    if not MACHINES.is_file():
        return []
    return [json.loads(line) for line in MACHINES.read_text().splitlines() if line.strip()]


def speed(label: str) -> float | None:
    """What a CPU second of the machine the run trains on buys, over the reference: its first
    measure (taken before it trained; later ones, on a resume, do not move its budget), leaving
    out those of a lost attempt (`LOST`); None if it has none."""
    first = budget_measure(label, measures())
    return machine_speed(first) if first else None


def budget_measure(label: str, lines: list[dict]) -> dict | None:
    """The measure of ``lines`` that sets the run's budget: its first after its `LOST` cut."""
    cut = LOST.get(label, "")
    return next((m for m in lines if m.get("label") == label and m.get("time", "") >= cut), None)


def budget_scale(f: float | None) -> float:
    """A run's budget in its own CPU seconds per reference CPU second: 1 on a machine within
    SAME_MACHINE of the reference (or not measured), else 1 / ``f``."""
    return 1.0 if f is None or abs(f - 1.0) <= SAME_MACHINE else 1.0 / f


def scaled(job: dict, f: float | None) -> dict:
    """The job with its budget and points in CPU seconds of a machine of speed ``f``."""
    k = budget_scale(f)
    return {**job, "budget": job["base_budget"] * k,
            "points": [frac * job["base_budget"] * k for frac in job["fractions"]]}


def reference_seconds(label: str, cpu_s: float) -> float:
    """A run's CPU seconds in CPU seconds of the reference (`budget_scale` of its measure)."""
    return cpu_s / budget_scale(speed(label))


def work_steps(arm: str) -> int | None:
    """An arm's work budget: the training steps its seed 0 had done at 1 reference CPU-hour
    (its final count in signals.json); None for an arm with no such run (A6, A7)."""
    if arm not in CORE or not SIGNALS.is_file():
        return None
    got = json.loads(SIGNALS.read_text()).get(f"{arm}-s0")
    return int(got["steps"]) if got and got.get("steps") else None


def main_arm(label: str) -> str | None:
    """The arm of a main run's label (``A3-s1`` -> ``A3``), None for any other label."""
    arm, _, seed = label.partition("-s")
    return arm if arm in ARMS and seed.isdigit() else None


def work_fraction(label: str, steps: int) -> float | None:
    """A main run's ``steps`` over its arm's work budget (`work_steps`); None outside them."""
    arm = main_arm(label)
    n = work_steps(arm) if arm else None
    return steps / n if n else None


def _label(stage: str, arm: str, index: int) -> str:
    return f"{arm}-c{index}" if stage == "pilot" else f"{arm}-s{index}"


def pilot_winner(arm: str) -> tuple[int, dict] | None:
    """(grid index, row) of the arm's best pilot configuration, once all of them are rated."""
    rows = {curve_label(r): r for r in ledger_rows(PILOT)
            if r["status"] == "curve" and r["elo"] is not None}
    got = [rows.get(_label("pilot", arm, k)) for k in range(len(GRIDS[arm]))]
    if any(r is None for r in got):
        return None
    best = max(range(len(got)), key=lambda k: (got[k]["elo"], -k))
    return best, got[best]


def jobs(stage: str, arms: list[str], seeds: list[int]) -> list[dict]:
    """The stage's runs in the order they are taken: the pilot arm by arm; the main runs seed
    by seed (every arm's seed 0 first), so that a complete comparison of one seed comes first."""
    out = []
    if stage == "pilot":
        for arm in arms:
            for k, grid in enumerate(GRIDS[arm]):
                label = _label(stage, arm, k)
                out.append(scaled({"label": label, "arm": arm, "overrides": ARMS[arm][1] + grid,
                                   "seed": PILOT_SEED, "base_budget": PILOT_BUDGET, "fractions": [], "exp": PILOT},
                                  speed(label)))
        return out
    frozen = {}
    for arm in arms:
        won = pilot_winner(arm)
        if won is None:
            print(f"{arm}: its pilot is not complete; main runs wait", file=sys.stderr)
        else:
            frozen[arm] = won[0]
    for s in seeds:
        for arm, k in frozen.items():
            label = _label(stage, arm, s)
            job = {"label": label, "arm": arm, "overrides": ARMS[arm][1] + GRIDS[arm][k], "seed": s, "exp": HERE}
            n = work_steps(arm)
            if n and label not in CPU_RULE:  # the arm's work: points in training steps
                out.append({**job, "steps": n, "points": [f * n for f in FRACTIONS], "speed": speed(label)})
                continue
            job = scaled({**job, "base_budget": MAIN_BUDGET, "fractions": list(FRACTIONS)}, speed(label))
            work = kept_dir(job).with_name(f"{label}-work")
            out.append({**job, "work": work} if work.is_dir() else job)
    return out


def nine_label(arm: str) -> str:
    return NINE_CURVE if arm == "A5" else f"9x9-{arm}"


def confirm_jobs(pair: tuple[str, ...]) -> list[dict]:
    """The 9x9 runs the pair still needs (A5's is the 9x9 CPU curve's run, already there). Its
    budget and points are the curve's (4 CPU-hours; 2 minutes, 4, 8, ... and the last
    snapshot) in reference CPU seconds, so a run on another machine rates at the curve's
    points (README "Deviations")."""
    from gozero.research.curve import doubling_points

    fractions = [p / NINE_BUDGET for p in doubling_points(NINE_FIRST, NINE_BUDGET)]
    out = []
    for arm in pair:
        if arm == "A5":
            continue
        won = pilot_winner(arm)
        own = [kv for kv in (GRIDS[arm][won[0]] if won else []) if kv.split("=")[0] in OWN_KEYS.get(arm, ())]
        label = nine_label(arm)
        setup = NINE_SETUP
        if 'selfplay.acting="policy"' in ARMS[arm][1]:
            mine = {kv.split("=")[0] for kv in NINE_POLICY_SETUP}
            setup = [kv for kv in NINE_SETUP if kv.split("=")[0] not in mine] + NINE_POLICY_SETUP
        out.append(scaled({"label": label, "arm": arm, "overrides": setup + ARMS[arm][1] + own,
                           "seed": NINE_SEED, "base_budget": NINE_BUDGET, "fractions": fractions, "exp": NINE,
                           "preset": NINE_PRESET}, speed(label)))
    return out


def kept_dir(job: dict) -> Path:
    return job["exp"] / "snapshots" / job["label"]


_read: dict[str, float] | None = None  # `done` per label while `one_read` holds


@contextlib.contextmanager
def one_read():
    """Within it, `done` reads each run's checkpoint once: one pass over the stage's runs
    asks it of a run several times (`rated`, `_trained`, the --until fit)."""
    global _read
    _read = {}
    try:
        yield
    finally:
        _read = None


def done(job: dict) -> float:
    """How far the job's run has trained, in its budget's unit (training steps for a job with
    a work budget, ``steps``; CPU seconds otherwise): its run folder's latest checkpoint, else
    the last of its kept snapshots (a run trained on another machine), else 0."""
    if _read is None:
        return _done(job)
    if job["label"] not in _read:
        _read[job["label"]] = _done(job)
    return _read[job["label"]]


def _done(job: dict) -> float:
    import torch

    from gozero.research.curve import run_snapshots

    key = "step" if "steps" in job else "cpu_seconds"
    latest = RUNS / job["label"] / "checkpoints" / "latest.pt"
    if latest.is_file():
        return float(torch.load(latest, map_location="cpu", weights_only=False).get(key, 0.0))
    try:
        return max(float(getattr(s, key)) for s in run_snapshots(kept_dir(job)))
    except (FileNotFoundError, ValueError):
        return 0.0


def goal(job: dict) -> float:
    """The job's budget in `done`'s unit: its steps for a work budget, else its CPU seconds."""
    return job.get("steps", job.get("budget", 0.0))


def _trained(job: dict) -> bool:
    return done(job) >= goal(job)


def snapshot_step(path: Path) -> int:
    """The training step of a snapshot file, from its name (``step_00002512.pt``)."""
    return int(path.stem.split("_")[-1])


def _has_row(job: dict, steps: set[int]) -> bool:
    """Whether the job's run has a row at any of these training steps."""
    return any(r["steps"] in steps for r in _curve_rows(job["exp"], job["label"]))


def _work_rated(job: dict) -> bool:
    """Whether the snapshot kept where a run matched its arm's work budget (``job["work"]``)
    has its row."""
    return _has_row(job, {snapshot_step(p) for p in job["work"].glob("step_*.pt")})


def full_rated(job: dict) -> bool:
    """Whether the last of the job's kept snapshots (its full-budget point) has its row; false
    while none is kept."""
    steps = [snapshot_step(p) for p in kept_dir(job).glob("step_*.pt")]
    return bool(steps) and _has_row(job, {max(steps)})


def rated(job: dict) -> bool:
    """Whether every point of the job's run has its row (a 9x9 run, whose first doubling
    points may share a snapshot: once its run's last snapshot has one; a run with a snapshot
    kept at its arm's work budget: that one too)."""
    rows = _curve_rows(job["exp"], job["label"])
    if job.get("preset"):
        return _trained(job) and any(r["cpu_s"] >= job["budget"] for r in rows)
    every = len(rows) >= (len(job["points"]) + 1 if job["points"] else 1)
    return every and (not job.get("work") or _work_rated(job))


def step_points(source: Path, steps: list[float]) -> list[float]:
    """The CPU seconds of the last snapshot at or before each of ``steps`` (training steps) in
    a run or a folder of kept snapshots: the points `research curve` takes to rate them."""
    from gozero.research.curve import run_snapshots

    snaps = run_snapshots(source)
    out = []
    for n in steps:
        before = [s for s in snaps if s.step <= n + 1e-6]
        if before:
            out.append(before[-1].cpu_seconds)
    return out


PILOT_RATING_WALL = 900.0  # a pilot run's one rating (80 games), which needs its run folder


def wall_estimate(job: dict, so_far: float) -> float:
    """Seconds of wall-clock time the job still needs before what it did is safe in git, its
    run having trained ``so_far`` (`done`): its training's CPU seconds left over
    the cores it runs on (two for a 9x9 confirmation run with self-play workers, one
    otherwise), with a tenth spare, and for a pilot run (which keeps no network) its rating.
    A work budget's steps take 1 reference CPU-hour for all of them, over the machine's
    ``job["speed"]``, with `WORK_SPARE` (the measure has misjudged machines by up to a third).
    A main run's snapshots are committed once it is trained, and each rating as it is done."""
    if "steps" in job:
        return max(job["steps"] - so_far, 0.0) / job["steps"] * MAIN_BUDGET / (job.get("speed") or 1.0) * WORK_SPARE
    cores = 2 if job.get("preset") and "run.selfplay_workers=0" not in job.get("overrides", ()) else 1
    left = max(job["budget"] - so_far, 0.0) / cores * 1.1
    return left + (PILOT_RATING_WALL if not job["points"] else 0.0)


def _throughput(label: str, path: Path, seconds: float = 10.0) -> bool:
    """Append what one core of this machine buys (``throughput.py``, ``seconds`` CPU s per
    row) under ``label`` to ``path``. One measure at a time on a machine (``RUNS/.measure.lock``):
    two copies measuring at once read it slower than one does (README "Deviations", 2026-12-06)."""
    argv = [sys.executable, str(HERE / "throughput.py"), "--seconds", f"{seconds:g}", "--label", label,
            "--append", str(path)]
    RUNS.mkdir(parents=True, exist_ok=True)
    with open(RUNS / ".measure.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return subprocess.run(argv, stdout=subprocess.DEVNULL, check=False).returncode == 0


def measure_here(seconds: float = 10.0) -> float | None:
    """This machine's speed (`machine_speed`), measured now and kept nowhere: what ``--until``
    estimates a run not yet measured by (the run's own measure, taken when it starts, sets
    its budget)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "probe.jsonl"
        if not _throughput("probe", path, seconds):
            return None
        return machine_speed(json.loads(path.read_text().splitlines()[-1]))


def measure_machine(job: dict, commit: bool) -> None:
    """Append what one core of this machine buys under the run's label to ``machines.jsonl``
    (committed with ``commit``): CPU seconds are the budget, and machines differ in what they
    buy."""
    if _throughput(job["label"], MACHINES) and commit:
        from gozero.research.curve import git_commit
        from gozero.research.experiment import load_experiment

        git_commit(load_experiment(HERE), [MACHINES], f"pg-vs-search: the machine {job['label']} trains on, measured")


def rate_work(job: dict, commit: bool) -> None:
    """Rate the snapshot kept where a run trained under the CPU rule matched its arm's work
    budget (``snapshots/LABEL-work/``), as one more row of the run (README "Deviations")."""
    argv = gozero("research", "curve", str(job["exp"]), str(job["work"]), "--label", job["label"], "--final-only",
                  "--keep", "none", *(["--commit"] if commit else []))
    print(f"[study] {job['label']}: rating its snapshot at its arm's work budget", file=sys.stderr, flush=True)
    subprocess.run(argv, check=False)


def collect_signals(job: dict, commit: bool) -> None:
    """Take a trained main run's signals into signals.json (``analyse.py collect``, one copy
    at a time) and commit it: the run folder stays on this machine, the signals in git."""
    import analyse  # this folder is on sys.path (the script's own)

    with open(RUNS / ".signals.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        got = analyse.collect(only={job["label"]})
    if commit and job["label"] in got:
        from gozero.research.curve import git_commit
        from gozero.research.experiment import load_experiment

        git_commit(load_experiment(HERE), [SIGNALS], f"pg-vs-search: signals of {job['label']}")


def run_job(job: dict, commit: bool, rate: bool = True, final_only: bool = False) -> None:
    """Train the job's run to its budget (resuming), keep its snapshots to rate and, with
    ``rate``, rate them (with ``final_only``, only its last snapshot: the full-budget point)."""
    run = RUNS / job["label"]
    if job.get("work") and len(_curve_rows(job["exp"], job["label"])) >= len(job["points"]) + 1:
        return rate_work(job, commit)  # trained and rated by the CPU rule: its work point is what is left
    budget = job.get("budget")
    if not _trained(job):
        measure_machine(job, commit)
        if "steps" in job:  # a work budget: the steps end it, whatever the machine
            limits = [f"run.max_steps={job['steps']}", "run.max_cpu_seconds=0"]
        if "base_budget" in job:  # its budget in this machine's CPU seconds (README "Deviations")
            job = scaled(job, speed(job["label"]))
            budget = job["budget"]
            print(f"[study] {job['label']}: {job['base_budget']:g} reference CPU s = {budget:.0f} CPU s here",
                  file=sys.stderr, flush=True)
            if _trained(job):
                return run_job(job, commit, rate)
            limits = [f"run.max_cpu_seconds={budget}"]
        if (run / "checkpoints" / "latest.pt").is_file():
            argv = gozero("train", "--resume", str(run), *(f"--set={kv}" for kv in limits))
        else:
            from gozero.research.experiment import load_experiment
            from gozero.train.config import load_config, to_toml

            extra = job["overrides"] + [f"run.seed={job['seed']}", *limits]
            if job.get("preset"):  # the 9x9 confirmation: the preset as a laptop runs it + the arm's keys
                cfg = load_config(preset=job["preset"], overrides=extra)
            else:
                cfg = load_experiment(job["exp"]).config(extra)
            conf = RUNS / f"{job['label']}.toml"  # base.toml + the experiment's overrides + the arm's
            conf.write_text(to_toml(cfg))
            argv = gozero("train", "--config", str(conf), "--run-dir", str(run))
        print(f"[study] {job['label']}: training to " + (f"{job['steps']} steps" if "steps" in job else
                                                       f"{budget:g} CPU s"), file=sys.stderr, flush=True)
        with open(RUNS / f"{job['label']}.log", "a") as log:
            rc = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT).returncode
        if rc != 0 or not _trained(job):
            print(f"[study] {job['label']}: training stopped (exit {rc}); see {RUNS / job['label']}.log",
                  file=sys.stderr)
            return
    # a main run and a 9x9 run keep (and commit) every snapshot they rate before the first
    # rating and are rated from them; the pilot keeps no network and rates its last checkpoint
    keep = "all" if job["points"] else "none"
    snaps = run if (run / "checkpoints").is_dir() else kept_dir(job)  # where the steps' CPU seconds are read
    points = step_points(snaps, job["points"]) if "steps" in job else job["points"]
    which = ["--points", ",".join(f"{p:.6f}" for p in points)] if points and not final_only else ["--final-only"]
    source = run  # what is rated: the run folder, or the snapshots kept from it
    if keep == "all":
        if (run / "checkpoints").is_dir():
            argv = gozero("research", "curve", str(job["exp"]), str(run), "--label", job["label"], *which,
                          "--keep-only", *(["--commit"] if commit else []))
            if subprocess.run(argv, check=False).returncode != 0:
                print(f"[study] {job['label']}: its snapshots were not kept; rating waits", file=sys.stderr)
                return
            if not job.get("preset"):
                collect_signals(job, commit)
        source = kept_dir(job)
    if not rate:
        return
    argv = gozero("research", "curve", str(job["exp"]), str(source), "--label", job["label"], "--keep", keep, *which)
    if commit:
        argv.append("--commit")
    print(f"[study] {job['label']}: rating", file=sys.stderr, flush=True)
    subprocess.run(argv, check=False)


def until_time(text: str, now: datetime | None = None) -> float:
    """``HH:MM`` (UTC, its next occurrence: today, or tomorrow once it has passed today, so a
    session that crosses midnight can name its end) or an ISO 8601 time -> a Unix time."""
    try:
        if len(text) <= 5 and ":" in text:
            hh, mm = (int(x) for x in text.split(":"))
            now = now or datetime.now(timezone.utc)
            at = now.replace(hour=hh, minute=mm, second=0, microsecond=0)
            return (at if at > now else at + timedelta(days=1)).timestamp()
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return (t if t.tzinfo else t.replace(tzinfo=timezone.utc)).timestamp()
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a time (HH:MM UTC or ISO 8601): {text!r}") from exc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("stage", choices=["pilot", "main", "confirm", "status", "frozen"])
    ap.add_argument("--arms", default=",".join(CORE), help="comma-separated arms (A1..A7)")
    ap.add_argument("--seeds", default=",".join(map(str, MAIN_SEEDS)))
    ap.add_argument("--commit", action="store_true", help="git-commit each ledger row as it arrives")
    ap.add_argument("--until", type=until_time, default=None,
                    help="start no training that cannot finish by then (UTC: HH:MM, its next occurrence, or ISO 8601)")
    ap.add_argument("--train-first", action="store_true",
                    help="train (and keep the snapshots of) every run that fits before --until, rating none: "
                         "a session's training first, the ratings, which any machine can do, after")
    ap.add_argument("--full-first", action="store_true",
                    help="rate every trained main run's full-budget point (its last snapshot) before any "
                         "other point: the hypotheses are judged there")
    args = ap.parse_args()
    arms = [a.strip() for a in args.arms.split(",") if a.strip()]
    for a in arms:
        if a not in ARMS:
            ap.error(f"unknown arm {a!r}")
    seeds = [int(s) for s in args.seeds.split(",")]
    if args.stage == "frozen":
        print(json.dumps({a: (None if (w := pilot_winner(a)) is None else
                              {"config": w[0], "overrides": GRIDS[a][w[0]], "elo": w[1]["elo"]})
                          for a in arms}, indent=1))
        return
    pair = None
    if args.stage in ("confirm", "status"):
        import analyse  # this folder is on sys.path (the script's own)

        pair = analyse.confirm_pair(analyse.curve_table(HERE, MAIN_BUDGET))
    if args.stage == "status":
        for stage in ("pilot", "main", "confirm"):
            for job in (jobs(stage, arms, seeds) if stage != "confirm" else confirm_jobs(pair or ())):
                state = "rated" if rated(job) else "trained" if _trained(job) else \
                    "started" if (RUNS / job["label"]).exists() else "to do"
                print(f"{stage:7s} {job['label']:8s} {state:8s} {len(_curve_rows(job['exp'], job['label']))} rows")
        print("confirm pair: " + (" vs ".join(pair) if pair else "waits for every core main run's full-budget rating"))
        return
    if args.stage == "confirm" and pair is None:
        print("the 9x9 confirmation waits for every core main run's full-budget rating", file=sys.stderr)
        return
    RUNS.mkdir(parents=True, exist_ok=True)
    tried: set[str] = set()
    here: list[float | None] = []  # this machine's speed, measured once if --until needs it

    def stage_jobs() -> list[dict]:
        return confirm_jobs(pair) if args.stage == "confirm" else jobs(args.stage, arms, seeds)

    def fits(j: dict) -> bool:  # rating work always fits; training only if it ends before --until
        if args.until is None or j.get("work"):  # a CPU-rule run left with its work point: a rating
            return True
        if ("base_budget" in j and speed(j["label"]) is None) or ("steps" in j and j.get("speed") is None):
            if not here:  # not measured yet: this machine, measured now
                here.append(measure_here())
            j = scaled(j, here[0]) if "base_budget" in j else {**j, "speed": here[0]}
        so_far = done(j)
        return so_far >= goal(j) or time.time() + wall_estimate(j, so_far) <= args.until

    full_first = args.full_first and args.stage == "main" and not args.train_first
    firsts: set[str] = set()  # --full-first: the runs whose full-budget point this copy took

    def rate_full(job: dict) -> None:
        firsts.add(job["label"])  # once per invocation, as below
        run_job(job, args.commit, final_only=True)

    def take_on(job: dict) -> None:
        tried.add(job["label"])  # once per invocation: a run that stopped is not retried in a loop
        run_job(job, args.commit, rate=not args.train_first)

    while True:  # the list is read again after every run: an arm whose pilot completes meanwhile joins
        with one_read():
            todo = [j for j in stage_jobs() if j["label"] not in tried and not rated(j) and fits(j)
                    and not (args.train_first and (j.get("work") or _trained(j)))]
            first = [j for j in todo if j["label"] not in firsts and not j.get("work") and _trained(j)
                     and not full_rated(j)] if full_first else []
        if first and _take(first, rate_full):
            continue
        if not _take(todo, take_on):
            return


def _take(todo: list[dict], work) -> bool:
    """Do ``work`` on the first of ``todo`` whose lock file this copy can hold (the other copy
    holds the one it works on); whether there was one."""
    for job in todo:
        with open(RUNS / f".{job['label']}.lock", "a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue
            work(job)
            return True
    return False

if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
