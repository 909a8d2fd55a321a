"""The pg-vs-search study's analysis (experiments/pg-vs-search/analyse.py) judges each
pre-registered hypothesis by its written criteria: checked here on constructed results, so
that the verdicts published from the real ledgers come from rules that were tested first."""

import importlib.util
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parents[2] / "experiments" / "pg-vs-search"


@pytest.fixture(scope="module")
def analyse():
    sys.path.insert(0, str(HERE))
    spec = importlib.util.spec_from_file_location("pg_vs_search_analyse", HERE / "analyse.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    yield mod
    sys.path.remove(str(HERE))


def _table(analyse, elo_of) -> dict:
    """``elo_of(arm, seed, fraction)`` -> rows as `curve_table` returns them."""
    return {f"{arm}-s{s}": {f: {"elo": elo_of(arm, s, f), "raw_elo": elo_of(arm, s, f) - 100, "cpu_s": f * 3600}
                            for f in analyse.POINTS}
            for arm in analyse.CORE + analyse.OPTIONAL for s in analyse.MAIN_SEEDS}


def test_h1_confirmed_refuted_partial_and_pending(analyse):
    search = {"A3": 900, "A4": 950, "A5": 1000}
    clear = _table(analyse, lambda a, s, f: search.get(a, 600) * f + 10 * s)
    assert analyse.h1(clear, "elo").startswith("confirmed")
    close = _table(analyse, lambda a, s, f: 1000 * f + (30 if a == "A2" else 0) + 5 * s)  # PPO within 50 everywhere
    assert analyse.h1(close, "elo").startswith("refuted")
    cross = _table(analyse, lambda a, s, f: (800 if a in ("A1", "A2") else 400) if f < 0.2 else
                   (600 if a in ("A1", "A2") else 1000))  # policy gradient ahead early, behind late
    assert analyse.h1(cross, "elo").startswith("confirmed") and "cross" in analyse.h1(cross, "elo")
    late_cross = _table(analyse, lambda a, s, f: (800 if a in ("A1", "A2") else 400) if f < 0.2 else
                        (900 if a in ("A1", "A2") else 950))  # behind late, but by less than 100
    assert analyse.h1(late_cross, "elo").startswith("partial (curves cross")
    missing = _table(analyse, lambda a, s, f: 1000.0)
    del missing["A2-s1"][1.0]
    assert analyse.h1(missing, "elo").startswith("pending (14 of 15")
    assert analyse.h1(clear, "raw_elo").startswith("confirmed")  # raw beside searched, same rule


def test_pairwise_rule_needs_the_margin_and_apart_seed_ranges(analyse):
    apart = _table(analyse, lambda a, s, f: {"A5": 1000, "A3": 900}.get(a, 500) + 10 * s)
    assert analyse._pair(apart, "A5", "A3", 50, "elo").startswith("confirmed")
    assert analyse._pair(apart, "A3", "A5", 50, "elo").startswith("refuted")
    overlap = _table(analyse, lambda a, s, f: {"A5": 1000 + 80 * s, "A3": 900 + 80 * s}.get(a, 500))
    assert analyse._pair(overlap, "A5", "A3", 50, "elo").startswith("inconclusive")  # 100 apart, ranges overlap
    small = _table(analyse, lambda a, s, f: {"A5": 940, "A3": 900}.get(a, 500) + s)
    assert analyse._pair(small, "A5", "A3", 50, "elo").startswith("inconclusive")


def test_bits_and_noise_scale_rules(analyse):
    def signals(search_bits: float, pg_bits: float, pg_noise: float) -> dict:
        out = {}
        for arm in analyse.CORE:
            for s in analyse.MAIN_SEEDS:
                pg = arm in analyse.PG_ARMS
                out[f"{arm}-s{s}"] = {"bits_per_sample": pg_bits if pg else search_bits,
                                      "noise_scale": {k: {"noise_scale": pg_noise if pg else 100.0, "cpu_seconds": 0}
                                                      for k in ("0.25", "0.5", "1.0")}}
        return out

    assert analyse.h4(signals(1.0, 0.05, 0)).startswith("confirmed")  # ratio 20
    assert analyse.h4(signals(1.0, 0.5, 0)).startswith("refuted")  # ratio 2
    assert analyse.h4(signals(1.0, 0.2, 0)).startswith("partial")  # ratio 5
    assert analyse.h5(signals(1, 1, 2000.0)).startswith("confirmed")  # 20x A5's
    assert analyse.h5(signals(1, 1, 200.0)).startswith("refuted")  # 2x
    assert analyse.h5(signals(1, 1, 500.0)).startswith("partial")
    assert analyse.h4({}).startswith("pending") and analyse.h5({}).startswith("pending")


def test_the_policy_along_the_curve_takes_each_doubling_apart(analyse):
    # 64 steps: the points' windows are (0, 2], (2, 4], (4, 8], (8, 16], (16, 32], (32, 64]
    batches = [{"step": k, "policy_entropy": float(k), "bits_soft": 2.0 * k} for k in range(1, 65)]
    batches[40]["policy_entropy"] = float("nan")  # step 41's entropy could not be taken: left out, not 0
    got = analyse.along_curve(batches, 64)
    assert list(got) == [f"{f:g}" for f in analyse.POINTS]
    assert [got[k]["policy_entropy"] for k in got] == [1.5, 3.5, 6.5, 12.5, 24.5, 49.0]
    assert got["0.5"]["bits_soft"] == 49.0
    assert analyse.along_curve([{"step": 60, "policy_entropy": 1.0}], 64)["0.5"] == {"policy_entropy": None,
                                                                                  "bits_soft": None}
    lines = analyse.along_curve_section({"A6-s0": {"along_curve": got}, "A5-s0": {"policy_entropy": 1.6}})
    rows = [line for line in lines if line.startswith("| A")]
    assert rows == ["| A6-s0 | 1.50 / 3.0 | 3.50 / 7.0 | 6.50 / 13.0 | 12.50 / 25.0 | 24.50 / 49.0 | 49.00 / 97.0 |"]
    assert analyse.along_curve_section({"A5-s0": {"policy_entropy": 1.6}}) == []


def test_curve_rows_map_to_their_registered_fractions(analyse, tmp_path, monkeypatch):
    import study

    from gozero.research.ledger import Ledger

    monkeypatch.setattr(study, "MACHINES", tmp_path / "machines.jsonl")  # no measure: the reference machine
    _signals(tmp_path, monkeypatch, A5=3200, A3=2000)
    ledger = Ledger(tmp_path)
    for k, point in enumerate([112.5, 225.0, 450.0, 900.0, 1800.0, 3601.7]):  # by steps, the run's CPU aside
        ledger.append(_curve_row("A5-s0", point, 100.0 * k, "", k=k, steps=round(point / 3600 * 3200)))
    # a run that went past its arm's work: its snapshot at the work budget is its full point, the
    # ones past it are no point, and one at 0.7 of it is no full-budget point
    for k, (steps, elo) in enumerate([(1400, 500.0), (2680, 900.0), (2000, 800.0)]):
        ledger.append(_curve_row("A3-s1", 0.0, elo, "", k=10 + k, steps=steps))
    ledger.append(_curve_row("A1-s1", 0.0, 50.0, "", k=20, steps=int(0.87 * 3200)))  # A1 has no work budget here
    ledger.append(_curve_row("A3-s2", 0.0, 600.0, "", k=30, steps=1400))  # stopped short: 0.7 is its 1/2 point
    ledger.append(_curve_row("A3-s2", 0.0, 650.0, "", k=31, steps=1760))  # 0.88: its full-budget point
    table = analyse.curve_table(tmp_path, 3600.0)
    assert sorted(table["A5-s0"]) == sorted(analyse.POINTS)
    assert table["A5-s0"][1.0]["elo"] == 500.0 and table["A5-s0"][1 / 32]["elo"] == 0.0
    assert table["A5-s0"][1.0]["fraction"] == pytest.approx(1.0, abs=1e-3)
    assert {f: r["elo"] for f, r in table["A3-s1"].items()} == {0.5: 500.0, 1.0: 800.0}
    assert {f: r["elo"] for f, r in table["A3-s2"].items()} == {0.5: 600.0, 1.0: 650.0}
    assert 1.0 not in table.get("A1-s1", {})  # no work budget: by CPU seconds (point 0)


def test_outcomes_count_each_games_first_position_from_blacks_view(analyse, tmp_path):
    import numpy as np

    from gozero.selfplay.shards import atomic_savez

    win, draw, loss = np.eye(3, dtype=np.float32)
    (tmp_path / "shards").mkdir()
    # shard 0: a black win (moves 0-2, white's view at move 1) and a draw; shard 1: a white win
    # whose move 0 was not recorded (a search arm's partial recording) and one whose move 0 was
    atomic_savez(tmp_path / "shards" / "shard_000000.npz", move_index=np.array([0, 1, 2, 0, 1]),
                 value=np.stack([win, loss, win, draw, draw]))
    atomic_savez(tmp_path / "shards" / "shard_000001.npz", move_index=np.array([3, 4, 0, 1]),
                 value=np.stack([win, loss, loss, win]))
    got = analyse.outcomes(tmp_path)
    assert got["games"] == 3
    assert got["black"] == pytest.approx(1 / 3) and got["draw"] == pytest.approx(1 / 3)
    assert got["white"] == pytest.approx(1 / 3)
    assert analyse.outcomes(tmp_path / "nothing") is None


def test_h5_counts_a_noise_scale_that_could_not_be_estimated_as_infinite(analyse):
    def signals(pg_noise: float, a5_noise: float) -> dict:
        return {f"{arm}-s{s}": {"noise_scale": {k: {"noise_scale": pg_noise if arm in analyse.PG_ARMS else
                                                    (a5_noise if s == 0 else 100.0), "cpu_seconds": 0}
                                                for k in ("0.25", "0.5", "1.0")}}
                for arm in analyse.CORE for s in analyse.MAIN_SEEDS}

    assert analyse.h5(signals(float("nan"), 100.0)).startswith("confirmed")  # noise swamps the policy gradient
    assert analyse.h5(signals(150.0, float("nan"))).startswith("refuted")  # one A5 seed inf: the median is 100


def test_the_9x9_pair_is_the_best_search_and_policy_gradient_arm_once_all_are_rated(analyse):
    elo = {"A1": 300, "A2": 450, "A3": 900, "A4": 950, "A5": 950}
    table = _table(analyse, lambda a, s, f: elo[a] + s if a in elo else 0)
    assert analyse.confirm_pair(table) == ("A4", "A2")  # A4 and A5 tie: the lower arm number
    del table["A3-s2"][1.0]
    assert analyse.confirm_pair(table) is None


def _nine(points: dict[str, list[tuple[float, float, float, float]]]) -> dict:
    """label -> [(point, cpu_s, elo, half-width)] as `nine_curves` returns them."""
    return {label: {pt: {"cpu_s": cpu, "elo": e, "elo_low": e - w, "elo_high": e + w, "raw_elo": e - 50}
                    for pt, cpu, e, w in rows} for label, rows in points.items()}


def test_a_9x9_run_on_a_slower_machine_trains_and_is_matched_in_reference_cpu_seconds(analyse, monkeypatch):
    import study

    monkeypatch.setattr(study, "speed", lambda label: 0.5 if label == "9x9-A1" else None)
    monkeypatch.setattr(analyse, "reference_seconds", lambda label, cpu_s: cpu_s * (0.5 if label == "9x9-A1" else 1))
    (job,) = study.confirm_jobs(("A5", "A1"))
    assert job["budget"] == pytest.approx(28800.0) and job["points"][:2] == pytest.approx([240.0, 480.0])
    rows = [("9x9-cpu-curve", 120.0, 300.0), ("9x9-cpu-curve", 14393.1, 600.0), ("9x9-A1", 240.0, 100.0),
            ("9x9-A1", 28805.0, 120.0)]
    monkeypatch.setattr(analyse, "curve_rows", lambda folder: [
        (lb, pt, {"cpu_s": pt, "elo": e, "elo_low": e - 50, "elo_high": e + 50, "raw_elo": e}) for lb, pt, e in rows])
    curves = analyse.nine_curves()
    assert sorted(curves["9x9-A1"]) == pytest.approx([120.0, 14402.5])
    verdict = analyse.h_nine(curves, ("A5", "A1"))[0]  # A1 at 4 reference CPU-hours: not pending; 480 apart
    assert verdict.startswith("confirmed") and "vs A1 120" in verdict


def test_a_9x9_arm_that_acts_with_its_policy_trains_alternating_and_a_search_arm_beside_workers(analyse,
                                                                                                monkeypatch):
    import study

    monkeypatch.setattr(study, "speed", lambda label: None)
    (pg,) = study.confirm_jobs(("A5", "A2"))
    (search, pg1) = study.confirm_jobs(("A3", "A1"))
    for job in (pg, pg1):
        assert "run.selfplay_workers=0" in job["overrides"] and "run.selfplay_workers=2" not in job["overrides"]
        assert "run.games_per_generation=32" in job["overrides"]
    assert "run.selfplay_workers=2" in search["overrides"] and "run.selfplay_workers=0" not in search["overrides"]
    # the wall time --until reckons with: one core alternating, two beside workers
    assert study.wall_estimate(pg, 0.0) == pytest.approx(2 * study.wall_estimate(search, 0.0))


def test_the_9x9_section_sets_the_two_curves_side_by_side_and_draws_them(analyse, tmp_path, monkeypatch):
    monkeypatch.setattr(analyse, "NINE_FIG", tmp_path / "nine.png")
    pair = ("A5", "A2")
    curve = [(120.0, 110.0, 100.0, 80.0), (240.0, 230.0, 300.0, 80.0), (14405.0, 14405.0, 600.0, 80.0)]
    assert analyse.nine_section(_nine({"9x9-cpu-curve": curve}), pair) == []  # A2 not rated yet
    assert analyse.nine_section(_nine({"9x9-cpu-curve": curve}), None) == []
    got = analyse.nine_section(_nine({"9x9-cpu-curve": curve, "9x9-A2": [(240.0, 235.0, 150.0, 60.0)]}), pair)
    rows = [line for line in got if line.startswith("| 1") or line.startswith("| 2") or line.startswith("| last")]
    assert [r.split(" | ")[0] for r in rows] == ["| 120", "| 240", "| last snapshot (14,405)"]  # every point rated
    assert rows[1].split(" | ")[1:4] == ["300 [220, 380] / 250", "150 [90, 210] / 100", "+150 / +150"]
    assert rows[0].split(" | ")[2:4] == ["-", "-"]  # A2 has no 120 s point: no gap
    assert (tmp_path / "nine.png").stat().st_size > 0
    # each arm's last snapshot at 4 CPU-hours (their CPU seconds differ a little) shares one row, with its gap
    got = analyse.nine_section(_nine({"9x9-cpu-curve": curve, "9x9-A2": [(240.0, 235.0, 150.0, 60.0),
                                                                        (14398.0, 14398.0, 400.0, 60.0)]}), pair)
    last = [line for line in got if line.startswith("| last")]
    assert len(last) == 1 and last[0].split(" | ")[0] == "| last snapshot (14,405, 14,398)"
    assert last[0].split(" | ")[3] == "+200 / +200"


def test_the_9x9_verdict_follows_its_registered_criteria(analyse):
    pair = ("A5", "A1")
    curve = [(120.0, 110.0, 100.0, 80.0), (240.0, 230.0, 300.0, 80.0), (14405.0, 14405.0, 600.0, 80.0)]
    far = _nine({"9x9-cpu-curve": curve, "9x9-A1": [(120.0, 115.0, 100.0, 80.0), (240.0, 235.0, 150.0, 80.0),
                                                    (14402.0, 14402.0, 300.0, 80.0)]})
    verdict, raw = analyse.h_nine(far, pair)
    assert verdict.startswith("confirmed") and raw == "A5 550 vs A1 250"
    overlap = _nine({"9x9-cpu-curve": curve, "9x9-A1": [(14402.0, 14402.0, 480.0, 80.0)]})  # 120 apart, intervals meet
    assert analyse.h_nine(overlap, pair)[0].startswith("partial")
    close = _nine({"9x9-cpu-curve": curve, "9x9-A1": [(120.0, 115.0, 90.0, 80.0), (240.0, 235.0, 260.0, 80.0),
                                                      (14402.0, 14402.0, 560.0, 80.0)]})
    assert analyse.h_nine(close, pair)[0].startswith("refuted")
    late = _nine({"9x9-cpu-curve": curve, "9x9-A1": [(120.0, 115.0, 90.0, 80.0), (7680.0, 7600.0, 200.0, 80.0)]})
    assert analyse.h_nine(late, pair)[0].startswith("pending (A1")  # not yet at 4 CPU-hours
    assert analyse.h_nine(far, None)[0].startswith("pending")


def test_the_9x9_runs_take_the_curves_setup_and_only_the_arms_own_frozen_keys(analyse):
    import study

    from gozero.train.config import load_config

    (job,) = study.confirm_jobs(("A5", "A2"))  # A5's 9x9 run is the curve's own
    assert job["label"] == "9x9-A2" and job["exp"] == study.NINE and job["budget"] == 14400.0
    assert job["points"] == [120.0 * 2 ** k for k in range(7)]  # the curve's --doubling 2m (and its last snapshot)
    won = study.pilot_winner("A2")
    own = [kv for kv in study.GRIDS["A2"][won[0]] if not kv.startswith("train.lr=")]
    assert own and all(kv in job["overrides"] for kv in own)
    pilot_only = ("train.lr=", "train.sample_reuse=2", "train.sample_reuse=4")  # the 9x9 preset's stay
    assert not any(kv.startswith(pilot_only) for kv in job["overrides"])
    cfg = load_config(preset="9x9", overrides=job["overrides"] + ["run.seed=0", "run.max_cpu_seconds=14400"])
    nine = load_config(preset="9x9")
    assert cfg.selfplay.acting == "policy" and cfg.train.policy_loss == "ppo"
    assert cfg.run.selfplay_workers == 0 and cfg.run.games_per_generation == 32  # alternating (README, 2026-12-07)
    assert cfg.train.lr == nine.train.lr and cfg.train.window_max == 8192 and cfg.game.size == 9


def test_a_failed_ratings_traceback_is_cut_to_its_exception_in_the_report(analyse):
    desc = ("curve A2-s0: 1.00 CPU-hours (point 3600.13 s), step 8878; rating failed (exit 1): 'llies, fixed)\\n"
            "        ^^^^^^\\n  File \"ratings.py\", line 217, in rate_tallies\\nOverflowError: math range error\\n'")
    assert analyse.crash_text(desc) == ("curve A2-s0: 1.00 CPU-hours (point 3600.13 s), step 8878; "
                                        "rating failed (exit 1): OverflowError: math range error")
    assert analyse.crash_text("training crash A4-c0: IllegalMove") == "training crash A4-c0: IllegalMove"


def _curve_row(label: str, point: float, elo: float, time: str, status: str = "curve", k: int = 0,
               steps: int = 0) -> dict:
    return {"run_id": f"{label}-{k}-{time}", "time": time, "commit": "", "config_hash": "", "seed": 0,
            "budget_s": 0.0, "cpu_s": point, "eval_cpu_s": 1.0, "elo": elo, "elo_low": elo - 50,
            "elo_high": elo + 50, "raw_elo": elo - 100, "status": status, "overrides": "[]", "init": "",
            "trial": -1, "steps": steps, "games": 0, "log": "",
            "description": f"curve {label}: 0.1 CPU-hours (point {point:g} s), step {steps}"}


def _signals(tmp_path: Path, monkeypatch, **steps: int) -> None:
    """A signals.json whose seed-0 runs trained ``steps`` (arm -> steps): the work budgets."""
    import json

    import study

    path = tmp_path / "signals.json"
    path.write_text(json.dumps({f"{arm}-s0": {"steps": n} for arm, n in steps.items()}))
    monkeypatch.setattr(study, "SIGNALS", path)


def test_the_rows_of_a_lost_run_are_left_out_and_its_retrained_runs_counted(analyse, tmp_path, monkeypatch):
    import study

    from gozero.research.ledger import Ledger

    monkeypatch.setattr(study, "LOST", {"A3-s0": "2026-12-02T04:00:00Z"})
    _signals(tmp_path, monkeypatch, A3=3200, A4=3200)
    ledger = Ledger(tmp_path)
    for k, (label, point, elo, time, status) in enumerate([
            ("A3-s0", 112.5, 276.0, "2026-12-01T23:00:00Z", "curve"),  # the lost run's
            ("A3-s0", 225.0, 477.0, "2026-12-02T01:00:00Z", "curve"),
            ("A3-s0", 112.5, 300.0, "2026-12-02T05:00:00Z", "curve"),  # the run trained again
            ("A3-s0", 225.0, 0.0, "2026-12-02T06:00:00Z", "crash"),
            ("A4-s0", 112.5, 337.0, "2026-12-01T23:00:00Z", "curve")]):  # no lost run of that label
        ledger.append(_curve_row(label, point, elo, time, status, k, steps=int(point / 3600 * 3200)))
    table = analyse.curve_table(tmp_path, 3600.0)
    assert {f: r["elo"] for f, r in table["A3-s0"].items()} == {1 / 32: 300.0}
    assert table["A4-s0"][1 / 32]["elo"] == 337.0
    assert [r["elo"] for r in study._curve_rows(tmp_path, "A3-s0")] == [300.0]  # the study rates the rest again
    assert [study.lost(r) for r in Ledger(tmp_path).rows()] == [True, True, False, False, False]


def test_a_main_run_is_rated_from_its_kept_snapshots_once_its_folder_is_gone(analyse, tmp_path, monkeypatch):
    import argparse

    import study
    import torch

    monkeypatch.setattr(study, "RUNS", tmp_path / "runs")
    job = {"label": "A5-s0", "exp": tmp_path / "exp", "budget": 3600.0, "points": [112.5], "seed": 0}
    assert study.done(job) == 0.0 and not study._trained(job)
    assert study.wall_estimate(job, 0.0) == pytest.approx(3960.0)  # one core, a tenth spare
    assert study.wall_estimate({**job, "preset": "9x9", "budget": 14400.0}, 0.0) == pytest.approx(7920.0)  # two cores
    pilot = {**job, "label": "A7-c0", "budget": 900.0, "points": []}  # it keeps no network: its rating counts
    assert study.wall_estimate(pilot, 0.0) == pytest.approx(990.0 + study.PILOT_RATING_WALL)
    kept = study.kept_dir(job)
    kept.mkdir(parents=True)
    for step, cpu in ((10, 110.0), (90, 3600.4)):
        torch.save({"model": {}, "net": {}, "step": step, "cpu_seconds": cpu}, kept / f"step_{step:08d}.pt")
    assert study.done(job) == pytest.approx(3600.4) and study._trained(job)
    assert study.wall_estimate(job, study.done(job)) == 0
    latest = tmp_path / "runs" / "A5-s0" / "checkpoints" / "latest.pt"
    latest.parent.mkdir(parents=True)
    torch.save({"cpu_seconds": 1200.0}, latest)
    assert study.done(job) == 1200.0  # a run folder on this machine says how far it is
    assert study.wall_estimate(job, study.done(job)) == pytest.approx(2400.0 * 1.1)

    from datetime import datetime, timezone

    evening = datetime(2026, 12, 6, 22, 30, tzinfo=timezone.utc)
    assert study.until_time("23:15", evening) == datetime(2026, 12, 6, 23, 15, tzinfo=timezone.utc).timestamp()
    # an HH:MM already past today is tomorrow's: a session that crosses midnight names its end
    assert study.until_time("00:12", evening) == datetime(2026, 12, 7, 0, 12, tzinfo=timezone.utc).timestamp()
    assert study.until_time("2026-12-02T07:05:00Z") == datetime(2026, 12, 2, 7, 5, tzinfo=timezone.utc).timestamp()
    with pytest.raises(argparse.ArgumentTypeError):
        study.until_time("soon")


def test_a_machines_throughput_is_reported_over_the_reference(analyse, tmp_path, monkeypatch):
    import json

    ref = list(analyse.REFERENCE.values())
    rows = [{"acting": "policy", "moves_per_s": 2 * ref[0]}, {"acting": "search", "moves_per_s": 2 * ref[1]},
            {"acting": "search", "moves_per_s": 2 * ref[2]}, {"policy_loss": "search", "steps_per_s": 2 * ref[3]},
            {"policy_loss": "ppo", "steps_per_s": 0.5 * ref[4]}, {"policy_loss": "r", "steps_per_s": 0.5 * ref[5]}]
    line = {"label": "A5-s1", "time": "2026-12-02T07:00:00Z", "cpu": "a CPU", "seconds": 10.0, "rows": rows}
    assert list(analyse.machine_ratios(line).values()) == pytest.approx([2, 2, 2, 2, 0.5, 0.5])
    path = tmp_path / "machines.jsonl"
    path.write_text(json.dumps(line) + "\n")
    monkeypatch.setattr(analyse, "MACHINES", path)
    table = analyse.machines_section()
    assert table[-1].startswith("| A5-s1 | 2026-12-02T07:00:00Z | a CPU | 10 | 2.00 |")
    assert table[-1].endswith("| 0.50 | 0.50 | 1.26 | budget |")  # (2^4 x 0.5^2)^(1/6)


def test_the_machines_table_says_which_measure_set_a_runs_budget(analyse, tmp_path, monkeypatch):
    import json

    ref = list(analyse.REFERENCE.values())
    rows = [{"acting": "policy", "moves_per_s": ref[0]}, {"acting": "search", "moves_per_s": ref[1]},
            {"acting": "search", "moves_per_s": ref[2]}, {"policy_loss": "search", "steps_per_s": ref[3]},
            {"policy_loss": "ppo", "steps_per_s": ref[4]}, {"policy_loss": "r", "steps_per_s": ref[5]}]
    times = ["2026-12-07T00:20:00Z", "2026-12-07T01:34:00Z", "2026-12-07T03:30:00Z"]
    lines = [{"label": "9x9-A2", "time": t, "cpu": "c", "seconds": 10.0, "rows": rows} for t in times]
    lines.insert(1, {"label": "A5-s1", "time": "2026-12-07T01:00:00Z", "cpu": "c", "seconds": 10.0, "rows": rows})
    path = tmp_path / "machines.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    monkeypatch.setattr(analyse, "MACHINES", path)
    monkeypatch.setitem(analyse.LOST, "9x9-A2", "2026-12-07T01:30:00Z")
    roles = [row.rsplit("|", 2)[1].strip() for row in analyse.machines_section()[-4:]]
    assert roles == ["void attempt", "budget", "budget", "resume"]  # A5-s1's own first measure sets its budget
    monkeypatch.setitem(analyse.LOST, "9x9-A2", "2026-12-07T00:00:00Z")  # no attempt void: the first one counts
    roles = [row.rsplit("|", 2)[1].strip() for row in analyse.machines_section()[-4:]]
    assert roles == ["budget", "budget", "resume", "resume"]


def test_throughput_appends_one_line_per_measure_that_the_report_reads(analyse, tmp_path):
    import json
    import os
    import subprocess

    out = tmp_path / "machines.jsonl"
    for label in ("A5-s1", "A1-s2"):
        subprocess.run([sys.executable, str(HERE / "throughput.py"), "--seconds", "0.2", "--label", label,
                        "--append", str(out)], check=True, capture_output=True,
                       env={**os.environ, "OMP_NUM_THREADS": "1"})
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["label"] for x in lines] == ["A5-s1", "A1-s2"] and all(x["cpu"] and x["seconds"] == 0.2 for x in lines)
    ratios = analyse.machine_ratios(lines[0])
    assert list(ratios) == list(analyse.REFERENCE) and all(v > 0 for v in ratios.values())


