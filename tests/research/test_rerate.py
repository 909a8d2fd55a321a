"""`gozero research rerate`: ledger rows re-rated from their kept per-member scores, with the
old values noted, statuses kept as decided, nothing written on a dry run, and idempotent."""

import json
import shutil
import subprocess
import sys

import pytest
from research_setup import make_experiment

from gozero.eval.ratings import rate_against
from gozero.research.experiment import load_experiment
from gozero.research.ledger import Ledger
from gozero.research.panel import member_elos
from gozero.research.rerate import rerate

MEMBERS = ["random", "anchor:7x7-step00048"]
A = MEMBERS[1]
PER = 40  # games per member


def _experiment(tmp_path):
    folder = make_experiment(tmp_path)
    toml = folder / "experiment.toml"
    toml.write_text(toml.read_text().replace('members = ["random"]', f"members = {json.dumps(MEMBERS)}"))
    exp = load_experiment(folder)
    assert list(exp.panel.members) == MEMBERS
    games = [[A, "random", 1.0]] * 30 + [[A, "random", 0.0]] * 10  # the anchor net beats random 3:1
    (folder / "calibration.json").write_text(json.dumps({"fingerprint": exp.panel.fingerprint(),
                                                         "panel": {}, "cpu_seconds": 0.0, "games": games}))
    return exp


def _row(run_id: str, status: str, elo, low=None, high=None, raw=None) -> dict:
    return {"run_id": run_id, "status": status, "elo": elo, "elo_low": low, "elo_high": high, "raw_elo": raw,
            "description": f"row {run_id}", "seed": 0, "budget_s": 20.0, "cpu_s": 20.0, "trial": -1}


def _rated(exp, row: dict, scores: dict, raw: dict) -> None:
    """``row`` in the ledger, rated (by an older fit) with these mean scores."""
    Ledger(exp.dir).append(row)
    d = exp.dir / "runs" / row["run_id"]
    d.mkdir(parents=True)
    with open(d / "ratings.jsonl", "w") as fh:
        fh.write(json.dumps({"elo": row["elo"] - 50.0, "scores": {m: 0.0 for m in scores}, "raw_scores": {},
                             "games": 8}) + "\n")  # an earlier (intermediate) rating of the run
        fh.write(json.dumps({"elo": row["elo"], "low": row["elo_low"], "high": row["elo_high"],
                             "raw_elo": row["raw_elo"], "scores": scores, "raw_scores": raw,
                             "games": PER * (len(scores) + len(raw))}) + "\n")


def _games(scores: dict) -> list:
    out = []
    for m, s in scores.items():
        wins = round(s * PER)
        out += [("x", m, 1.0)] * wins + [("x", m, 0.0)] * (PER - wins)
    return out


