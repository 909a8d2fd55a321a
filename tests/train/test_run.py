"""Training runs end to end with tiny settings: the run directory, resume after SIGKILL
(no finished game lost, the step counter goes on), and the concurrent mode with one worker."""

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from gozero.selfplay.shards import pending_paths, shard_paths
from gozero.train.config import load_config
from gozero.train.loop import TrainingRun

FAST = ["run.games_per_generation=8", "selfplay.parallel_games=8", "selfplay.full_simulations=4",
        "selfplay.cheap_simulations=2", "train.batch_size=32", "train.min_steps_per_generation=4",
        "run.shard_positions=48", "run.torch_threads=1", 'run.device="cpu"', "selfplay.sgf_every=4"]


def _metrics(run_dir: Path) -> list[dict]:
    path = run_dir / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _games_on_disk(run_dir: Path) -> tuple[set[str], int]:
    """Names of finished games (sources of sealed shards and pending files) and their
    positions. A game may be both sealed and pending after a kill between sealing and
    deleting: it counts once (the writer deletes the pending copy on restart)."""
    names, positions = set(), 0
    for p in shard_paths(run_dir):
        with np.load(p) as z:
            names |= set(z["sources"].tolist())
            positions += len(z["policy_weight"])
    for p in pending_paths(run_dir):
        if p.name in names:
            continue
        try:
            with np.load(p) as z:
                positions += len(z["policy_weight"])
            names.add(p.name)
        except (OSError, ValueError):
            pass  # sealed and removed meanwhile
    return names, positions


def test_alternating_run_writes_its_directory(tmp_path):
    cfg = load_config(preset="tiny", overrides=FAST + ["run.max_generations=2"])
    run = TrainingRun.create(tmp_path, cfg, log=lambda s: None)
    rows, events = [], []
    run.run(on_generation=lambda r: (rows.append(r), events.append(("row", r["generation"]))),
            on_progress=lambda gen, p: events.append(("progress", gen, p.games, p.games_target)))
    assert [r["generation"] for r in rows] == [1, 2] and run.generation == 2
    # each generation's self-play is reported before its row, ending with its games finished
    for gen in (1, 2):
        row_at = events.index(("row", gen))
        mine = [e for e in events[:row_at] if e[0] == "progress" and e[1] == gen]
        assert mine and mine[-1][2] >= mine[-1][3] == 8
    assert (tmp_path / "config.toml").exists() and load_config(file=tmp_path / "config.toml") == cfg
    ck = tmp_path / "checkpoints"
    data = torch.load(ck / "latest.pt", weights_only=False)
    assert data["step"] == run.trainer.step == rows[-1]["step"] >= 2 * 4
    assert data["generation"] == 2 and data["games"] == run.games >= 16
    assert {"model", "net", "optimizer", "rng", "config"} <= set(data)
    snaps = sorted(p.name for p in ck.glob("step_*.pt"))
    assert snaps[0] == "step_00000000.pt" and f"step_{run.trainer.step:08d}.pt" in snaps and len(snaps) == 3
    assert (ck / "model_latest.pt").exists()
    assert [r["generation"] for r in _metrics(tmp_path)] == [1, 2]
    assert all(np.isfinite(r["loss_loss"]) for r in rows)
    names, positions = _games_on_disk(tmp_path)
    assert positions == run.positions and len(names) <= run.games
    assert shard_paths(tmp_path) and list((tmp_path / "sgf").glob("*.sgf"))
    with pytest.raises(FileExistsError, match="--resume"):
        TrainingRun.create(tmp_path, cfg)


def test_a_step_budget_ends_the_run_exactly_there_mid_generation(tmp_path):
    cfg = load_config(preset="tiny", overrides=FAST + ["run.max_steps=6", "run.max_generations=10"])
    run = TrainingRun.create(tmp_path, cfg, log=lambda s: None)
    rows = []
    run.run(on_generation=rows.append)
    assert run.trainer.step == 6 and rows[-1]["step"] == 6 and sum(r["train_steps"] for r in rows) == 6
    planned = [max(4, round(cfg.train.sample_reuse * (r["positions"] - p) / 32))
               for r, p in zip(rows, [0] + [r["positions"] for r in rows[:-1]], strict=True)]
    assert sum(planned) > 6  # the budget cut the last generation's round short
    assert (tmp_path / "checkpoints" / "step_00000006.pt").is_file()
    batches = [json.loads(line) for line in (tmp_path / "batches.jsonl").read_text().splitlines()]
    assert [b["step"] for b in batches] == list(range(1, 7))
    again = TrainingRun.resume(tmp_path, log=lambda s: None)  # resumed at its budget: nothing more
    again.run()
    assert again.trainer.step == 6 and again.generation == run.generation