def test_the_until_estimate_measures_this_machine_without_recording_it_as_a_runs(analyse, tmp_path, monkeypatch):
    import study

    monkeypatch.setattr(study, "MACHINES", tmp_path / "machines.jsonl")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    f = study.measure_here(seconds=0.2)
    assert f is not None and f > 0 and not study.MACHINES.exists()


def test_a_run_on_a_slower_machine_trains_the_budget_in_reference_cpu_seconds(analyse, tmp_path, monkeypatch):
    import json

    import study

    ref = list(study.REFERENCE.values())

    def line(label: str, f: float, cpu: str = "slow CPU", time: str = "") -> str:
        rows = [{"moves_per_s": f * v} for v in ref[:3]] + [{"steps_per_s": f * v} for v in ref[3:]]
        return json.dumps({"label": label, "time": time, "cpu": cpu, "seconds": 10.0, "rows": rows}) + "\n"

    path = tmp_path / "machines.jsonl"
    path.write_text(line("A5-s0", 0.5) + line("A1-s2", 0.9, "reference CPU") + line("A5-s0", 1.0)
                    + line("A3-s2", 0.5, time="2026-12-02T11:00:00Z") + line("A3-s2", 1.0, time="2026-12-02T17:00:00Z"))
    monkeypatch.setattr(study, "MACHINES", path)
    monkeypatch.setitem(study.LOST, "A3-s2", "2026-12-02T16:00:00Z")
    assert study.speed("A3-s2") == pytest.approx(1.0)  # the measure of an attempt since lost does not count
    assert study.speed("A5-s0") == pytest.approx(0.5)  # its first measure: a resume's does not move the budget
    assert study.budget_scale(study.speed("A5-s0")) == pytest.approx(2.0)
    assert study.budget_scale(study.speed("A1-s2")) == 1.0  # within the spread of one machine's measures
    assert study.speed("A2-s2") is None and study.budget_scale(None) == 1.0
    jobs = {j["label"]: j for j in study.jobs("main", ["A5"], [0, 2])}  # the committed pilot froze A5
    assert jobs["A5-s0"]["budget"] == pytest.approx(7200.0)  # trained under the CPU rule (study.CPU_RULE)
    assert jobs["A5-s0"]["points"] == pytest.approx([f * 7200.0 for f in study.FRACTIONS])
    assert "budget" not in jobs["A5-s2"] and jobs["A5-s2"]["steps"] == study.work_steps("A5")  # its arm's work
    job = study.scaled({"label": "A5-s1", "base_budget": 3600.0, "fractions": [0.5]}, 0.5)
    assert job["budget"] == pytest.approx(7200.0) and job["points"] == pytest.approx([3600.0])
    pilot = {j["label"]: j for j in study.jobs("pilot", ["A5"], [])}  # the pilot keeps the CPU rule
    assert pilot["A5-c0"]["budget"] == pytest.approx(900.0) and "steps" not in pilot["A5-c0"]
    from gozero.research.ledger import Ledger

    _signals(tmp_path, monkeypatch, A5=4000)
    ledger = Ledger(tmp_path)
    for k, (label, point, elo, steps) in enumerate([("A5-s0", 3600.0, 700.0, 1990), ("A5-s0", 7201.0, 900.0, 4000),
                                                    ("A5-s2", 3601.0, 800.0, 4000)]):
        ledger.append(_curve_row(label, point, elo, "2026-12-03T00:00:00Z", "curve", k, steps))
    table = analyse.curve_table(tmp_path, 3600.0)  # placed by steps over the arm's work, whatever the CPU seconds
    assert {f: r["elo"] for f, r in table["A5-s0"].items()} == {0.5: 700.0, 1.0: 900.0}
    assert {f: r["elo"] for f, r in table["A5-s2"].items()} == {1.0: 800.0}


