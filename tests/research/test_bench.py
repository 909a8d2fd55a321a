"""The research bench end to end on the tiny preset: budgets, crashes, sweeps, resumption,
the ledger under a kill, and repeatability."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from research_setup import FAST, make_experiment

from gozero.research.experiment import load_experiment
from gozero.research.ledger import NAMES, Ledger
from gozero.research.report import write_report
from gozero.research.rerate import rerate
from gozero.research.sweep import load_study, run_sweep
from gozero.research.trial import TrialSpec, run_trial
from gozero.train.config import load_config
from gozero.train.loop import TrainingRun

SRC = str(Path(__file__).resolve().parents[2] / "src")
SPACE = '"train.lr" = { low = 0.001, high = 0.01, log = true }\n"selfplay.full_simulations" = { low = 4, high = 8 }\n'


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}


def test_training_stops_at_its_cpu_budget_and_counts_on_after_resume(tmp_path):
    over = [f"{k}={v}" for k, v in FAST.items()] + ['run.device="cpu"']
    warm = TrainingRun.create(tmp_path / "warm", load_config(preset="tiny", overrides=over + ["run.max_generations=1"]),
                              log=lambda s: None)
    warm.run()  # numba compiles its kernels once (a cold cache would spend the budget on it)
    over.append("run.max_cpu_seconds=2.0")
    run = TrainingRun.create(tmp_path / "run", load_config(preset="tiny", overrides=over), log=lambda s: None)
    run.run()
    first = run.cpu_seconds
    assert 2.0 <= first < 4.0  # checked between moves and steps: it stops soon after the budget
    data = torch.load(tmp_path / "run" / "checkpoints" / "latest.pt", weights_only=False)
    assert 2.0 <= data["cpu_seconds"] <= first  # the checkpoint knows the budget is spent (a resume trains no more)
    again = TrainingRun.resume(tmp_path / "run", log=lambda s: None)
    steps = again.trainer.step
    again.run()  # the budget is spent already: nothing happens
    assert again.trainer.step == steps
    more = TrainingRun.resume(tmp_path / "run", log=lambda s: None, overrides=["run.max_cpu_seconds=4.0"])
    more.run()
    assert more.cpu_seconds >= 4.0 and more.trainer.step > steps


@pytest.mark.slow
def test_two_trial_sweep_end_to_end(tmp_path):
    exp = load_experiment(make_experiment(tmp_path, budget=20.0, space=SPACE))
    rows = []
    run_sweep(exp, trials=2, budget=20.0, prune=False, on_row=lambda r, n: rows.append(r))
    assert len(rows) == 2 and [r["trial"] for r in rows] == [0, 1]
    ledger = Ledger(exp.dir).rows()
    assert [r["run_id"] for r in ledger] == [r["run_id"] for r in rows]
    for r in ledger:
        assert r["status"] in ("keep", "discard"), r["description"]
        assert r["elo_low"] <= r["elo"] <= r["elo_high"] and r["raw_elo"] is not None
        assert 20.0 <= r["cpu_s"] <= 30.0 and r["eval_cpu_s"] > 0 and r["steps"] > 0
        assert "train.lr=" in r["overrides"] and "selfplay.full_simulations=" in r["overrides"]
    assert ledger[0]["status"] == "keep"
    tsv = (exp.dir / "results.tsv").read_text().splitlines()
    assert tsv[0].split("\t") == list(NAMES) and len(tsv) == 3
    study = load_study(exp)
    assert [t.value for t in study.trials] == [r["elo"] for r in rows]
    out = subprocess.run([sys.executable, "-m", "gozero.cli", "research", "report", str(exp.dir), "--json"],
                         capture_output=True, text=True, env=_env(), timeout=300)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["runs"] == 2
    assert (exp.dir / "report.png").stat().st_size > 1000 and "Keep / discard" in (exp.dir / "report.md").read_text()
    # each row's rating is kept beside the ledger, and re-rating it from there gives the row back
    kept = Ledger(exp.dir).stored_ratings()
    assert sorted(kept) == sorted(r["run_id"] for r in rows) and all(kept[r["run_id"]]["scores"] for r in rows)
    again = rerate(exp)
    assert again["changed"] == [] and again["unchanged"] == 2 and again["missing"] == []
    # a re-rated row: the report's trial table shows the ledger's Elo beside the sweep's
    moved = {**(r := Ledger(exp.dir).rows()[1]), **{k: r[k] + 1234.0 for k in ("elo", "elo_low", "elo_high")}}
    Ledger(exp.dir).update([moved])
    write_report(exp)
    table = (exp.dir / "report.md").read_text().split("## Best sweep trials")[1]
    first = [ln for ln in table.splitlines() if ln.startswith("| 1 |")][0]
    assert first.split(" | ")[1:3] == [f"{moved['elo']:.0f}", f"{rows[1]['elo']:.0f}"]
    assert table.index("| 1 |") < table.index("| 0 |")  # ordered by the ledger's Elo


@pytest.mark.slow
def test_a_sweep_killed_mid_trial_resumes(tmp_path):
    folder = make_experiment(tmp_path, budget=10.0, space=SPACE)
    argv = [sys.executable, "-m", "gozero.cli", "research", "sweep", str(folder), "--trials", "1", "--no-prune",
            "--json"]
    proc = subprocess.Popen(argv, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:  # kill it once its trial is training
        if list((folder / "runs").glob("*/train/clock_start.json")):
            break
        time.sleep(0.2)
    else:
        pytest.fail("the sweep's trial never started training")
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    exp = load_experiment(folder)
    assert Ledger(folder).rows() == []
    killed = load_study(exp).trials[0]
    out = subprocess.run(argv, env=_env(), capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    rows = Ledger(folder).rows()
    assert len(rows) == 1 and rows[0]["status"] == "keep"
    trials = load_study(exp).trials
    assert [t.state.name for t in trials] == ["FAIL", "COMPLETE"]
    assert trials[1].params == killed.params  # the killed trial's point is tried again


@pytest.mark.slow
def test_a_run_past_its_budget_is_killed_and_recorded_as_a_crash(tmp_path):
    folder = make_experiment(tmp_path, budget=1.0)
    # one self-play move of 2048 games at 64 simulations costs far more than 1.5 CPU seconds,
    # and the budget is only checked between moves
    spec = TrialSpec(str(folder), seed=0, overrides=["selfplay.parallel_games=2048", "selfplay.full_simulations=64",
                                                     "selfplay.cheap_simulations=64", "run.games_per_generation=2048"])
    row = Ledger(folder).record(run_trial(spec))
    assert row["status"] == "crash" and "past its limit" in row["description"]
    assert row["cpu_s"] > 1.5 and row["elo"] is None
    log = (folder / row["log"]).read_text()
    assert "crash" in log
    assert Ledger(folder).rows()[0]["run_id"] == row["run_id"]


LEDGER_WRITER = """
import sys
from gozero.research.ledger import Ledger
led = Ledger(sys.argv[1])
i = 0
while True:
    led.append({"run_id": f"r{i}", "status": "keep", "description": "x" * 5000, "seed": i, "elo": float(i)})
    i += 1
