"""The AlphaZero generation loop behind `gozero train`: self-play, train, checkpoint, repeat.

A run directory holds everything of one run::

    RUN/config.toml            the full configuration (preset + overrides)
    RUN/checkpoints/latest.pt  model, optimizer, step, RNG states, counters (atomic)
    RUN/checkpoints/step_XXXXXXXX.pt  model snapshots for evaluation and play
    RUN/shards/ RUN/pending/   self-play examples (see selfplay/shards.py)
    RUN/sgf/                   a sample of self-play games
    RUN/metrics.jsonl          one line per generation; RUN/tb/ TensorBoard logs

Killed at any moment (SIGKILL included), ``gozero train --resume RUN`` restarts from the
last checkpoint; finished self-play games are on disk already and stay in the window.
Each generation plays ``games_per_generation`` games with the newest weights, then takes
``sample_reuse x new positions / batch_size`` training steps on the replay window.
``run.max_cpu_seconds`` bounds the run's CPU time (this process and its children, counted
across resumptions; see cputime.py), checked between self-play moves and training steps.
"""

from __future__ import annotations

import json
import math
import os
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from gozero.net.inference import NetEvaluator, pick_device
from gozero.net.model import NetConfig, build_model
from gozero.rules import Rules
from gozero.selfplay.selfplay import SelfPlay, SelfPlayProgress
from gozero.selfplay.shards import ShardWriter

from .config import RunConfig, to_toml
from .cputime import CPUClock
from .replay import ReplayWindow
from .trainer import Trainer