def test_a_main_run_trains_its_arms_work_and_is_rated_at_fractions_of_its_steps(analyse, tmp_path, monkeypatch):
    import study
    import torch

    _signals(tmp_path, monkeypatch, A3=2000, A4=4000)
    monkeypatch.setattr(study, "RUNS", tmp_path / "runs")
    monkeypatch.setattr(study, "MACHINES", tmp_path / "machines.jsonl")
    monkeypatch.setattr(study, "HERE", tmp_path)
    assert study.work_steps("A3") == 2000 and study.work_steps("A7") is None  # A7 has no seed 0: the CPU rule
    assert study.work_fraction("A3-s2", 500) == 0.25 and study.work_fraction("A3-c1", 500) is None
    work = tmp_path / "snapshots" / "A4-s1-work"
    work.mkdir(parents=True)
    torch.save({"step": 3990, "cpu_seconds": 1500.0}, work / "step_00003990.pt")
    jobs = {j["label"]: j for j in study.jobs("main", ["A3", "A4"], [1, 2])}
    job = jobs["A3-s2"]
    assert job["steps"] == 2000 and job["points"] == pytest.approx([f * 2000 for f in study.FRACTIONS])
    assert "work" not in jobs["A3-s1"] and jobs["A4-s1"]["work"] == work  # CPU-rule runs: the kept work point
    assert "budget" in jobs["A4-s1"] and "steps" not in jobs["A4-s1"]

    # how far it trained is counted in steps, from its run folder or its kept snapshots
    assert study.done(job) == 0.0 and not study._trained(job)
    assert study.wall_estimate({**job, "speed": 2.0}, 1000.0) == pytest.approx(0.5 * 3600 / 2.0 * study.WORK_SPARE)
    kept = study.kept_dir(job)
    kept.mkdir(parents=True)
    for step, cpu in ((40, 60.0), (70, 110.0), (130, 200.0), (600, 900.0), (1100, 1700.0), (2000, 3100.0)):
        torch.save({"step": step, "cpu_seconds": cpu}, kept / f"step_{step:08d}.pt")
    assert study.done(job) == 2000.0 and study._trained(job)
    # the last snapshot at or before 1/32 ... 1/2 of the steps (62.5, 125, 250, 500, 1000), by its CPU seconds
    assert study.step_points(kept, job["points"]) == [60.0, 110.0, 200.0, 200.0, 900.0]
    latest = tmp_path / "runs" / "A3-s2" / "checkpoints" / "latest.pt"
    latest.parent.mkdir(parents=True)
    torch.save({"step": 700, "cpu_seconds": 1200.0}, latest)
    assert study.done(job) == 700.0 and not study._trained(job)  # a run folder here says how far it is

    # a CPU-rule run is rated once its work snapshot has its row too
    from gozero.research.ledger import Ledger

    ledger = Ledger(tmp_path)
    for k in range(6):
        ledger.append(_curve_row("A4-s1", 100.0 * (k + 1), 500.0, "", k=k, steps=100 * (k + 1)))
    assert not study.rated(jobs["A4-s1"])
    ledger.append(_curve_row("A4-s1", 1500.0, 900.0, "", k=9, steps=3990))
    assert study.rated(jobs["A4-s1"])


