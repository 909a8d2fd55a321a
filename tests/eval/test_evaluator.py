"""The training-time evaluator: rate checkpoints against a panel, gate, run in the background."""

from __future__ import annotations

import json
import shlex
import sys

import pytest

from gozero.eval.evaluator import Evaluator
from gozero.eval.match import MatchSettings

FAST = MatchSettings(size=9, komi=7.5, move_timeout=30, scoring="tromp-taylor", check_score=False)


def _template(fake_path, extra: str = "") -> str:
    # a fake engine stands in for `gozero gtp --model CKPT`; the checkpoint path names the player
    return "gtp:" + shlex.join([sys.executable, str(fake_path)]) + " --tag {checkpoint} --pass-after {visits}" + extra


def _checkpoints(tmp_path):
    ck = tmp_path / "run" / "checkpoints"
    ck.mkdir(parents=True)
    paths = [ck / f"step_{s:08d}.pt" for s in (10, 20)]
    for p in paths:
        p.write_bytes(b"")
    return paths


def test_evaluate_records_elo_and_win_rates(fake_path, tmp_path) -> None:
    ck1, _ = _checkpoints(tmp_path)
    ev = Evaluator(tmp_path / "run", panel=["random"], games=2, visits=6, engine_template=_template(fake_path),
                   settings=FAST)
    out = ev.evaluate(ck1)
    assert out["step"] == 10 and "--tag" in out["spec"] and str(ck1.resolve()) in out["spec"]
    vs = out["vs"]["random"]
    assert vs["decided"] == 2 and 0 <= vs["low"] <= vs["high"] <= 1
    assert out["elo_low"] <= out["elo"] <= out["elo_high"]
    lines = (tmp_path / "run" / "eval" / "metrics.jsonl").read_text().splitlines()
    assert json.loads(lines[-1])["elo"] == pytest.approx(out["elo"])
    assert (tmp_path / "run" / "eval" / "results.db").is_file()
    # evaluating again adds no games (the match is already complete)
    again = ev.evaluate(ck1)
    assert again["vs"]["random"]["decided"] == 2


def test_gating_promotes_only_a_better_checkpoint(fake_path, tmp_path) -> None:
    ck1, ck2 = _checkpoints(tmp_path)
    ev = Evaluator(tmp_path / "run", panel=["random"], games=2, visits=6, gating=True,
                   engine_template=_template(fake_path), settings=FAST)
    first = ev.evaluate(ck1)
    assert first["gate"] is True and ev.best() == ck1.resolve()
    # the fake engine plays the same moves whatever its tag, so the new checkpoint scores 50%: below 55%
    second = ev.evaluate(ck2)
    assert second["gate"] is False and ev.best() == ck1.resolve()
    strict = Evaluator(tmp_path / "run", panel=["random"], games=2, visits=6, gate_threshold=0.5,
                       engine_template=_template(fake_path), settings=FAST)
    assert strict.is_better(ck2, ck1) is True  # 1-1 with colours alternated meets a 50% bar


@pytest.mark.slow
def test_spawn_runs_in_a_background_process(fake_path, tmp_path) -> None:
    ck1, _ = _checkpoints(tmp_path)
    ev = Evaluator(tmp_path / "run", panel=["random"], games=1, visits=6, engine_template=_template(fake_path),
                   settings=FAST)
    proc = ev.spawn(ck1)
    assert proc.wait(timeout=120) == 0, (tmp_path / "run" / "eval" / "evaluator.log").read_text()
    row = json.loads((tmp_path / "run" / "eval" / "metrics.jsonl").read_text().splitlines()[-1])
    assert row["step"] == 10 and row["vs"]["random"]["decided"] == 1


def test_bad_arguments(tmp_path) -> None:
    with pytest.raises(ValueError, match="unknown engine"):
        Evaluator(tmp_path, panel=["nosuch"])
    with pytest.raises(ValueError, match="games"):
        Evaluator(tmp_path, games=0)