def test_a_round_counts_only_the_new_positions_its_window_still_holds(tmp_path, monkeypatch):
    cfg = load_config(preset="tiny", overrides=FAST + ["train.sample_reuse=2.0", "train.batch_size=32",
                                                      "train.min_steps_per_generation=1",
                                                      "train.max_steps_per_generation=1000"])
    run = TrainingRun.create(tmp_path, cfg, log=lambda s: None)
    planned = []

    def record(window, steps: int) -> dict:
        planned.append(steps)
        return {}
    monkeypatch.setattr(run, "_train_steps", record)

    class Window:  # holds 160 positions
        def __len__(self) -> int:
            return 160

    run._train_round(Window(), 48)  # fewer than the window: 2 x 48 / 32
    run._train_round(Window(), 10_000)  # workers outran the trainer: only the 160 it holds count
    assert planned == [3, 10]


def test_train_only_goes_on_from_the_checkpoint_without_selfplay(tmp_path):
    cfg = load_config(preset="tiny", overrides=FAST + ["run.max_generations=1"])
    run = TrainingRun.create(tmp_path, cfg, log=lambda s: None)
    run.run()
    step0, games0, pos0 = run.trainer.step, run.games, run.positions
    names0, _ = _games_on_disk(tmp_path)
    before = {k: v.clone() for k, v in run.model.state_dict().items()}
    r = subprocess.run(_train_cmd("--resume", str(tmp_path), "--train-steps", "7", "--set", "train.lr=0.0005",
                                  "--set", "train.warmup_steps=0"),
                       env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert f"now at step {step0 + 7}" in " ".join(r.stderr.split())
    data = torch.load(tmp_path / "checkpoints" / "latest.pt", weights_only=False)
    assert data["step"] == step0 + 7 and data["games"] == games0 and data["positions"] == pos0
    assert data["generation"] == 1 and data["config"]["train"]["lr"] == 0.0005
    assert any(not torch.equal(before[k], data["model"][k]) for k in before)
    assert _games_on_disk(tmp_path)[0] == names0  # no self-play happened
    row = _metrics(tmp_path)[-1]
    assert row["phase"] == "train_only" and row["step"] == step0 + 7 and row["lr"] == pytest.approx(0.0005)
    # checkpoints every few steps: 7 steps in rounds of 3 write three snapshots
    resumed = TrainingRun.resume(tmp_path, log=lambda s: None)
    assert resumed.train_only(7, checkpoint_every=3) == 7
    assert [x["train_steps"] for x in _metrics(tmp_path)[-3:]] == [3, 3, 1]
    assert (tmp_path / "checkpoints" / f"step_{step0 + 14:08d}.pt").exists()
    bad = subprocess.run(_train_cmd("--preset", "tiny", "--train-steps", "5"), capture_output=True, text=True,
                         timeout=120)
    assert bad.returncode == 2 and "--train-steps needs --resume" in bad.stderr
    empty = TrainingRun.create(tmp_path / "fresh", cfg, log=lambda s: None)
    with pytest.raises(ValueError, match="no self-play data"):
        empty.train_only(3)


def test_export_model_writes_a_small_model_file_that_plays_the_same(tmp_path):
    from gozero.net.features import NUM_GLOBALS, NUM_PLANES
    from gozero.net.inference import load_checkpoint_model

    cfg = load_config(preset="tiny", overrides=FAST)
    TrainingRun.create(tmp_path / "run", cfg, log=lambda s: None)
    latest = tmp_path / "run" / "checkpoints" / "latest.pt"
    out = tmp_path / "model.pt"
    r = subprocess.run(_gozero_cmd("export-model", str(latest), str(out), "--source", "test run"),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    data = torch.load(out, weights_only=False)
    assert set(data) == {"model", "net", "step", "generation", "games", "positions", "hours", "cpu_seconds", "source"}
    assert data["source"] == "test run" and data["step"] == 0
    assert all(v.dtype == torch.float16 for v in data["model"].values() if v.is_floating_point())
    assert out.stat().st_size < 0.6 * latest.stat().st_size  # no optimizer state, half the bytes per weight
    full, _ = load_checkpoint_model(latest)
    half, _ = load_checkpoint_model(out)
    assert next(half.parameters()).dtype == torch.float32  # loaded back into fp32
    x = torch.rand(4, NUM_PLANES, cfg.game.size, cfg.game.size).round()
    g = torch.zeros(4, NUM_GLOBALS)
    with torch.no_grad():
        a, b = full(x, g), half(x, g)
    assert torch.allclose(a["policy"], b["policy"], atol=2e-2) and not torch.equal(a["policy"], b["policy"])
    bad = subprocess.run(_gozero_cmd("export-model", str(tmp_path / "none.pt"), str(tmp_path / "x.pt")),
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "none.pt" in bad.stderr and not (tmp_path / "x.pt").exists()


def _gozero_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "gozero.cli", *args]


def _train_cmd(*args: str) -> list[str]:
    return _gozero_cmd("train", *args)


@pytest.mark.slow
def test_resume_after_sigkill(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    d = tmp_path / "run"
    sets = [x for s in FAST + ["run.max_generations=200"] for x in ("--set", s)]
    proc = subprocess.Popen(_train_cmd("--preset", "tiny", "--run-dir", str(d), *sets), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        # after the first checkpoint that follows training, plus a moment into the next generation
        while len(_metrics(d)) < 1:
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "no generation finished in time"
            time.sleep(0.2)
        before = len(_games_on_disk(d)[0])
        while len(_games_on_disk(d)[0]) < before + 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    games_at_kill, positions_at_kill = _games_on_disk(d)
    ck = torch.load(d / "checkpoints" / "latest.pt", weights_only=False)
    gen0, step0 = ck["generation"], ck["step"]
    assert gen0 >= 1 and step0 > 0
    assert len(games_at_kill) > ck["games"] * 0.5  # games played after the checkpoint are on disk too

    r = subprocess.run(_train_cmd("--resume", str(d), "--set", f"run.max_generations={gen0 + 2}"), env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert f"resumed {d} at generation {gen0}, step {step0}" in " ".join(r.stderr.split())
    games_after, positions_after = _games_on_disk(d)
    assert games_at_kill <= games_after, "finished games were lost"
    assert positions_after > positions_at_kill
    rows = _metrics(d)
    assert [x["generation"] for x in rows][-2:] == [gen0 + 1, gen0 + 2]
    resumed = [x for x in rows if x["generation"] > gen0]
    assert resumed[0]["step"] > step0 and resumed[1]["step"] > resumed[0]["step"]
    latest = torch.load(d / "checkpoints" / "latest.pt", weights_only=False)
    assert latest["generation"] == gen0 + 2 and latest["step"] == resumed[-1]["step"]


@pytest.mark.slow
def test_concurrent_mode_with_one_worker(tmp_path):
    cfg = load_config(preset="tiny", overrides=FAST + ["run.max_generations=1", "run.selfplay_workers=1",
                                                       "run.generation_positions=40"])
    run = TrainingRun.create(tmp_path, cfg, log=lambda s: None)
    rows, reports = [], []
    run.run(on_generation=rows.append, on_progress=lambda gen, p: reports.append((gen, p)))
    assert [r["generation"] for r in rows] == [1] and rows[0]["train_steps"] >= 4
    # while the worker plays, the positions that have arrived count towards the target
    assert reports and {gen for gen, _ in reports} == {1}
    assert all(p.positions_target == 40 and 0 <= p.positions < 40 for _, p in reports)
    assert (tmp_path / "workers" / "STOP").exists()
    assert not multiprocessing.active_children(), "the self-play worker is still running"
    names, positions = _games_on_disk(tmp_path)
    assert positions >= 40 and names
    assert all("w00" in p.parts or p.name.startswith("shard_w00_") for p in pending_paths(tmp_path)
               + shard_paths(tmp_path))
    data = torch.load(tmp_path / "checkpoints" / "latest.pt", weights_only=False)
    assert data["generation"] == 1 and data["step"] == rows[0]["step"]