def test_signals_are_collected_once_a_run_has_trained_its_arms_work(analyse, tmp_path, monkeypatch):
    import json

    import study

    _signals(tmp_path, monkeypatch, A3=2000, A4=4000)
    monkeypatch.setattr(analyse, "SIGNALS", study.SIGNALS)
    monkeypatch.setattr(analyse, "RUNS", tmp_path / "runs")
    for label, last in (("A3-s2", 2000), ("A4-s2", 1500)):  # A4-s2 is still short of its arm's 4,000 steps
        run = tmp_path / "runs" / label
        run.mkdir(parents=True)
        metrics = [{"generation": g, "step": s, "cpu_seconds": 0.2 * s, "games": g * 10, "positions": g * 100,
                    "noise_scale": float(s), "black_win_rate": 0.4, "mean_game_length": 60.0}
                   for g, s in enumerate((250, 500, 1000, 1500, last)[: 5 if last == 2000 else 4], 1)]
        (run / "metrics.jsonl").write_text("".join(json.dumps(m) + "\n" for m in metrics))
        (run / "batches.jsonl").write_text("".join(json.dumps({"step": s, "bits_per_sample": 1.0 + (s > 1000)}) + "\n"
                                                   for s in range(1, last + 1, 50)))
    got = analyse.collect()
    assert "A4-s2" not in got and got["A3-s2"]["steps"] == 2000  # trained by steps, though 400 CPU s is no hour
    assert got["A3-s2"]["bits_per_sample"] == 2.0  # the median of the second half of its batches
    assert {k: v["noise_scale"] for k, v in got["A3-s2"]["noise_scale"].items()} == {"0.25": 500.0, "0.5": 1000.0,
                                                                                     "1.0": 2000.0}
    assert json.loads(study.SIGNALS.read_text())["A3-s0"] == {"steps": 2000}  # what was there is kept
    metrics = tmp_path / "runs" / "A3-s2" / "metrics.jsonl"
    metrics.write_text(metrics.read_text().replace('"games": 50', '"games": 77'))
    assert analyse.collect(only={"A4-s2"})["A3-s2"]["games"] == 50  # only the runs named are read again
    assert analyse.collect(only={"A3-s2"})["A3-s2"]["games"] == 77