def test_rows_are_re_rated_from_their_kept_scores(tmp_path):
    exp = _experiment(tmp_path)
    even, better = {"random": 1.0, A: 0.5}, {"random": 1.0, A: 0.9}
    _rated(exp, _row("r1", "keep", 100.0, 50.0, 150.0, 40.0), even, {"random": 0.75, A: 0.25})
    _rated(exp, _row("r2", "discard", 130.0, 80.0, 180.0, 90.0), even, {"random": 0.75, A: 0.25})
    _rated(exp, _row("r3", "discard", 150.0, 99.0, 201.0, 60.0), better, {"random": 0.75, A: 0.25})
    Ledger(exp.dir).append(_row("r4", "crash", None))  # never rated
    Ledger(exp.dir).append(_row("r5", "discard", 120.0, 70.0, 170.0, 30.0))  # its scores are gone
    before = {p.name: p.read_bytes() for p in exp.dir.iterdir() if p.is_file()}

    dry = rerate(exp, dry_run=True, date="2026-12-01")
    assert {p.name: p.read_bytes() for p in exp.dir.iterdir() if p.is_file()} == before  # nothing written
    out = rerate(exp, date="2026-12-01")
    assert out["changed"] == dry["changed"] and out["missing"] == ["r5"]

    fixed = member_elos(exp.panel, [tuple(g) for g in json.loads((exp.dir / "calibration.json").read_text())["games"]])
    assert fixed["random"] == 0.0 and fixed[A] > 100.0
    rows = {r["run_id"]: r for r in Ledger(exp.dir).rows()}
    # identical scores, identical Elo (the older fit had given them 100 and 130)
    assert rows["r1"]["elo"] == pytest.approx(rows["r2"]["elo"], abs=1e-9)
    assert rows["r1"]["elo"] == pytest.approx(rate_against(_games(even), "x", fixed).elo, abs=1e-6)
    assert rows["r1"]["raw_elo"] == pytest.approx(
        rate_against(_games({"random": 0.75, A: 0.25}), "x", fixed).elo, abs=1e-6)
    assert rows["r1"]["elo_low"] < rows["r1"]["elo"] < rows["r1"]["elo_high"]
    assert rows["r3"]["elo"] > rows["r1"]["elo"]
    # statuses stay as decided; the old values are noted, and a decision the new numbers would change
    assert [rows[k]["status"] for k in ("r1", "r2", "r3", "r4", "r5")] == ["keep", "discard", "discard", "crash",
                                                                           "discard"]
    note = rows["r2"]["description"]
    assert "re-rated 2026-12-01" in note and "was 130 [80, 180], raw 90" in note
    assert rows["r2"]["description"].startswith("row r2; ")
    r3_clears = rows["r3"]["elo_low"] > rows["r1"]["elo"]
    assert ("would have been keep" in rows["r3"]["description"]) == r3_clears and r3_clears
    assert "would have been" not in rows["r2"]["description"]
    assert rows["r5"]["elo"] == 120.0 and rows["r5"]["description"] == "row r5"
    assert rows["r4"]["elo"] is None
    # the TSV carries the same numbers
    tsv = {ln.split("\t")[0]: ln.split("\t") for ln in (exp.dir / "results.tsv").read_text().splitlines()[1:]}
    assert float(tsv["r2"][8]) == pytest.approx(rows["r2"]["elo"], rel=1e-5)

    # the scores went into panel_scores.jsonl: a clone without runs/ re-rates the same, and a
    # second pass changes nothing
    kept = Ledger(exp.dir).stored_ratings()
    assert sorted(kept) == ["r1", "r2", "r3"] and kept["r1"]["games_per_member"] == PER
    shutil.rmtree(exp.dir / "runs")
    again = rerate(exp, date="2026-12-02")
    assert again["changed"] == [] and again["unchanged"] == 3 and again["missing"] == ["r5"]
    assert {r["run_id"]: r for r in Ledger(exp.dir).rows()} == rows


def test_a_new_rated_row_keeps_its_rating_and_a_stale_one_is_not_taken(tmp_path):
    exp = _experiment(tmp_path)
    ledger = Ledger(exp.dir)
    d = exp.dir / "runs" / "n1"
    d.mkdir(parents=True)
    (d / "ratings.jsonl").write_text(json.dumps({"elo": 200.0, "scores": {"random": 1.0, A: 0.5}, "raw_scores": {},
                                                 "games": 2 * PER}) + "\n")
    ledger.record(_row("n1", "curve", 200.0, 150.0, 250.0, None))
    assert ledger.stored_ratings()["n1"]["games_per_member"] == PER
    d = exp.dir / "runs" / "n2"
    d.mkdir(parents=True)
    (d / "ratings.jsonl").write_text(json.dumps({"elo": 10.0, "scores": {"random": 1.0}, "games": 40}) + "\n")
    ledger.record(_row("n2", "curve", 300.0, 250.0, 350.0, None))  # the run's last rating is not this row's
    assert sorted(ledger.stored_ratings()) == ["n1"]
    with open(ledger.scores_path, "a") as fh:
        fh.write('{"run_id": "n3", "sco')  # a line cut by a kill is skipped
    assert sorted(ledger.stored_ratings()) == ["n1"]


def test_the_command_and_its_errors(tmp_path):
    exp = _experiment(tmp_path)
    _rated(exp, _row("r1", "keep", 100.0, 50.0, 150.0, 40.0), {"random": 1.0, A: 0.5}, {"random": 0.5, A: 0.0})
    cli = [sys.executable, "-m", "gozero.cli", "research", "rerate", str(exp.dir)]
    out = subprocess.run(cli + ["--dry-run"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "r1" in out.stdout and "1 rows would change" in out.stdout
    out = subprocess.run(cli + ["--json"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and [c["run_id"] for c in json.loads(out.stdout)["changed"]] == ["r1"]
    (exp.dir / "calibration.json").write_text(json.dumps({"fingerprint": "other", "games": []}))
    out = subprocess.run(cli, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "another panel" in out.stderr
    (exp.dir / "calibration.json").unlink()
    out = subprocess.run(cli, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "no calibration" in out.stderr
