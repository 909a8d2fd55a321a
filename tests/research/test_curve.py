"""`gozero research curve`: snapshots picked at points of CPU time, rated once each, kept small,
committed as they arrive, drawn in the report."""

import subprocess
from pathlib import Path

import pytest
import torch
from research_setup import FAST, make_experiment

from gozero.research.curve import Snapshot, curve_points, doubling_points, parse_points, rate_curve, run_snapshots
from gozero.research.experiment import load_experiment
from gozero.research.ledger import Ledger
from gozero.research.report import write_report
from gozero.train.config import load_config
from gozero.train.loop import TrainingRun


def _snaps(*cpu: float) -> list[Snapshot]:
    return [Snapshot(Path(f"step_{k:08d}.pt"), k, c, 10 * k) for k, c in enumerate(cpu)]


def test_each_point_takes_the_last_snapshot_at_or_before_it():
    snaps = _snaps(0.0, 50.0, 130.0, 250.0, 260.0, 700.0)
    picks = curve_points(snaps, [60.0, 120.0, 240.0, 480.0])
    assert [(p, s.cpu_seconds) for p, s in picks] == [(60.0, 50.0), (240.0, 130.0), (480.0, 260.0),
                                                       (700.0, 700.0)]  # 120 would repeat 50: rated once
    assert [s.cpu_seconds for _, s in curve_points(snaps, [480.0], final=False)] == [260.0]
    assert curve_points(_snaps(100.0), [10.0], final=False) == []  # nothing at or before the point


def test_points_parse_and_double():
    assert doubling_points(60.0, 14400.0) == [60.0 * 2 ** k for k in range(8)]  # 60 s ... 7680 s
    assert doubling_points(60.0, 30.0) == []
    assert parse_points("4m, 1m,2m,1m") == [60.0, 120.0, 240.0]
    with pytest.raises(ValueError):
        parse_points("soon")
    with pytest.raises(ValueError):
        doubling_points(0.0, 10.0)