def test_full_first_rates_each_trained_runs_last_snapshot_before_any_other_point(analyse, tmp_path, monkeypatch):
    import study
    import torch

    from gozero.research.ledger import Ledger

    monkeypatch.setattr(study, "RUNS", tmp_path / "runs")
    ledger = Ledger(tmp_path)
    jobs = []
    for label in ("A3-s2", "A4-s2", "A5-s2"):
        job = {"label": label, "arm": label[:2], "exp": tmp_path, "seed": 2, "steps": 2000,
               "points": [f * 2000 for f in study.FRACTIONS]}
        kept = study.kept_dir(job)
        kept.mkdir(parents=True)
        for step in (100, 2000) if label != "A5-s2" else (100,):  # A5-s2 is not trained yet
            torch.save({"step": step, "cpu_seconds": step / 2}, kept / f"step_{step:08d}.pt")
        jobs.append(job)
    assert not study.full_rated(jobs[0])
    ledger.append(_curve_row("A3-s2", 50.0, 500.0, "", k=0, steps=100))
    assert not study.full_rated(jobs[0])  # an early point is not the full budget's
    ledger.append(_curve_row("A3-s2", 1000.0, 900.0, "", k=1, steps=2000))
    assert study.full_rated(jobs[0]) and not study.full_rated(jobs[1])

    calls = []

    def fake_run_job(job, commit, rate=True, final_only=False):
        calls.append((job["label"], final_only))
        if final_only:
            ledger.append(_curve_row(job["label"], 1000.0, 900.0, "", k=1, steps=2000))

    monkeypatch.setattr(study, "jobs", lambda stage, arms, seeds: jobs)
    monkeypatch.setattr(study, "run_job", fake_run_job)
    monkeypatch.setattr(sys, "argv", ["study.py", "main", "--full-first"])
    study.main()
    # A4-s2's full point first (A3-s2 has its own), then every run's other points in order
    assert calls == [("A4-s2", True), ("A3-s2", False), ("A4-s2", False), ("A5-s2", False)]


