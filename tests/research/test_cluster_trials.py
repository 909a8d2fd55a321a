"""Research trials on a local Ray cluster (2 CPUs, token authentication on): the mailbox that
carries intermediate ratings to the driver and prune answers back, a lost task and a
crashing trial recorded as crash rows while the sweep goes on, a two-trial sweep with both
trials in flight whose artefacts land on the driver, a zero-budget run whose --init network
comes through the object store, and the clear errors without Ray or with a bad cluster."""

import importlib.util
import json
import os
import sys
from pathlib import Path

import pytest
import torch
from research_setup import make_experiment
from typer.testing import CliRunner

from gozero.cli import app
from gozero.research.experiment import load_experiment
from gozero.research.ledger import Ledger
from gozero.research.sweep import load_study, run_sweep
from gozero.research.trial import TrialSpec
from gozero.train.config import load_config

needs_ray = pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                               reason="Ray is not installed (pip install 'gozero[ray]')")
SRC = str(Path(__file__).resolve().parents[2] / "src")
SPACE = '"train.lr" = { low = 0.001, high = 0.01, log = true }\n"selfplay.full_simulations" = { low = 4, high = 8 }\n'


def test_without_ray_or_with_a_bad_cluster_the_errors_are_clear(monkeypatch, tmp_path):
    folder = make_experiment(tmp_path, space=SPACE)
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now fails
    runner = CliRunner()
    for argv in (["research", "sweep", str(folder), "--trials", "2", "--cluster", "local"],
                 ["research", "run", str(folder), "--cluster", "auto"],
                 ["research", "run", str(folder), "--backend", "ray"]):
        r = runner.invoke(app, argv)
        assert r.exit_code == 2 and "gozero[ray]" in r.output, (argv, r.output)
    r = runner.invoke(app, ["research", "sweep", str(folder), "--cluster", "nowhere"])
    assert r.exit_code == 2 and "HOST:PORT" in r.output
    r = runner.invoke(app, ["research", "run", str(folder), "--cluster", "local", "--backend", "elsewhere"])
    assert r.exit_code == 2 and "ray backend" in r.output
    assert Ledger(folder).rows() == [] and not list((folder / "runs").glob("*"))  # nothing ran


@pytest.fixture(scope="module")
def local_ray(tmp_path_factory):
    """One local Ray instance for the module, started the way `--cluster local` starts it;
    the nodes cache shipped files in a folder of their own."""
    from gozero.train.cluster import ClusterSession

    cache = tmp_path_factory.mktemp("node-cache")
    saved = {k: os.environ.get(k) for k in ("PYTHONPATH", "GOZERO_CLUSTER_CACHE")}
    os.environ["PYTHONPATH"] = os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")])
    os.environ["GOZERO_CLUSTER_CACHE"] = str(cache)
    session = ClusterSession("local", num_cpus=2)
    yield cache
    session.close()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@needs_ray
def test_the_mailbox_carries_intermediate_ratings_and_prune_answers(local_ray, tmp_path):
    from gozero.research.cluster_trials import RayTrials

    def fake_trial(spec, on_intermediate=None, progress=None):  # pickled by value for the node
        import pathlib

        progress(f"seed {spec.seed} training")
        prune = on_intermediate(0.5, 100.0 + spec.seed)
        run = pathlib.Path(spec.exp_dir) / "runs" / spec.run_id
        run.mkdir(parents=True)
        (run / "run.log").write_text(f"trained in {spec.exp_dir}/runs/{spec.run_id}\n")
        return {"run_id": spec.run_id, "status": "pruned" if prune else "rated", "elo": 100.0 + spec.seed,
                "trial": spec.trial, "log": f"runs/{spec.run_id}/run.log", "description": spec.exp_dir}

    folder = make_experiment(tmp_path)
    asked, said = {}, []

    def answer(fraction: float, elo: float, seed: int) -> bool:  # seed 1 is pruned, seed 2 goes on
        asked[seed] = (fraction, elo)
        return seed == 1

    specs = [TrialSpec(str(folder), seed=s, trial=s) for s in (1, 2)]
    with RayTrials("local", trial_fn=fake_trial) as pool:
        assert pool.slots == 2
        for spec in specs:  # both in flight: each answer must reach its own trial
            pool.submit(spec, on_intermediate=lambda f, e, s=spec.seed: answer(f, e, s), progress=said.append)
        done = []
        while pool.in_flight():
            done += pool.wait()
    assert asked == {1: (0.5, 101.0), 2: (0.5, 102.0)}
    assert sorted(said) == ["seed 1 training", "seed 2 training"]
    rows = {spec.seed: row for spec, row in done}
    assert rows[1]["status"] == "pruned" and rows[2]["status"] == "rated"
    for spec in specs:
        scratch = rows[spec.seed]["description"]
        assert scratch != str(folder) and not Path(scratch).exists()  # ran in a scratch copy, since removed
        log = (folder / rows[spec.seed]["log"]).read_text()  # written here, the node's path made ours
        assert log == f"trained in {folder}/runs/{spec.run_id}\n"