"""


def test_the_ledger_survives_a_kill_during_a_write(tmp_path):
    Ledger(tmp_path).ensure()
    for k in range(4):
        proc = subprocess.Popen([sys.executable, "-c", LEDGER_WRITER, str(tmp_path)], env=_env())
        time.sleep(1.0 + 0.37 * k)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if k < 3:
            (tmp_path / ".ledger.lock").exists()
        rows = Ledger(tmp_path).rows()  # readable, and the TSV is brought up to date
        lines = (tmp_path / "results.tsv").read_text().splitlines()
        assert len(lines) == len(rows) + 1 and lines[0].split("\t") == list(NAMES)
        assert all(len(line.split("\t")) == len(NAMES) for line in lines)
        assert [r["seed"] for r in rows] == sorted(r["seed"] for r in rows)
    assert rows, "the writer never wrote a row"


@pytest.mark.slow
def test_the_same_seed_and_config_give_the_same_row(tmp_path):
    folder = make_experiment(tmp_path, budget=120.0)
    rows = [run_trial(TrialSpec(str(folder), seed=5, overrides=["run.max_generations=2"])) for _ in range(2)]
    timing = {"run_id", "time", "cpu_s", "eval_cpu_s", "log"}
    a, b = ({k: v for k, v in r.items() if k not in timing} for r in rows)
    assert a == b and a["status"] == "rated" and a["steps"] > 0
    other = run_trial(TrialSpec(str(folder), seed=6, overrides=["run.max_generations=2"]))
    assert other["config_hash"] == a["config_hash"]  # the seed is not part of the config hash


@pytest.mark.slow
def test_a_zero_budget_run_rates_its_initial_network_with_the_runs_search(tmp_path):
    folder = make_experiment(tmp_path / "exp")
    over = [f"{k}={v}" for k, v in FAST.items()] + ["run.max_generations=1", 'run.device="cpu"']
    run = TrainingRun.create(tmp_path / "run", load_config(preset="tiny", overrides=over), log=lambda s: None)
    run.run()
    run.save_checkpoint()
    snap = sorted((tmp_path / "run" / "checkpoints").glob("step_*.pt"))[-1]
    row = run_trial(TrialSpec(str(folder), budget=0.0, init=str(snap), overrides=["search.algorithm=puct"]))
    assert row["status"] == "rated" and row["elo_low"] <= row["elo"] <= row["elo_high"]
    assert row["cpu_s"] == pytest.approx(run.cpu_seconds, abs=1.0) and row["steps"] == run.trainer.step
    assert not (folder / "runs" / row["run_id"] / "train").exists()  # nothing was trained
    with pytest.raises(ValueError, match="--init"):
        run_trial(TrialSpec(str(folder), budget=0.0))
    # with a budget, --init trains on from that network's weights
    row = run_trial(TrialSpec(str(folder), budget=60.0, init=str(snap), overrides=["run.max_generations=1"]))
    assert row["status"] == "rated" and row["init"] == str(snap)
    first = torch.load(folder / "runs" / row["run_id"] / "train" / "checkpoints" / "step_00000000.pt",
                       weights_only=False)["model"]
    init = torch.load(snap, weights_only=False)["model"]
    assert all(torch.equal(first[k].float(), init[k].float()) for k in init)