def test_the_pair_by_pair_section_shows_each_gap_ratio_and_noise_factor(analyse):
    elo = {"A1": 100, "A2": 1000, "A3": 1080, "A4": 1110, "A5": 1200}
    table = _table(analyse, lambda arm, s, f: elo.get(arm, 0) + 50 * s)  # seeds 0-2: +0, +50, +100
    bits = {"A1": 0.01, "A2": 0.02, "A3": 2.0, "A4": 0.5, "A5": 2.0}
    noise = {"A1": 500.0, "A2": 40000.0, "A5": 2000.0}
    signals = {f"{a}-s{s}": {"bits_per_sample": bits[a] * (1 + s),
                             "noise_scale": {f: {"noise_scale": noise.get(a, 1.0)} for f in ("0.25", "0.5", "1.0")}}
               for a in bits for s in analyse.MAIN_SEEDS}
    text = "\n".join(analyse.pairs_section(table, signals))
    assert "| A3 onehot | A2 ppo | +80, overlap | +80, overlap | 33.3 |" in text  # 2 / (0.02 * 3)
    assert "| A5 gumbel | A1 reinforce | +1100, apart | +1100, apart | 66.7 |" in text
    assert "| A1 reinforce | 500 (0.25x) | 500 (0.25x) | 500 (0.25x) |" in text
    assert "| A2 ppo | 4e+04 (20.00x) |" in text
    assert "| A4 puct | A2 ppo | +110, apart |" in text  # [1110, 1210] against [1000, 1100]
    empty = [r for r in analyse.pairs_section({}, {}) if r.startswith("| A")]  # nothing rated yet
    assert len(empty) == 9 and all(r.endswith("| - | - | - |") or r.endswith("| - | - |") for r in empty)