@pytest.mark.slow
def test_a_runs_curve_is_rated_once_per_point_kept_small_and_committed(tmp_path, monkeypatch):
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run(["git", "-C", str(repo), "config", "user.email", "t@example.org"], check=True)
    subprocess.run(["git", "-C", str(repo), "config", "user.name", "t"], check=True)
    monkeypatch.chdir(repo)
    folder = make_experiment(repo / "experiments")
    over = [f"{k}={v}" for k, v in FAST.items()] + ["run.max_generations=3", 'run.device="cpu"']
    run = TrainingRun.create(tmp_path / "long-run", load_config(preset="tiny", overrides=over), log=lambda s: None)
    run.run()
    snaps = run_snapshots(tmp_path / "long-run")
    assert len(snaps) >= 3 and snaps[-1].cpu_seconds == pytest.approx(run.cpu_seconds, abs=0.5)
    exp = load_experiment(folder)
    first_point = (snaps[1].cpu_seconds + snaps[2].cpu_seconds) / 2  # between the 2nd and 3rd snapshot
    planned = rate_curve(exp, tmp_path / "long-run", [first_point], dry_run=True)
    assert [r["step"] for r in planned] == [snaps[1].step, snaps[-1].step]
    assert not (folder / "snapshots").exists()  # a dry run writes nothing

    rows = rate_curve(exp, tmp_path / "long-run", [first_point], commit=True)
    assert [r["status"] for r in rows] == ["curve", "curve"]
    assert [r["cpu_s"] for r in rows] == pytest.approx([snaps[1].cpu_seconds, snaps[-1].cpu_seconds], abs=0.01)
    assert all(r["elo_low"] <= r["elo"] <= r["elo_high"] for r in rows)
    kept = folder / "snapshots" / "long-run" / snaps[-1].path.name
    data = torch.load(kept, weights_only=False)
    assert all(v.dtype == torch.float16 for v in data["model"].values() if v.is_floating_point())
    assert data["cpu_seconds"] == pytest.approx(snaps[-1].cpu_seconds)
    assert rows[-1]["init"] == str(kept.relative_to(repo))  # re-runnable from a clone
    log = subprocess.run(["git", "log", "--format=%s"], capture_output=True, text=True, check=True).stdout
    assert log.count("curve long-run at") == 2
    tracked = subprocess.run(["git", "ls-files"], capture_output=True, text=True, check=True).stdout.split()
    assert str(kept.relative_to(repo)) in tracked and "experiments/2026-01-01-bench-test/results.tsv" in tracked
    assert "experiments/2026-01-01-bench-test/calibration.json" in tracked
    assert "experiments/2026-01-01-bench-test/panel_scores.jsonl" in tracked  # what re-rates the rows
    status = ["git", "status", "--porcelain", "-uno", "--", "experiments"]
    assert not subprocess.run(status, capture_output=True, text=True, check=True).stdout.strip()  # nothing left out

    assert rate_curve(exp, tmp_path / "long-run", [first_point]) == []  # every point has its row: resumable
    assert len(Ledger(folder).rows()) == 2
    # keep="final": only the run's last snapshot is copied; the others are rated where they are
    again = rate_curve(exp, tmp_path / "long-run", [snaps[0].cpu_seconds], label="again", keep="final")
    assert [r["init"] for r in again] == [str(Path("..") / "long-run" / "checkpoints" / snaps[0].path.name),
                                         str(Path("experiments/2026-01-01-bench-test/snapshots/again")
                                             / snaps[-1].path.name)]
    assert sorted(p.name for p in (folder / "snapshots" / "again").iterdir()) == [snaps[-1].path.name]
    out = write_report(exp)
    text = Path(out["markdown"]).read_text()
    assert "## Curve: long-run" in text and "## Curve: again" in text and "curve 4" in text
    assert "| 0 |" not in text.split("## Keep / discard history")[1].split("##")[0]  # curve rows are no sequence

    # kept without rating (and committed), then rated from the kept folder once the run is gone
    from gozero.research.curve import keep_snapshots

    rows_before = len(Ledger(folder).rows())
    kept = keep_snapshots(exp, tmp_path / "long-run", [snaps[0].cpu_seconds], label="later", commit=True)
    assert [k.name for k in kept] == [snaps[0].path.name, snaps[-1].path.name]
    log = subprocess.run(["git", "log", "-1", "--format=%s", "--name-only"], capture_output=True, text=True,
                         check=True).stdout
    assert "later's 2 snapshots to rate, kept" in log and all(k.name in log for k in kept)
    commits = ["git", "rev-list", "--count", "HEAD"]
    n = subprocess.run(commits, capture_output=True, text=True, check=True).stdout
    assert keep_snapshots(exp, tmp_path / "long-run", [snaps[0].cpu_seconds], label="later", commit=True) == kept
    assert subprocess.run(commits, capture_output=True, text=True, check=True).stdout == n  # nothing new to commit
    from typer.testing import CliRunner

    from gozero.cli import app

    r = CliRunner().invoke(app, ["research", "curve", str(folder), str(tmp_path / "long-run"), "--label", "cli",
                                 "--points", f"{first_point}", "--keep-only"])
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in (folder / "snapshots" / "cli").iterdir()) == [snaps[1].path.name,
                                                                               snaps[-1].path.name]
    assert r.output.count("kept ") == 2 and len(Ledger(folder).rows()) == rows_before  # kept, none rated
    import shutil

    shutil.rmtree(tmp_path / "long-run")
    later = rate_curve(exp, folder / "snapshots" / "later", [snaps[0].cpu_seconds], dry_run=True)
    assert [(r["step"], r["cpu_s"]) for r in later] == [(snaps[0].step, pytest.approx(snaps[0].cpu_seconds)),
                                                       (snaps[-1].step, pytest.approx(snaps[-1].cpu_seconds))]
    assert [r["init"] for r in later] == [str(k.relative_to(repo)) for k in kept]  # the rows rating would write
    with pytest.raises(FileNotFoundError):
        run_snapshots(tmp_path / "long-run")


def _experiment_in_a_git_repo(tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    for k, v in (("user.email", "t@example.org"), ("user.name", "t")):
        subprocess.run(["git", "-C", str(tmp_path), "config", k, v], check=True)
    return load_experiment(make_experiment(tmp_path / "experiments"))


def test_a_commit_waits_while_another_process_holds_the_index(tmp_path):
    import threading

    from gozero.research.curve import git_commit

    exp = _experiment_in_a_git_repo(tmp_path)
    row = exp.dir / "results.tsv"
    row.write_text("a row\n")
    lock = tmp_path / ".git" / "index.lock"
    lock.write_text("")  # as git leaves it while another commit runs
    threading.Timer(2.0, lock.unlink).start()
    git_commit(exp, [row], "a row, committed once the index is free")
    log = subprocess.run(["git", "-C", str(tmp_path), "log", "--format=%s", "--name-only"], capture_output=True,
                         text=True, check=True).stdout
    assert "a row, committed once the index is free" in log and "results.tsv" in log


def test_a_file_another_process_committed_counts_as_committed(tmp_path):
    from gozero.research.curve import git_commit

    exp = _experiment_in_a_git_repo(tmp_path)
    shared = exp.dir / "machines.jsonl"
    shared.write_text("row of run 1\nrow of run 2\n")  # both runs appended before either committed
    git_commit(exp, [shared], "run 1's row")  # commits run 2's row too
    git_commit(exp, [shared], "run 2's row")  # nothing left to commit: not an error
    log = subprocess.run(["git", "-C", str(tmp_path), "log", "--format=%s"], capture_output=True, text=True,
                         check=True).stdout.split("\n")
    assert log[0] == "run 1's row"
    with pytest.raises(subprocess.CalledProcessError):  # a file git cannot commit still fails
        git_commit(exp, [exp.dir / "never-written.tsv"], "a file that is not there")
