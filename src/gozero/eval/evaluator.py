"""Evaluation during training: rate each new checkpoint against a fixed panel, optionally gate it.

`Evaluator(run_dir, panel=["random", "gnugo:0", "gnugo:10"], games=20)` plays a new
checkpoint (as ``gozero:CKPT@VISITS`` over GTP) against every panel engine, refits the
ratings over all games in ``RUN/eval/results.db`` and appends one JSON line per checkpoint
to ``RUN/eval/metrics.jsonl``. `evaluate` returns the same dict. With ``gating=True`` it
also plays the candidate against the current best (``RUN/eval/best.txt``) and promotes it
when it scores at least 55% (AlphaGo Zero's rule), see `is_better`.

The training loop can call it inline, or off the loop's thread and CPU with `spawn`, which
runs ``python -m gozero.eval.evaluator RUN CKPT ...`` as a background process.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from .engines import parse_spec
from .ladder import current_fit
from .match import MatchSettings, preflight, run_match
from .ratings import wilson_interval
from .report import step_of
from .results_db import ResultsDB

DEFAULT_PANEL = ("random", "gnugo:0", "gnugo:10")


class Evaluator:
    """Rates checkpoints of one training run; results live under ``RUN/eval/``."""

    def __init__(self, run_dir: str | Path, panel: Sequence[str] = DEFAULT_PANEL, games: int = 20,
                 gating: bool = False, visits: int = 64, size: int = 9, komi: float = 7.5, parallel: int = 1,
                 anchor: str = "random", anchor_elo: float = 0.0, gate_threshold: float = 0.55,
                 gate_games: int | None = None, move_timeout: float = 120.0,
                 engine_template: str = "gozero:{checkpoint}@{visits}", settings: MatchSettings | None = None):
        self.run_dir = Path(run_dir)
        self.dir = self.run_dir / "eval"
        self.panel = [parse_spec(p).spec for p in panel]
        if games < 1:
            raise ValueError("games must be >= 1")
        if not 0.5 <= gate_threshold <= 1.0:
            raise ValueError("gate_threshold must be within 0.5..1")
        self.games, self.gating, self.visits = games, gating, visits
        self.settings = settings or MatchSettings(size=size, komi=komi, move_timeout=move_timeout)
        self.parallel, self.anchor, self.anchor_elo = parallel, anchor, anchor_elo
        self.gate_threshold, self.gate_games = gate_threshold, gate_games or games
        self.engine_template = engine_template
        self._panel_checked = False

    @property
    def db_path(self) -> Path:
        return self.dir / "results.db"

    @property
    def metrics_path(self) -> Path:
        return self.dir / "metrics.jsonl"

    @property
    def best_path(self) -> Path:
        return self.dir / "best.txt"

    def spec_for(self, checkpoint: str | Path) -> str:
        """The engine spec of a checkpoint at this evaluator's search budget."""
        return parse_spec(self.engine_template.format(checkpoint=Path(checkpoint).resolve(), visits=self.visits)).spec

    def _db(self) -> ResultsDB:
        return ResultsDB(self.db_path)

    def evaluate(self, checkpoint: str | Path) -> dict:
        """Play the panel, refit, record and return {checkpoint, step, elo, elo_low, elo_high, vs, gate...}."""
        ckpt = Path(checkpoint)
        spec = self.spec_for(ckpt)
        if not self._panel_checked:
            preflight([parse_spec(p) for p in self.panel], self.settings)
            self._panel_checked = True
        t0 = time.monotonic()
        out: dict = {"checkpoint": str(ckpt), "step": step_of(ckpt), "spec": spec, "vs": {}}
        with self._db() as db:
            for opp in self.panel:
                res = run_match(spec, opp, self.games, self.settings, db, self.dir / "sgf", parallel=self.parallel)
                summ = res.summary()
                lo, hi = wilson_interval(summ["a_points"], int(summ["decided"]))
                out["vs"][opp] = {"score": summ["a_points"] / summ["decided"] if summ["decided"] else None,
                                  "decided": summ["decided"], "low": lo, "high": hi, "no_result": summ["no_result"]}
            if self.gating:
                best = self.best()
                if best is None:
                    out["gate"] = True
                    out["gate_note"] = "first checkpoint becomes the best"
                else:
                    out["gate"] = self.is_better(ckpt, best, db=db)
                if out["gate"]:
                    self.dir.mkdir(parents=True, exist_ok=True)
                    self.best_path.write_text(str(ckpt.resolve()) + "\n")
            fit = current_fit(db, self.settings.size, self.anchor, self.anchor_elo)
        if fit is not None and spec in fit.ratings:
            r = fit.ratings[spec]
            out.update(elo=r.elo, elo_low=r.low, elo_high=r.high)
        out["seconds"] = time.monotonic() - t0
        out["time"] = time.time()
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.metrics_path, "a") as fh:
            fh.write(json.dumps(out) + "\n")
        return out

    def best(self) -> Path | None:
        """The current best checkpoint (gating), if any."""
        if not self.best_path.is_file():
            return None
        text = self.best_path.read_text().strip()
        return Path(text) if text else None

    def is_better(self, new: str | Path, best: str | Path, db: ResultsDB | None = None) -> bool:
        """AlphaGo Zero gating: does ``new`` score at least ``gate_threshold`` against ``best``?"""
        own = db is None
        db = db or self._db()
        try:
            res = run_match(self.spec_for(new), self.spec_for(best), self.gate_games, self.settings, db,
                            self.dir / "sgf", parallel=self.parallel)
        finally:
            if own:
                db.close()
        summ = res.summary()
        return summ["decided"] > 0 and summ["a_points"] / summ["decided"] >= self.gate_threshold

    def spawn(self, checkpoint: str | Path, log: str | Path | None = None) -> subprocess.Popen:
        """Evaluate ``checkpoint`` in a background process (returns it; its result lands in metrics.jsonl)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-m", "gozero.eval.evaluator", str(self.run_dir), str(checkpoint),
                "--games", str(self.games), "--visits", str(self.visits), "--size", str(self.settings.size),
                "--komi", str(self.settings.komi), "--parallel", str(self.parallel), "--anchor", self.anchor,
                "--anchor-elo", str(self.anchor_elo), "--gate-threshold", str(self.gate_threshold),
                "--template", self.engine_template, "--panel", *self.panel]
        if self.gating:
            argv.append("--gating")
        if self.settings.scoring != "gnugo-dead" or not self.settings.check_score:
            argv.append("--no-gnugo")
        logf = open(log or self.dir / "evaluator.log", "a")  # noqa: SIM115 - handed to the child
        try:
            return subprocess.Popen(argv, stdout=logf, stderr=subprocess.STDOUT)
        finally:
            logf.close()


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Rate one checkpoint of a training run against a panel.")
    ap.add_argument("run_dir")
    ap.add_argument("checkpoint")
    ap.add_argument("--panel", nargs="+", default=list(DEFAULT_PANEL))
    ap.add_argument("--games", type=int, default=20)
    ap.add_argument("--visits", type=int, default=64)
    ap.add_argument("--size", type=int, default=9)
    ap.add_argument("--komi", type=float, default=7.5)
    ap.add_argument("--parallel", type=int, default=1)
    ap.add_argument("--anchor", default="random")
    ap.add_argument("--anchor-elo", type=float, default=0.0)
    ap.add_argument("--gate-threshold", type=float, default=0.55)
    ap.add_argument("--template", default="gozero:{checkpoint}@{visits}")
    ap.add_argument("--gating", action="store_true")
    ap.add_argument("--no-gnugo", action="store_true", help="Tromp-Taylor scoring without GNU Go's cross-check")
    a = ap.parse_args(argv)
    settings = MatchSettings(size=a.size, komi=a.komi, move_timeout=120.0,
                             scoring="tromp-taylor" if a.no_gnugo else "gnugo-dead", check_score=not a.no_gnugo)
    ev = Evaluator(a.run_dir, a.panel, a.games, a.gating, a.visits, a.size, a.komi, a.parallel, a.anchor,
                   a.anchor_elo, a.gate_threshold, engine_template=a.template, settings=settings)
    print(json.dumps(ev.evaluate(a.checkpoint)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