def test_the_reanalyse_section_sets_each_a7_seed_against_a5s_with_its_targets_movement(analyse):
    elo = {"A5": 1100, "A7": 1160}
    table = _table(analyse, lambda arm, s, f: elo.get(arm, 0) + 10 * s)
    del table["A7-s2"][1.0]  # seed 2 not rated yet
    floor = [{"simulations": 16, "stored_vs_refreshed_tv": 0.81, "refresh_vs_refresh_tv": 0.6},
             {"simulations": 64, "stored_vs_refreshed_tv": 0.7, "refresh_vs_refresh_tv": 0.4}]
    signals = {"A5-s0": {"steps": 4061, "games": 17000},
               "A7-s0": {"steps": 2500, "games": 11000, "reanalyse_kl_bits": 12.5, "reanalyse_tv": 0.833,
                         "reanalyse_value_change": 0.0912, "reanalyse_floor": floor}}
    table["A7-s1-2844s"] = {0.5: {"elo": 1090.0, "raw_elo": 1000.0, "cpu_s": 2844.0}}  # the sensitivity point
    text = "\n".join(analyse.reanalyse_section(table, signals))
    assert "| 0 | 1160 / 1060 | 1100 / 1000 | +60 / +60 | - | - | 2,500, 11,000 | 4,061, 17,000 | " \
           "12.5, 0.83, 0.0912 | 0.81, 0.60 (16 sims); 0.70, 0.40 (64 sims) |" in text
    assert "| 1 | 1170 / 1070 | 1110 / 1010 | +60 / +60 | 1090 / 1000 | -20 / -10 | - | - | - | - |" in text
    assert "| 2 | - | 1120 / 1020 | - |" in text
    no_a7 = {k: v for k, v in table.items() if not k.startswith("A7")}
    assert analyse.reanalyse_section(no_a7, {}) == []  # no section before any A7 run


def test_a_run_that_reanalysed_has_its_target_movement_and_floor_collected(analyse, tmp_path, monkeypatch):
    import json

    monkeypatch.setattr(analyse, "SIGNALS", tmp_path / "signals.json")
    monkeypatch.setattr(analyse, "RUNS", tmp_path / "runs")
    monkeypatch.setattr(analyse, "reanalyse_floor", lambda run: [{"run": run.name}])
    for label, extra in (("A5-c0", {}), ("A7-c0", {"reanalyse_tv": 0.8, "reanalyse_kl_bits": 9.0,
                                                   "reanalyse_value_change": 0.1})):
        run = tmp_path / "runs" / label
        run.mkdir(parents=True)
        (run / "metrics.jsonl").write_text(json.dumps({"generation": 1, "step": 100, "cpu_seconds": 950.0,
                                                      "games": 10, "positions": 100}) + "\n")
        (run / "batches.jsonl").write_text("".join(json.dumps({"step": s, "bits_per_sample": 1.0,
                                                               **{k: v * s / 100 for k, v in extra.items()}}) + "\n"
                                                   for s in range(1, 101)))
    got = analyse.collect()
    assert "reanalyse_tv" not in got["A5-c0"] and "reanalyse_floor" not in got["A5-c0"]
    assert got["A7-c0"]["reanalyse_tv"] == pytest.approx(0.8 * 75.5 / 100)  # median of steps 51-100
    assert got["A7-c0"]["reanalyse_kl_bits"] == pytest.approx(9.0 * 75.5 / 100)
    assert got["A7-c0"]["reanalyse_floor"] == [{"run": "A7-c0"}]