@needs_ray
def test_a_config_file_preset_outside_the_folder_travels_with_the_trial(local_ray, tmp_path):
    from gozero.research.cluster_trials import RayTrials
    from gozero.research.experiment import new_experiment
    from gozero.train.config import to_toml

    def fake_trial(spec, on_intermediate=None, progress=None):  # the node loads the experiment it got
        from gozero.research.experiment import load_experiment as load

        cfg = load(spec.exp_dir).config()
        return {"run_id": spec.run_id, "status": "rated", "elo": float(cfg.net.blocks), "trial": spec.trial,
                "description": f"{cfg.game.size}"}

    base = tmp_path / "study.toml"
    base.write_text(to_toml(load_config(preset="tiny", overrides=["game.size=6", "net.blocks=2"])))
    folder = new_experiment("file preset", str(base), tmp_path / "exps", budget=10, members=["random"],
                            date="2026-01-01")
    sub = folder / "pilot"  # a sub-experiment whose preset is its parent's file: "../study.toml"
    sub.mkdir()
    (sub / "experiment.toml").write_text((folder / "experiment.toml").read_text().replace(
        'preset = "study.toml"', 'preset = "../study.toml"'))
    assert load_experiment(sub).config().net.blocks == 2
    with RayTrials("local", trial_fn=fake_trial) as pool:
        pool.submit(TrialSpec(str(sub), seed=0))
        done = []
        while pool.in_flight():
            done += pool.wait()
    (_, row), = done
    assert row["elo"] == 2.0 and row["description"] == "6"


@needs_ray
def test_a_lost_task_and_a_crashing_trial_are_crash_rows_and_the_sweep_goes_on(local_ray, tmp_path):
    from gozero.research.cluster_trials import RayTrials

    attempts = tmp_path / "attempts.txt"

    def fake_trial(spec, on_intermediate=None, progress=None, attempts=str(attempts)):
        import os
        import signal

        if spec.trial == 0:  # the process running the trial is killed, on every attempt
            with open(attempts, "a") as fh:
                fh.write(f"{os.getpid()}\n")
            os.kill(os.getpid(), signal.SIGKILL)
        if spec.trial == 1:
            raise RuntimeError("this spec crashes")
        return {"run_id": spec.run_id, "status": "rated", "elo": 50.0, "elo_low": 10.0, "elo_high": 90.0,
                "trial": spec.trial, "seed": spec.seed, "budget_s": spec.budget, "cpu_s": 1.0, "eval_cpu_s": 1.0,
                "description": spec.description, "overrides": json.dumps(spec.overrides),
                "log": f"runs/{spec.run_id}/run.log"}

    exp = load_experiment(make_experiment(tmp_path / "exp", space=SPACE))
    rows = []
    run_sweep(exp, trials=3, budget=20.0, prune=False, on_row=lambda r, n: rows.append(r),
              pool=RayTrials("local", trial_fn=fake_trial))
    by_trial = {r["trial"]: r for r in Ledger(exp.dir).rows()}
    assert sorted(by_trial) == [0, 1, 2] and len(rows) == 3
    assert by_trial[0]["status"] == "crash" and "lost twice" in by_trial[0]["description"]
    assert len(attempts.read_text().split()) == 2  # Ray ran it once more, then gave up
    assert by_trial[1]["status"] == "crash" and "RuntimeError: this spec crashes" in by_trial[1]["description"]
    assert by_trial[2]["status"] == "keep" and by_trial[2]["elo"] == 50.0
    for t in (0, 1):  # the driver wrote what the crash rows point to
        r = by_trial[t]
        assert "crash" in (exp.dir / r["log"]).read_text() and r["config_hash"]
        assert json.loads((exp.dir / "runs" / r["run_id"] / "spec.json").read_text())["trial"] == t
    study = load_study(exp)
    assert [t.state.name for t in study.trials] == ["FAIL", "FAIL", "COMPLETE"]
    assert all(t.user_attrs.get("crash") for t in study.trials[:2])