def atomic_torch_save(obj: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with open(tmp, "wb") as fh:
        torch.save(obj, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def save_model_file(model: torch.nn.Module, net: NetConfig, path: Path, **meta) -> None:
    """A model-only file (what `gozero gtp --model` and the shipped model use)."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    atomic_torch_save({"model": state, "net": asdict(net), **meta}, path)


BATCH_KEYS = ("bits_", "policy", "ppo_", "reanalyse_")  # per-batch stats written to RUN/batches.jsonl
META_KEYS = ("step", "generation", "games", "positions", "hours", "cpu_seconds", "source")


def export_model(src: Path, dst: Path, half: bool = True, source: str | None = None) -> dict:
    """Write the model of checkpoint ``src`` (a run's latest.pt, a snapshot or a model file)
    as a model-only file for shipping: weights (fp16 with ``half``: half the size, loaded
    back into fp32), the net shape and the training counters; no optimizer or RNG state.
    Returns the metadata written."""
    data = torch.load(Path(src), map_location="cpu", weights_only=False)
    if not isinstance(data, dict) or "model" not in data or "net" not in data:
        raise ValueError(f"{src} is not a gozero checkpoint (no 'model'/'net' entries)")
    dtype = torch.float16 if half else torch.float32
    state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in data["model"].items()}
    meta = {k: data[k] for k in META_KEYS if k in data}
    if "hours" not in meta and "seconds" in data:
        meta["hours"] = data["seconds"] / 3600
    if source is not None:
        meta["source"] = source
    atomic_torch_save({"model": state, "net": data["net"], **meta}, Path(dst))
    return meta


class TrainingRun:
    """One run directory: create it from a config, or resume it."""

    def __init__(self, run_dir: Path, cfg: RunConfig, log: Callable[[str], None] = print):
        self.dir = Path(run_dir)
        self.cfg = cfg
        self.log = log
        self.ckpt_dir = self.dir / "checkpoints"
        self.device = pick_device(cfg.run.device)
        if cfg.run.torch_threads:
            torch.set_num_threads(cfg.run.torch_threads)
        self.model = build_model(cfg.net)
        self.trainer = self._make_trainer()
        self.generation = 0
        self.games = 0
        self.positions = 0
        self.seconds = 0.0
        self.selfplay_seconds = 0.0
        self.train_seconds = 0.0
        self.cpu_seconds = 0.0  # CPU time of the run and its children, over all sessions
        self._clock: CPUClock | None = None
        self._clock_checked = 0.0
        self.measure_seconds = 0.0  # of self.seconds: spent on checkpoint measures, not on learning
        self._measured_at: float | None = None  # run seconds of the last checkpoint measures
        self._measured_state: dict | None = None  # the network then (the previous-checkpoint match)
        self._tb = None

    def _make_trainer(self) -> Trainer:
        cfg = self.cfg
        reanalyser = None
        if cfg.train.reanalyse_fraction > 0:
            from .reanalyse import Reanalyser

            reanalyser = Reanalyser(cfg.search, cfg.game.size, cfg.game.komi, cfg.train.reanalyse_fraction,
                                    cfg.train.reanalyse_simulations, cfg.train.reanalyse_value_mix, device=self.device,
                                    precision=cfg.run.precision, allow_suicide=cfg.game.suicide, seed=cfg.run.seed)
        return Trainer(self.model, cfg.train, self.device, total_steps=cfg.run.max_steps, seed=cfg.run.seed,
                       reanalyser=reanalyser)

    def _window(self) -> ReplayWindow:
        t = self.cfg.train
        return ReplayWindow(self.dir, self.cfg.game.size, t.window_min, t.window_max, t.window_alpha, t.window_beta,
                            seed=self.cfg.run.seed + self.trainer.step,
                            gae_lambda=t.gae_lambda if t.policy_loss == "ppo" else 1.0)

    # -- creation and resumption -----------------------------------------------------------
    @classmethod
    def create(cls, run_dir: Path, cfg: RunConfig, log: Callable[[str], None] = print) -> TrainingRun:
        run_dir = Path(run_dir)
        if (run_dir / "checkpoints" / "latest.pt").exists():
            raise FileExistsError(f"{run_dir} already holds a run; use --resume {run_dir}")
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.toml").write_text(to_toml(cfg))
        run = cls(run_dir, cfg, log)
        torch.manual_seed(cfg.run.seed)
        random.seed(cfg.run.seed)
        np.random.seed(cfg.run.seed)
        run.model = build_model(cfg.net)
        run.trainer = run._make_trainer()
        run.save_checkpoint()
        return run

    @classmethod
    def resume(cls, run_dir: Path, log: Callable[[str], None] = print,
               overrides: list[str] | None = None) -> TrainingRun:
        from .config import load_config

        run_dir = Path(run_dir)
        latest = run_dir / "checkpoints" / "latest.pt"
        if not latest.exists():
            raise FileNotFoundError(f"{run_dir} has no checkpoint to resume (no checkpoints/latest.pt)")
        cfg = load_config(file=run_dir / "config.toml", overrides=overrides)
        if overrides:
            (run_dir / "config.toml").write_text(to_toml(cfg))
        run = cls(run_dir, cfg, log)
        data = torch.load(latest, map_location="cpu", weights_only=False)
        run.model.load_state_dict(data["model"])
        run.model.to(run.device)
        run.trainer.opt.load_state_dict(data["optimizer"])
        run.trainer.step = data["step"]
        run.generation = data["generation"]
        run.games = data["games"]
        run.positions = data["positions"]
        run.seconds = data.get("seconds", 0.0)
        run.selfplay_seconds = data.get("selfplay_seconds", 0.0)
        run.train_seconds = data.get("train_seconds", 0.0)
        run.cpu_seconds = data.get("cpu_seconds", 0.0)
        run.measure_seconds = data.get("measure_seconds", 0.0)
        rng = data.get("rng", {})
        if rng:
            random.setstate(rng["python"])
            np.random.set_state(rng["numpy"])
            torch.set_rng_state(rng["torch"])
            run.trainer.rng.bit_generator.state = rng["trainer"]
        log(f"resumed {run_dir} at generation {run.generation}, step {run.trainer.step}, {run.games} games")
        return run

    def save_checkpoint(self) -> Path:
        state = {
            "model": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
            "net": asdict(self.cfg.net),
            "optimizer": self.trainer.opt.state_dict(),
            "step": self.trainer.step,
            "generation": self.generation,
            "games": self.games,
            "positions": self.positions,
            "seconds": self.seconds,
            "selfplay_seconds": self.selfplay_seconds,
            "train_seconds": self.train_seconds,
            "cpu_seconds": self._cpu_now(),
            "measure_seconds": self.measure_seconds,
            "config": self.cfg.to_dict(),
            "rng": {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state(),
                    "trainer": self.trainer.rng.bit_generator.state},
        }
        snap = self.ckpt_dir / f"step_{self.trainer.step:08d}.pt"
        save_model_file(self.model, self.cfg.net, snap, step=self.trainer.step, generation=self.generation,
                        games=self.games, positions=self.positions, hours=self.seconds / 3600,
                        cpu_seconds=self.cpu_seconds)
        atomic_torch_save(state, self.ckpt_dir / "latest.pt")
        save_model_file(self.model, self.cfg.net, self.ckpt_dir / "model_latest.pt", step=self.trainer.step,
                        generation=self.generation)
        keep = self.cfg.run.keep_checkpoints
        if keep:
            snaps = sorted(self.ckpt_dir.glob("step_*.pt"))
            for old in snaps[:-keep]:
                old.unlink(missing_ok=True)
        return snap

    # -- the loop ------------------------------------------------------------------------------
    def _tensorboard(self):
        if self._tb is None:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(str(self.dir / "tb"))
            except ImportError:  # tensorboard not installed: metrics.jsonl only
                self._tb = False
        return self._tb or None

    def _log_metrics(self, row: dict) -> None:
        with open(self.dir / "metrics.jsonl", "a") as fh:
            fh.write(json.dumps(row) + "\n")
        tb = self._tensorboard()
        if tb is not None:
            for k, v in row.items():
                if isinstance(v, (int, float)) and k not in ("generation", "step"):
                    tb.add_scalar(k, v, row["step"])
            tb.flush()

    def _cpu_now(self) -> float:
        """The run's CPU seconds so far (all sessions), updating ``self.cpu_seconds``."""
        if self._clock is not None:
            self.cpu_seconds = self._clock.seconds()
        return self.cpu_seconds

    def _cpu_spent(self) -> bool:
        """Whether ``run.max_cpu_seconds`` is used up (the clock is read at most every 0.2 s)."""
        limit = self.cfg.run.max_cpu_seconds
        if not limit:
            return False
        now = time.monotonic()
        if now - self._clock_checked >= 0.2:
            self._clock_checked = now
            self._cpu_now()
        return self.cpu_seconds >= limit

    def _budget_left(self, should_stop: Callable[[], bool] | None) -> bool:
        cfg = self.cfg
        self._clock_checked = 0.0
        if self._cpu_spent():
            return False
        if cfg.run.max_generations and self.generation >= cfg.run.max_generations:
            return False
        if cfg.run.max_hours and self.seconds >= cfg.run.max_hours * 3600:
            return False
        if cfg.run.max_steps and self.trainer.step >= cfg.run.max_steps:
            return False
        return not (should_stop is not None and should_stop())

    def _train_round(self, window: ReplayWindow, new_pos: int) -> tuple[int, dict[str, float]]:
        """``train.sample_reuse`` samples per new position, counting only the new positions the
        window still holds: self-play workers that outrun the trainer (raw-policy acting)
        deliver more than the window keeps, and steps for the rest would reuse the window's
        positions that many more times."""
        cfg = self.cfg
        new_pos = min(new_pos, len(window))
        steps = int(np.clip(round(cfg.train.sample_reuse * new_pos / cfg.train.batch_size),
                            cfg.train.min_steps_per_generation, cfg.train.max_steps_per_generation))
        if not len(window):
            return 0, {}
        before = self.trainer.step
        losses = self._train_steps(window, steps)
        return self.trainer.step - before, losses  # fewer than planned when a budget ran out

    def _train_steps(self, window: ReplayWindow, steps: int) -> dict[str, float]:
        """``steps`` training steps on batches from ``window``; the mean of each loss."""
        losses: dict[str, float] = {}
        done = 0
        tb = self._tensorboard()
        with open(self.dir / "batches.jsonl", "a") as fh:
            for _ in range(steps):
                if self._cpu_spent() or (self.cfg.run.max_steps and self.trainer.step >= self.cfg.run.max_steps):
                    break  # a step budget ends exactly at run.max_steps
                stats = self.trainer.train_step(window.sample(self.cfg.train.batch_size))
                done += 1
                for k, v in stats.items():
                    losses[k] = losses.get(k, 0.0) + v
                row = {"step": self.trainer.step, **{k: v for k, v in stats.items() if k.startswith(BATCH_KEYS)}}
                fh.write(json.dumps(row) + "\n")
                if tb is not None:
                    for k, v in row.items():
                        if k != "step" and math.isfinite(v):
                            tb.add_scalar(f"batch/{k}", v, row["step"])
        return {k: v / done for k, v in losses.items()}

    def _checkpoint_signals(self, window: ReplayWindow, rules: Rules) -> dict[str, float]:
        """Measures taken at a checkpoint: the gradient noise scale of the policy loss and the
        new network's score against the network of the previous measures (each when switched
        on). With ``run.signals_every_seconds`` they are taken at most that often (by run
        time, so that arms with short and long generations are measured at matched times);
        otherwise at every checkpoint, against the one before it. Their time is counted in
        ``measure_seconds``."""
        cfg = self.cfg
        if not (cfg.train.noise_scale_batches or cfg.run.previous_match_games):
            return {}
        every = cfg.run.signals_every_seconds
        if self._measured_at is None:
            self._measured_at = self.seconds
        elif every > 0 and self.seconds - self._measured_at < every:
            return {}
        t0 = time.monotonic()
        out: dict[str, float] = {}
        if cfg.train.noise_scale_batches and len(window):
            batches = [window.sample(cfg.train.batch_size) for _ in range(cfg.train.noise_scale_batches)]
            out.update(self.trainer.gradient_noise_scale(batches))
        if cfg.run.previous_match_games and self._measured_state is not None:
            from gozero.search.mcts import SearchConfig
            from gozero.selfplay.arena import play_match

            new, old = build_model(cfg.net), build_model(cfg.net)
            new.load_state_dict(self.model.state_dict())
            old.load_state_dict(self._measured_state)
            res = play_match(NetEvaluator(new, device=self.device, compile=False),
                             NetEvaluator(old, device=self.device, compile=False),
                             cfg.run.previous_match_games, cfg.game.size, rules,
                             SearchConfig(algorithm="gumbel", simulations=cfg.run.previous_match_simulations),
                             opening_moves=2, seed=self.generation)
            out["previous_win_rate"] = res.win_rate
            out["previous_games"] = res.total
            self._measured_state = self._state_copy()
        self._measured_at = self.seconds
        dt = time.monotonic() - t0
        self.measure_seconds += dt
        out["measure_seconds"] = self.measure_seconds
        return out

    def _state_copy(self) -> dict:
        return {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}

    def run(self, on_generation: Callable[[dict], None] | None = None,
            should_stop: Callable[[], bool] | None = None,
            on_progress: Callable[[int, SelfPlayProgress], None] | None = None) -> None:
        """Run until the budget in ``cfg.run`` is spent (or ``should_stop`` says so).
        ``on_progress(generation, progress)`` hears about self-play inside a generation
        (about once a second)."""
        self._on_progress = on_progress
        self._clock = CPUClock(offset=self.cpu_seconds)
        try:
            if self.cfg.cluster.address:  # self-play actors on a Ray cluster
                from .cluster_selfplay import run_on_cluster

                run_on_cluster(self, on_generation, should_stop)
            elif self.cfg.run.selfplay_workers > 0:
                self._run_concurrent(on_generation, should_stop)
            else:
                self._run_alternating(on_generation, should_stop)
        finally:
            self._cpu_now()
            self._clock = None
        limit = self.cfg.run.max_cpu_seconds
        if limit and self.cpu_seconds >= limit:
            self._record_cpu_seconds()
            self.log(f"CPU budget reached: {self.cpu_seconds:.1f} of {limit:g} CPU seconds (run.max_cpu_seconds)")

    def _record_cpu_seconds(self) -> None:
        """Write the CPU seconds spent up to the stop into ``latest.pt``: the last checkpoint
        can be written just under the budget and the budget found spent only after it, so a
        resume would otherwise believe a few CPU seconds were left and train on."""
        latest = self.ckpt_dir / "latest.pt"
        if not latest.is_file():
            return
        state = torch.load(latest, map_location="cpu", weights_only=False)
        if state.get("cpu_seconds", 0.0) < self.cpu_seconds:
            state["cpu_seconds"] = self.cpu_seconds
            atomic_torch_save(state, latest)

    def _report(self, progress: SelfPlayProgress) -> None:
        if getattr(self, "_on_progress", None) is not None:
            self._on_progress(self.generation + 1, progress)

    def train_only(self, steps: int, checkpoint_every: int = 200,
                   on_round: Callable[[dict], None] | None = None,
                   should_stop: Callable[[], bool] | None = None) -> int:
        """Train ``steps`` more steps on the run's replay window without new self-play.

        For the end of a run: a learning-rate drop (``--set train.lr=...``) on the newest
        window. The window is sized by the run's whole history (``self.positions``), so it is
        the window the last generation trained on when the shards are still on disk. A
        checkpoint (and a metrics row with ``phase = "train_only"``) follows every
        ``checkpoint_every`` steps, so a killed call loses at most that many steps; the
        caller asks for the remaining ones again. Returns the steps done."""
        if steps < 1:
            raise ValueError(f"train-only steps must be >= 1, not {steps}")
        cfg = self.cfg
        window = self._window()
        n_window = window.refresh(self.positions)
        if not n_window:
            raise ValueError(f"{self.dir} has no self-play data to train on (no shards or pending games)")
        done = 0
        while done < steps and not (should_stop is not None and should_stop()):
            chunk = min(checkpoint_every, steps - done)
            t0 = time.monotonic()
            losses = self._train_steps(window, chunk)
            dt = time.monotonic() - t0
            done += chunk
            self.train_seconds += dt
            self.seconds += dt
            self.save_checkpoint()
            row = {
                "generation": self.generation, "step": self.trainer.step, "games": self.games,
                "positions": self.positions, "hours": self.seconds / 3600, "cpu_seconds": self.cpu_seconds,
                "window": n_window,
                "phase": "train_only", "train_steps": chunk,
                "train_samples_per_s": chunk * cfg.train.batch_size / max(dt, 1e-9),
                **{f"loss_{k}": v for k, v in losses.items() if k not in ("lr", "grad_norm")},
                "lr": losses.get("lr", 0.0), "grad_norm": losses.get("grad_norm", 0.0),
            }
            self._log_metrics(row)
            if on_round is not None:
                on_round(row)
        return done

    def _run_alternating(self, on_generation: Callable[[dict], None] | None,
                         should_stop: Callable[[], bool] | None) -> None:
        cfg = self.cfg
        rules = cfg.game.rules()
        writer = ShardWriter(self.dir, cfg.run.shard_positions)
        play_model = build_model(cfg.net)
        play_model.load_state_dict(self.model.state_dict())
        ev = NetEvaluator(play_model, device=self.device, precision=cfg.run.precision, compile=cfg.run.compile,
                          seed=cfg.run.seed + self.generation)
        sp = SelfPlay(ev, cfg.game.size, rules, cfg.search, cfg.selfplay, writer, sgf_dir=self.dir / "sgf",
                      seed=cfg.run.seed * 7919 + self.generation)
        sp.net_version = self.trainer.step
        window = self._window()
        start_seconds = self.seconds
        t_start = time.monotonic()
        while self._budget_left(should_stop):
            t0 = time.monotonic()
            games0, pos0 = sp.stats.games, sp.stats.positions
            evals0 = sp.stats.net_evals
            sp.play_games(cfg.run.games_per_generation, on_progress=self._report, stop=self._cpu_spent)
            new_games = sp.stats.games - games0
            new_pos = sp.stats.positions - pos0
            t1 = time.monotonic()
            self.games += new_games
            self.positions += new_pos
            n_window = window.refresh(self.positions)
            steps, losses, signals, t2, snap = self._learn(window, rules, new_pos, t0, t1, start_seconds, t_start)
            gate = self._gate(play_model, rules)
            if gate is None or gate >= cfg.run.gating_threshold:
                play_model.load_state_dict(self.model.state_dict())
                sp.net_version = self.trainer.step
                if cfg.run.gating:
                    save_model_file(self.model, cfg.net, self.ckpt_dir / "model_best.pt", step=self.trainer.step)
            self._maybe_evaluate(snap)
            st = sp.stats.as_dict()
            dt = max(t1 - t0, 1e-9)
            row = self._generation_row(
                n_window, steps, losses, signals, t2 - t1,
                selfplay_games_per_s=new_games / dt, selfplay_positions_per_s=new_pos / dt,
                net_evals_per_s=(sp.stats.net_evals - evals0) / dt, mean_game_length=st["mean_length"],
                black_win_rate=st["black_wins"] / max(st["games"], 1), resigned=st["resigned"],
                false_resign_rate=st["false_resign_rate"])
            if gate is not None:
                row["gating_score"] = gate
            sp.stats.lengths = sp.stats.lengths[-1000:]
            self._end_generation(row, on_generation)

    def _learn(self, window, rules: Rules, new_pos: int, t0: float, t1: float, start_seconds: float,
               t_start: float) -> tuple[int, dict, dict, float, Path]:
        """The learner's half of a generation, the same whoever played its games (this
        process, worker processes or Ray actors; ``t0..t1`` their self-play): a training round
        on the window, the checkpoint's signals, the counters, the checkpoint. Returns the
        steps, the losses, the signals, the time training ended and the snapshot written."""
        if self._measured_state is None and self.cfg.run.previous_match_games:
            self._measured_state = self._state_copy()
        steps, losses = self._train_round(window, new_pos)
        t2 = time.monotonic()
        signals = self._checkpoint_signals(window, rules)
        self.generation += 1
        self.selfplay_seconds += t1 - t0
        self.train_seconds += t2 - t1
        self.seconds = start_seconds + (time.monotonic() - t_start)
        return steps, losses, signals, t2, self.save_checkpoint()

    def _generation_row(self, n_window: int, steps: int, losses: dict, signals: dict, train_seconds: float,
                        **selfplay) -> dict:
        """A generation's metrics row: the counters, ``selfplay`` (rates and whatever the
        self-play side reports), training, the signals and the losses."""
        return {
            "generation": self.generation, "step": self.trainer.step, "games": self.games,
            "positions": self.positions, "hours": self.seconds / 3600, "cpu_seconds": self.cpu_seconds,
            "window": n_window, **selfplay,
            "train_steps": steps, "train_samples_per_s": steps * self.cfg.train.batch_size / max(train_seconds, 1e-9),
            **signals,
            **{f"loss_{k}": v for k, v in losses.items() if k not in ("lr", "grad_norm")},
            "lr": losses.get("lr", 0.0), "grad_norm": losses.get("grad_norm", 0.0),
        }

    def _end_generation(self, row: dict, on_generation: Callable[[dict], None] | None) -> None:
        self._log_metrics(row)
        if on_generation is not None:
            on_generation(row)

    def _gate(self, best_model: torch.nn.Module, rules: Rules) -> float | None:
        """AlphaGo Zero gating: the new network's score against the one self-play uses now
        (None when gating is off)."""
        if not self.cfg.run.gating:
            return None
        from gozero.search.mcts import SearchConfig
        from gozero.selfplay.arena import play_match

        cand = build_model(self.cfg.net)
        cand.load_state_dict(self.model.state_dict())
        res = play_match(NetEvaluator(cand, device=self.device, compile=False),
                         NetEvaluator(best_model, device=self.device, compile=False),
                         self.cfg.run.gating_games, self.cfg.game.size, rules,
                         SearchConfig(algorithm="gumbel", simulations=16), opening_moves=2,
                         seed=self.generation)
        self.log(f"gating: new network scored {res.win_rate:.0%} against the best "
                 f"({res.wins}-{res.losses}-{res.draws})")
        return res.win_rate

    def _maybe_evaluate(self, snapshot: Path) -> None:
        """Hand a checkpoint to a background evaluator process (``python -m
        gozero.eval.evaluator``): its ratings land in RUN/eval/ and its metrics.jsonl."""
        import subprocess
        import sys

        cfg = self.cfg.run
        if not cfg.eval_every or self.generation % cfg.eval_every:
            return
        if getattr(self, "_eval_proc", None) is not None and self._eval_proc.poll() is None:
            self.log("evaluator still busy with the previous checkpoint: skipping this one")
            return
        (self.dir / "eval").mkdir(exist_ok=True)
        argv = [sys.executable, "-m", "gozero.eval.evaluator", str(self.dir), str(snapshot), "--games",
                str(cfg.eval_games), "--visits", str(cfg.eval_visits), "--size", str(self.cfg.game.size),
                "--komi", str(self.cfg.game.komi), "--panel", *cfg.eval_panel]
        with open(self.dir / "eval" / "evaluator.log", "a") as log:
            self._eval_proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)

    def _run_concurrent(self, on_generation: Callable[[dict], None] | None,
                        should_stop: Callable[[], bool] | None) -> None:
        """Self-play workers (processes) play with the newest model file while this process
        trains whenever ``generation_positions`` new positions have arrived."""
        import multiprocessing as mp

        cfg = self.cfg
        stop_file = self.dir / "workers" / "STOP"
        stop_file.parent.mkdir(parents=True, exist_ok=True)
        stop_file.unlink(missing_ok=True)
        for old in stop_file.parent.glob("w*.json"):  # counts are per session of workers
            old.unlink()
        self.save_checkpoint()  # model_latest.pt for the workers
        rules = cfg.game.rules()
        ctx = mp.get_context("spawn")
        procs = [ctx.Process(target=selfplay_worker, args=(str(self.dir), k), daemon=True)
                 for k in range(cfg.run.selfplay_workers)]
        for p in procs:
            p.start()
        window = self._window()
        window.refresh()
        seen = window.total_positions
        games_seen = self.games
        start_seconds = self.seconds
        t_start = time.monotonic()
        try:
            while self._budget_left(should_stop):
                t0 = time.monotonic()
                games0 = sum(w.get("games", 0) for w in read_worker_stats(self.dir))
                while True:  # poll the count only: loading the window every half second costs CPU
                    if window.scan() - seen >= cfg.run.generation_positions:
                        break
                    self._report_workers(window.total_positions - seen, games0, time.monotonic() - t0)
                    if not any(p.is_alive() for p in procs):
                        raise RuntimeError("all self-play workers have died; see RUN/workers/*.log")
                    if not self._budget_left(should_stop):
                        return
                    time.sleep(0.5)
                    self.seconds = start_seconds + (time.monotonic() - t_start)
                n_window = window.refresh(self.positions)
                t1 = time.monotonic()
                new_pos = window.total_positions - seen
                seen = window.total_positions
                worker_stats = read_worker_stats(self.dir)
                self.games = games_seen + sum(w.get("games", 0) for w in worker_stats)
                self.positions += new_pos
                steps, losses, signals, t2, snap = self._learn(window, rules, new_pos, t0, t1, start_seconds,
                                                               t_start)
                self._maybe_evaluate(snap)
                elapsed = max(time.monotonic() - t_start, 1e-9)
                row = self._generation_row(
                    n_window, steps, losses, signals, t2 - t1,
                    selfplay_games_per_s=sum(w.get("games", 0) for w in worker_stats) / elapsed,
                    selfplay_positions_per_s=sum(w.get("positions", 0) for w in worker_stats) / elapsed,
                    net_evals_per_s=sum(w.get("net_evals", 0) for w in worker_stats) / elapsed,
                    mean_game_length=float(np.mean([w.get("mean_length", 0) for w in worker_stats] or [0])),
                    workers=len(worker_stats))
                self._end_generation(row, on_generation)
        finally:
            stop_file.write_text("stop\n")
            for p in procs:
                p.join(timeout=30)
                if p.is_alive():
                    p.terminate()


    def _report_workers(self, positions: int, games0: int, seconds: float) -> None:
        """Progress of a generation fed by worker processes: positions against the target."""
        if getattr(self, "_on_progress", None) is None:
            return
        target = self.cfg.run.generation_positions
        games = sum(w.get("games", 0) for w in read_worker_stats(self.dir)) - games0
        eta = seconds * (target - positions) / positions if positions else None
        self._report(SelfPlayProgress(games=max(games, 0), games_target=None, positions=positions, moves=0,
                                      seconds=seconds, eta=eta, positions_target=target))


def read_worker_stats(run_dir: Path) -> list[dict]:
    out = []
    for path in sorted((Path(run_dir) / "workers").glob("w*.json")):
        try:
            out.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue
    return out


def selfplay_worker(run_dir: str, worker: int) -> None:
    """A self-play process: plays with RUN/checkpoints/model_latest.pt, reloading it when it
    changes, writing games under its own name until RUN/workers/STOP appears."""
    import sys

    from .config import load_config

    run = Path(run_dir)
    name = f"w{worker:02d}"
    log_path = run / "workers" / f"{name}.log"
    sys.stdout = sys.stderr = open(log_path, "a", buffering=1)  # noqa: SIM115
    cfg = load_config(file=run / "config.toml")
    torch.set_num_threads(1)
    device = pick_device(cfg.run.device)
    model_path = run / "checkpoints" / "model_latest.pt"
    data = torch.load(model_path, map_location="cpu", weights_only=False)
    model = build_model(cfg.net)
    model.load_state_dict(data["model"])
    mtime = model_path.stat().st_mtime
    seed = cfg.run.seed * 1000 + worker * 7 + int(time.time()) % 100000
    ev = NetEvaluator(model, device=device, precision=cfg.run.precision, compile=cfg.run.compile, seed=seed)
    rules = cfg.game.rules()
    writer = ShardWriter(run, cfg.run.shard_positions, name=name)
    sp = SelfPlay(ev, cfg.game.size, rules, cfg.search, cfg.selfplay, writer,
                  sgf_dir=run / "sgf" if worker == 0 else None, seed=seed)
    sp.net_version = int(data.get("step", -1))
    stats_path = run / "workers" / f"{name}.json"
    stop_file = run / "workers" / "STOP"
    last_write = 0.0
    while not stop_file.exists():
        sp.step()
        now = time.monotonic()
        try:
            m = model_path.stat().st_mtime
        except FileNotFoundError:
            m = mtime
        if m != mtime:
            try:
                data = torch.load(model_path, map_location="cpu", weights_only=False)
                model.load_state_dict(data["model"])
                ev.set_model(model)
                sp.net_version = int(data.get("step", -1))
                mtime = m
                print(f"{name}: loaded step {data.get('step')}", flush=True)
            except (OSError, RuntimeError, EOFError) as exc:  # mid-replace on odd filesystems
                print(f"{name}: reload failed ({exc}); retrying", flush=True)
        if now - last_write > 2.0:
            st = sp.stats.as_dict()
            out = {k: st[k] for k in ("games", "positions", "net_evals")}
            out["mean_length"] = st["mean_length"]
            tmp = stats_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(out))
            os.replace(tmp, stats_path)
            last_write = now