def test_the_reanalyse_floor_of_a_real_run_is_a_pair_of_distances_and_repeats(analyse, tmp_path):
    import reanalyse_floor

    from gozero.train.config import load_config
    from gozero.train.loop import TrainingRun

    tiny = ["run.games_per_generation=4", "selfplay.parallel_games=4", "selfplay.full_simulations=4",
            "selfplay.cheap_simulations=2", "train.batch_size=16", "train.min_steps_per_generation=2",
            "train.max_steps_per_generation=2", "run.shard_positions=48", "run.torch_threads=1", 'run.device="cpu"',
            "selfplay.sgf_every=0", "run.max_generations=1", "net.blocks=1", "net.channels=8", "net.pool_every=1",
            "train.reanalyse_fraction=0.25", "train.reanalyse_simulations=4", "run.signals_every_seconds=1e9"]
    TrainingRun.create(tmp_path, load_config(preset="tiny", overrides=tiny), log=lambda s: None).run()
    got = reanalyse_floor.floor(tmp_path, positions=16, simulations=(4,))
    assert [g["simulations"] for g in got] == [4] and got[0]["positions"] == 16
    assert 0 < got[0]["stored_vs_refreshed_tv"] <= 1 and 0 <= got[0]["refresh_vs_refresh_tv"] <= 1
    assert reanalyse_floor.floor(tmp_path, positions=16, simulations=(4,)) == got  # seeded: the same positions
    assert [g["simulations"] for g in reanalyse_floor.floor(tmp_path, positions=4)] == [4, 64]  # its own, and 64
    with pytest.raises(FileNotFoundError):
        reanalyse_floor.floor(tmp_path / "nothing")


def test_within_one_read_a_runs_checkpoint_is_read_once(analyse, tmp_path, monkeypatch):
    import study
    import torch

    monkeypatch.setattr(study, "RUNS", tmp_path / "runs")
    job = {"label": "A3-s2", "exp": tmp_path, "steps": 2000}
    (tmp_path / "runs" / "A3-s2" / "checkpoints").mkdir(parents=True)
    latest = tmp_path / "runs" / "A3-s2" / "checkpoints" / "latest.pt"
    torch.save({"step": 700}, latest)
    loads = []
    real = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **k: loads.append(a[0]) or real(*a, **k))
    with study.one_read():
        assert study.done(job) == 700 and not study._trained(job) and study.done(dict(job)) == 700
        torch.save({"step": 2000}, latest)  # trained meanwhile: seen at the next pass
        assert study.done(job) == 700
    assert len(loads) == 1
    assert study.done(job) == 2000 and study._trained(job) and len(loads) == 3  # outside it, read each time


def test_a_machine_measure_holds_the_measure_lock_so_two_copies_never_measure_at_once(analyse, tmp_path,
                                                                                      monkeypatch):
    import fcntl

    import study

    monkeypatch.setattr(study, "RUNS", tmp_path / "runs")
    held = []

    def fake_run(argv, **kw):  # the throughput script's run: is another copy able to take the lock now?
        with open(tmp_path / "runs" / ".measure.lock", "a") as other:
            try:
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
                held.append(False)
            except BlockingIOError:
                held.append(True)
        return type("Done", (), {"returncode": 0})()

    monkeypatch.setattr(study.subprocess, "run", fake_run)
    assert study._throughput("A7-s0", tmp_path / "machines.jsonl")
    assert held == [True]
    with open(tmp_path / "runs" / ".measure.lock", "a") as after:  # and free once the measure is done
        fcntl.flock(after, fcntl.LOCK_EX | fcntl.LOCK_NB)


def test_h6_per_move_credit_against_search_and_policy_gradient(analyse):
    def with_a6(a6: float) -> dict:
        return _table(analyse, lambda a, s, f: {"A1": 100, "A2": 950, "A5": 1140, "A6": a6}.get(a, 1000) + 5 * s)
    assert analyse.h6(with_a6(1100), "elo").startswith("confirmed")  # 40 below A5, 150 above PPO
    assert analyse.h6(with_a6(1020), "elo").startswith("refuted")  # nearer PPO (70) than A5 (120)
    assert analyse.h6(with_a6(1048), "elo").startswith("inconclusive")  # 92 below A5 but only 98 above PPO
    partial = with_a6(1100)
    del partial["A6-s2"][1.0]
    assert analyse.h6(partial, "elo").startswith("pending")


def test_state_line_counts_core_and_optional_apart(analyse):
    table = _table(analyse, lambda a, s, f: 500.0)
    for s in analyse.MAIN_SEEDS:
        del table[f"A6-s{s}"]
    del table["A7-s2"][1.0]
    pilot = {f"{a}-c{k}": {1.0: {"elo": 0.0}} for a in analyse.CORE + ("A7",) for k in range(len(analyse.GRIDS[a]))}
    pilot["A6-c0"] = {1.0: {"elo": 0.0}}
    line = analyse.state_line(table, pilot)
    n_core, n_opt = (len(arms) * len(analyse.MAIN_SEEDS) for arms in (analyse.CORE, analyse.OPTIONAL))
    assert f"{n_core} of {n_core} core" in line
    assert f"{len(analyse.MAIN_SEEDS) - 1} of {n_opt} optional" in line
    n_core_cfg = sum(len(analyse.GRIDS[a]) for a in analyse.CORE)
    n_opt_cfg = sum(len(analyse.GRIDS[a]) for a in analyse.OPTIONAL)
    assert f"{n_core_cfg} of {n_core_cfg} core, {len(analyse.GRIDS['A7']) + 1} of {n_opt_cfg} optional" in line