@needs_ray
@pytest.mark.slow
def test_a_two_trial_sweep_runs_both_at_once_and_records_here(local_ray, tmp_path):
    folder = make_experiment(tmp_path, budget=6.0, space=SPACE)
    r = CliRunner().invoke(app, ["research", "sweep", str(folder), "--trials", "2", "--budget", "6s", "--cluster",
                                 "local", "--json"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    ledger = Ledger(folder).rows()
    assert len(rows) == 2 and sorted(x["run_id"] for x in ledger) == sorted(x["run_id"] for x in rows)
    assert sorted(x["trial"] for x in ledger) == [0, 1]
    for row in ledger:
        assert row["status"] in ("keep", "discard"), row["description"]
        assert row["elo_low"] <= row["elo"] <= row["elo_high"] and row["steps"] > 0 and 6.0 <= row["cpu_s"]
        run = folder / "runs" / row["run_id"]
        assert row["log"] == f"runs/{row['run_id']}/run.log" and "[research]" not in (folder / row["log"]).read_text()
        assert json.loads((run / "spec.json").read_text())["exp_dir"] == str(folder)
        lr = next(x for x in json.loads(row["overrides"]) if x.startswith("train.lr="))
        assert load_config(file=run / "config.toml").train.lr == float(lr.split("=")[1])
        ratings = [json.loads(x) for x in (run / "ratings.jsonl").read_text().splitlines()]
        assert len(ratings) == 2 and all(x["checkpoint"].startswith(str(run)) for x in ratings)  # paths made ours
        model = torch.load(run / "train" / "checkpoints" / "model_latest.pt", weights_only=False)
        assert model["step"] == row["steps"]
    assert (folder / "calibration.json").is_file()  # played on a node, kept here
    assert not (folder / ".calibration.lock").exists()  # the nodes wrote nothing in the folder
    trials = load_study(load_experiment(folder)).trials
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE"]
    assert all(set(t.intermediate_values) == {500} for t in trials)  # rated at half budget, told to Optuna here
    first_done = min(t.datetime_complete for t in trials)
    assert all(t.datetime_start < first_done for t in trials)  # both were in flight at once


@needs_ray
@pytest.mark.slow
def test_a_zero_budget_run_gets_its_init_network_through_the_object_store(local_ray, tmp_path):
    from gozero.net.model import build_model
    from gozero.train.loop import save_model_file

    folder = make_experiment(tmp_path / "exp")
    cfg = load_experiment(folder).config()
    ckpt = tmp_path / "init.pt"
    save_model_file(build_model(cfg.net), cfg.net, ckpt, step=7, generation=1)
    r = CliRunner().invoke(app, ["research", "run", str(folder), "--budget", "0", "--init", str(ckpt), "--cluster",
                                 "local", "--json"])
    assert r.exit_code == 0, r.output
    row = json.loads(r.stdout)
    assert row["status"] == "keep" and row["init"] == str(ckpt) and row["steps"] == 7
    assert json.loads((folder / "runs" / row["run_id"] / "spec.json").read_text())["init"] == str(ckpt)
    cached = list(local_ray.glob("*.pt"))  # the node read the checkpoint from its cache, by content hash
    assert len(cached) == 1 and cached[0].read_bytes() == ckpt.read_bytes()
    assert Ledger(folder).rows()[0]["run_id"] == row["run_id"]
