"""The processes a research run starts: ``python -m gozero.research.worker train|rate ...``.

``train`` creates (or resumes) a training directory and runs `TrainingRun` until its
``run.max_cpu_seconds``; before the loop starts it writes ``RUN/clock_start.json`` (the CPU
the process spent starting up, which the watchdog leaves out of the budget). ``rate`` plays
a checkpoint against the experiment's panel (calibrating the panel first if the experiment
has no calibration yet) and prints one JSON line: the Elo, its interval, the raw network's
Elo, the scores and the evaluation's CPU seconds (this process and its engine processes).
Both run with one torch thread, so that runs compare and repeat.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path


def _die_with_parent() -> None:
    """Ask Linux to kill this process when the bench process that started it dies (a killed
    sweep leaves no training running behind it)."""
    import os
    import signal

    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before the request took effect
        os.kill(os.getpid(), signal.SIGKILL)


def _one_thread() -> None:
    import torch

    torch.set_num_threads(1)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set in this process
        pass


def _warm_up(cfg) -> None:
    """One self-play move of a throwaway network before the clock starts, so that compiling
    the numba kernels (the first run after a code change) is not charged to the budget."""
    from gozero.net.inference import NetEvaluator
    from gozero.net.model import build_model
    from gozero.rules import Rules
    from gozero.selfplay.selfplay import SelfPlay

    ev = NetEvaluator(build_model(cfg.net), device="cpu", precision="fp32", seed=0)
    rules = Rules(komi=cfg.game.komi, ko=cfg.game.ko, suicide=cfg.game.suicide)
    SelfPlay(ev, cfg.game.size, rules, cfg.search, cfg.selfplay, None, seed=0).step()


def train_main(a: argparse.Namespace) -> int:
    import torch

    from gozero.train.config import load_config
    from gozero.train.loop import TrainingRun

    _one_thread()
    run_dir = Path(a.run_dir)
    if (run_dir / "checkpoints" / "latest.pt").exists():
        run = TrainingRun.resume(run_dir, overrides=[f"run.max_cpu_seconds={a.budget!r}"])
    else:
        cfg = load_config(file=a.config, overrides=[f"run.max_cpu_seconds={a.budget!r}"])
        run = TrainingRun.create(run_dir, cfg)
        if a.init:
            data = torch.load(a.init, map_location="cpu", weights_only=False)
            if "model" not in data:
                raise SystemExit(f"--init {a.init}: not a gozero checkpoint")
            run.model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in data["model"].items()})
            run.save_checkpoint()
    _warm_up(run.cfg)
    (run_dir / "clock_start.json").write_text(json.dumps({"startup_cpu": time.process_time(),
                                                          "cpu_seconds": run.cpu_seconds}))
    run.run(on_generation=lambda row: print(json.dumps({"generation": row["generation"], "step": row["step"],
                                                        "cpu_seconds": row["cpu_seconds"]}), flush=True))
    run.save_checkpoint()
    print(json.dumps({"done": True, "cpu_seconds": run.cpu_seconds, "step": run.trainer.step, "games": run.games,
                      "generation": run.generation}), flush=True)
    return 0


def calibration(exp, progress=print) -> list[tuple[str, str, float]]:
    """The experiment's calibration games, played now (once, under a lock) if missing or stale."""
    from gozero.train.cputime import CPUClock

    from .panel import calibrate, missing_members

    path = exp.dir / "calibration.json"
    fp = exp.panel.fingerprint()
    with open(exp.dir / ".calibration.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.is_file():
            data = json.loads(path.read_text())
            if data.get("fingerprint") == fp:
                return [tuple(r) for r in data["games"]]
        missing = missing_members(exp.panel, exp.dir)
        if missing:
            raise SystemExit("the panel cannot play here: " + "; ".join(missing))
        clock = CPUClock()
        games = calibrate(exp.panel, exp.dir, progress=progress)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"fingerprint": fp, "panel": asdict(exp.panel), "cpu_seconds": clock.seconds(),
                                   "games": games}, indent=1))
        tmp.replace(path)
        return games


def rate_main(a: argparse.Namespace) -> int:
    from gozero.net.inference import load_checkpoint_model
    from gozero.train.cputime import CPUClock

    from .experiment import load_experiment
    from .panel import missing_members, rate

    _one_thread()
    exp = load_experiment(a.experiment)
    cal_clock = CPUClock()
    cal = calibration(exp, progress=lambda s: print(s, file=sys.stderr, flush=True))
    cal_cpu = cal_clock.seconds()
    missing = missing_members(exp.panel, exp.dir)
    if missing:
        raise SystemExit("the panel cannot play here: " + "; ".join(missing))
    clock = CPUClock()
    model, _ = load_checkpoint_model(a.checkpoint)
    search = None
    if a.config:
        from gozero.train.config import load_config

        search = load_config(file=a.config).search
    res = rate(model, exp.panel_for_rating(a.games), cal, exp.dir,
               progress=lambda s: print(s, file=sys.stderr, flush=True), raw=not a.no_raw, search=search)
    out = {**asdict(res), "eval_cpu_s": clock.seconds(), "calibration_cpu_s": cal_cpu}
    print(json.dumps(out), flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m gozero.research.worker")
    sub = ap.add_subparsers(dest="job", required=True)
    t = sub.add_parser("train", help="train a run directory up to a CPU budget (resuming it if it exists)")
    t.add_argument("--run-dir", required=True)
    t.add_argument("--config", help="the run's full TOML config (for a new run)")
    t.add_argument("--budget", type=float, required=True, help="run.max_cpu_seconds: total CPU seconds so far")
    t.add_argument("--init", default="", help="start from this checkpoint's weights")
    r = sub.add_parser("rate", help="rate a checkpoint on an experiment's panel")
    r.add_argument("--experiment", required=True)
    r.add_argument("--checkpoint", required=True)
    r.add_argument("--games", type=int, default=None, help="games per member (default: the panel's)")
    r.add_argument("--no-raw", action="store_true", help="skip the raw network's games")
    r.add_argument("--config", help="the run's TOML config: the rated network searches with its [search]")
    a = ap.parse_args(argv)
    _die_with_parent()
    return train_main(a) if a.job == "train" else rate_main(a)


if __name__ == "__main__":
    sys.exit(main())
