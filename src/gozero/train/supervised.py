"""Supervised learning from SGF games (``gozero train --sgf DIR``): AlphaGo 2016's first stage.

Every ``*.sgf`` under DIR (recursively) of the configured board size is replayed; each
position becomes the same training example self-play writes (see selfplay.py and
shards.py): bit-packed feature planes and globals, a one-hot policy on the move played,
the win/draw/loss target from the record's result (RE) for the side to move, and the final
position's ownership and area score when the game ended by two passes (else
``aux_weight`` 0). Broken records are skipped with a warning naming the file and reason.

A held-out 5% of the games (at least one when there are two or more) is kept aside in
``RUN/holdout.npz`` to measure top-1 move prediction; the rest become shards of the run
directory, and the network is trained on them with the self-play `Trainer`. The run
directory has the layout of `TrainingRun` (config.toml, checkpoints/latest.pt and
step_XXXXXXXX.pt snapshots, metrics.jsonl), so ``gozero train --resume RUN`` goes on by
self-play from the supervised network.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from gozero.net.features import NUM_PLANES, encode_game
from gozero.rules import BLACK
from gozero.rules.sgf import Replay, SgfError, SgfGame, read_sgf_file
from gozero.selfplay.shards import FIELDS, ShardWriter, atomic_savez, load_arrays, outcome_targets, signal_defaults

from .config import RunConfig
from .replay import ReplayWindow

HOLDOUT_FRACTION = 0.05


@dataclass
class SupervisedResult:
    """What a supervised run read, trained and measured."""

    run_dir: Path
    files: int = 0
    train_games: int = 0
    holdout_games: int = 0
    train_positions: int = 0
    holdout_positions: int = 0
    skipped: dict[str, str] = field(default_factory=dict)  # path -> reason
    other_size: int = 0
    steps: int = 0
    accuracy: float = 0.0  # top-1 move prediction on the held-out games
    chance: float = 0.0  # the same for a uniform choice among legal moves


def winner_from_result(result: str | None) -> int | None:
    """BLACK, WHITE, 0 (draw) from an SGF RE value; None when unknown (``?``, ``Void``, missing)."""
    if not result:
        return None
    r = result.strip().upper()
    if r in ("0", "DRAW", "JIGO") or r.startswith("0"):
        return 0
    if r.startswith("B+"):
        return BLACK
    if r.startswith("W+"):
        return 3 - BLACK
    return None


def _result_margin(result: str | None) -> float | None:
    """The numeric margin of RE (black's view), e.g. ``W+3.5`` -> -3.5; None for R/T/F/none."""
    if not result or len(result) < 3 or result[1] != "+":
        return None
    try:
        margin = float(result[2:])
    except ValueError:
        return None
    return margin if result[0].upper() == "B" else -margin


def game_examples(record: SgfGame) -> dict[str, np.ndarray] | None:
    """Training arrays (shard layout) of every position of a record; None when the record
    has no moves or no usable result. Raises `SgfError` on an illegal move."""
    winner = winner_from_result(record.result)
    planes, globs, moves, to_move = [], [], [], []
    run = Replay(record)  # setup edits after the first move included
    for game, color, move in run:
        if game.to_move != color:
            game.position.to_move = color
        p, g = encode_game(game)
        planes.append(np.packbits(p, axis=1))
        globs.append(g)
        moves.append(move)
        to_move.append(color)
    game = run.game
    if not moves:
        return None
    score, owner = game.position.score(game.rules.komi)
    if winner is None:
        if not game.is_over:
            return None
        winner = BLACK if score > 0 else (3 - BLACK if score < 0 else 0)
    n, nn = len(moves), game.position.geo.nn
    policy = np.zeros((n, nn + 1), np.float16)
    policy[np.arange(n), moves] = 1
    # settled: two passes, and the area score agrees with a numeric RE in sign (GNU Go-style
    # records leave dead stones on the board; their Tromp-Taylor count would mislead)
    margin = _result_margin(record.result)
    settled = game.is_over and (margin is None or np.sign(margin) == np.sign(score))
    return {
        "planes": np.stack(planes),
        "globals": np.stack(globs).astype(np.float32),
        "policy": policy,
        "policy_weight": np.ones(n, np.float32),
        **outcome_targets(to_move, winner, owner, score),
        "aux_weight": np.full(n, 1.0 if settled else 0.0, np.float32),
        **signal_defaults(n, nn),
        "action": np.asarray(moves, np.int16),
        "move_index": np.arange(n, dtype=np.int16),
        "game_moves": np.full(n, n, np.int16),
    }


def policy_accuracy(model: torch.nn.Module, arrays: dict[str, np.ndarray], size: int,
                    device: torch.device | str = "cpu", batch: int = 512) -> tuple[float, float]:
    """(top-1 accuracy of the network's move, accuracy of a uniform legal choice) on ``arrays``."""
    n = int(arrays["policy"].shape[0])
    if n == 0:
        return 0.0, 0.0
    nn = size * size
    hits = 0
    chance = 0.0
    model.eval()
    with torch.inference_mode():
        for i in range(0, n, batch):
            planes = np.unpackbits(arrays["planes"][i : i + batch], axis=2, count=nn)
            b = planes.shape[0]
            legal = np.concatenate([planes[:, 17, :].astype(bool), np.ones((b, 1), bool)], axis=1)
            x = torch.from_numpy(planes.reshape(b, NUM_PLANES, size, size)).float().to(device)
            g = torch.from_numpy(arrays["globals"][i : i + batch]).to(device)
            logits = model(x, g)["policy"].float().cpu().numpy()
            logits[~legal] = -np.inf
            target = arrays["policy"][i : i + batch].astype(np.float32).argmax(axis=1)
            hits += int((logits.argmax(axis=1) == target).sum())
            chance += float((1.0 / legal.sum(axis=1)).sum())
    return hits / n, chance / n


def train_on_sgf(sgf_dir: str | Path, out_dir: str | Path, cfg: RunConfig, epochs: float = 2.0,
                 log: Callable[[str], None] = print) -> SupervisedResult:
    """Build examples from the SGF games under ``sgf_dir``, train ``epochs`` passes over them
    and leave a resumable run directory in ``out_dir``."""
    from .loop import TrainingRun

    sgf_dir, out = Path(sgf_dir), Path(out_dir)
    if not sgf_dir.is_dir():
        raise FileNotFoundError(f"{sgf_dir} is not a folder of SGF files")
    if epochs <= 0:
        raise ValueError(f"epochs must be positive, not {epochs}")
    files = sorted(sgf_dir.rglob("*.sgf"))
    result = SupervisedResult(run_dir=out, files=len(files))
    if not files:
        raise ValueError(f"no *.sgf files under {sgf_dir}")
    size = cfg.game.size
    examples: list[tuple[Path, dict[str, np.ndarray]]] = []
    for path in files:
        try:
            record = read_sgf_file(path)
            if record.size != size:
                result.other_size += 1
                continue
            arrays = game_examples(record)
        except SgfError as exc:
            reason = str(exc).removeprefix(f"{path}: ")
            result.skipped[str(path)] = reason
            log(f"[yellow]warning:[/yellow] skipping {path}: {reason}")
            continue
        if arrays is None:
            result.skipped[str(path)] = "no moves or no result"
            log(f"[yellow]warning:[/yellow] skipping {path}: no moves or no result")
            continue
        examples.append((path, arrays))
    if result.other_size:
        log(f"{result.other_size} games are not {size}x{size} and were left out")
    if not examples:
        raise ValueError(f"no usable {size}x{size} games under {sgf_dir} "
                         f"({len(result.skipped)} broken, {result.other_size} of another size)")

    run = TrainingRun.create(out, cfg, log=log)  # refuses a folder that holds a run
    rng = np.random.default_rng(cfg.run.seed)
    n_hold = math.ceil(HOLDOUT_FRACTION * len(examples)) if len(examples) >= 2 else 0
    hold = set(rng.choice(len(examples), size=n_hold, replace=False).tolist()) if n_hold else set()
    writer = ShardWriter(out, cfg.run.shard_positions)
    held: list[dict[str, np.ndarray]] = []
    for i, (_, arrays) in enumerate(examples):
        if i in hold:
            held.append(arrays)
            result.holdout_games += 1
            result.holdout_positions += len(arrays["policy_weight"])
        else:
            writer.add_game(arrays, size)
            result.train_games += 1
            result.train_positions += len(arrays["policy_weight"])
    writer.seal()
    holdout = {k: np.concatenate([a[k] for a in held]) for k in FIELDS} if held else None
    if holdout is not None:
        atomic_savez(out / "holdout.npz", size=np.int32(size), games=np.int32(len(held)), **holdout)
    log(f"{result.train_games} games ({result.train_positions} positions) for training, "
        f"{result.holdout_games} games ({result.holdout_positions} positions) held out; "
        f"{len(result.skipped)} broken files skipped")

    total = result.train_positions
    window = ReplayWindow(out, size, window_min=total, window_max=total, seed=cfg.run.seed)
    window.refresh()
    bs = cfg.train.batch_size
    steps_total = max(1, math.ceil(epochs * total / bs))
    rounds = max(1, math.ceil(epochs))
    done = 0
    t_start = time.monotonic()
    for r in range(rounds):
        steps = (steps_total * (r + 1)) // rounds - done
        t0 = time.monotonic()
        sums: dict[str, float] = {}
        for _ in range(steps):
            stats = run.trainer.train_step(window.sample(bs))
            for k, v in stats.items():
                sums[k] = sums.get(k, 0.0) + v / max(steps, 1)
        done += steps
        row: dict[str, float | int | str] = {
            "generation": run.generation, "step": run.trainer.step, "phase": "supervised",
            "epoch": min(epochs, (r + 1) * epochs / rounds), "train_steps": steps,
            "train_samples_per_s": steps * bs / max(time.monotonic() - t0, 1e-9),
            **{f"loss_{k}": v for k, v in sums.items() if k not in ("lr", "grad_norm")},
            "lr": sums.get("lr", 0.0), "grad_norm": sums.get("grad_norm", 0.0),
        }
        if holdout is not None:
            result.accuracy, result.chance = policy_accuracy(run.model, holdout, size, run.device)
            row["holdout_accuracy"], row["holdout_chance"] = result.accuracy, result.chance
        run.seconds = time.monotonic() - t_start
        run.train_seconds = run.seconds
        run.save_checkpoint()
        run._log_metrics(row)
        acc = (f", held-out move accuracy {result.accuracy:.1%} (chance {result.chance:.1%})"
               if holdout is not None else "")
        log(f"epoch {row['epoch']:.2f}: step {run.trainer.step}, policy loss {sums.get('policy', 0):.3f}, "
            f"value loss {sums.get('value', 0):.3f}{acc}")
    result.steps = done
    log(f"supervised run saved in {out}; continue by self-play with gozero train --resume {out}")
    return result


def load_holdout(run_dir: str | Path) -> dict[str, np.ndarray]:
    """The held-out examples a supervised run kept aside (``RUN/holdout.npz``)."""
    return load_arrays(Path(run_dir) / "holdout.npz")


__all__ = ["SupervisedResult", "game_examples", "load_holdout", "policy_accuracy", "train_on_sgf",
           "winner_from_result"]
