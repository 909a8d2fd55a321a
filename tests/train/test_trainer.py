"""Replay window and trainer: window size formula, batch shapes, loss going down, LR schedule."""

import math

import numpy as np
import pytest
import torch

from gozero.net.features import NUM_GLOBALS, NUM_PLANES
from gozero.net.model import NetConfig, build_model
from gozero.selfplay.selfplay import empty_batch
from gozero.selfplay.shards import ShardWriter
from gozero.train.config import TrainConfig
from gozero.train.replay import ReplayWindow, window_size
from gozero.train.trainer import Trainer, learning_rate

SIZE, NN = 5, 25


def test_window_size_formula():
    assert window_size(0, 1000, 10000) == 0
    assert window_size(800, 1000, 10000) == 800  # everything while under window_min
    assert window_size(1000, 1000, 10000) == 1000
    t = 16000  # (16)^0.75 = 8: 1000 * (1 + 0.4 * 7 / 0.75)
    assert window_size(t, 1000, 10000, 0.75, 0.4) == int(1000 * (1 + 0.4 * (8 - 1) / 0.75))
    assert window_size(10**9, 1000, 10000) == 10000  # capped
    sizes = [window_size(t, 1000, 10**6) for t in range(1000, 200000, 5000)]
    assert sizes == sorted(sizes) and all(s <= t for s, t in zip(sizes, range(1000, 200000, 5000), strict=True))


def _random_batch(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    b = empty_batch(n, NN)
    b["planes"] = rng.integers(0, 256, b["planes"].shape, dtype=np.uint8)
    b["globals"] = rng.random((n, NUM_GLOBALS), dtype=np.float32)
    moves = rng.integers(0, NN + 1, n)
    b["policy"][np.arange(n), moves] = 1
    b["value"][np.arange(n), rng.integers(0, 3, n)] = 1
    b["ownership"] = rng.integers(-1, 2, (n, NN)).astype(np.int8)
    b["score"] = rng.normal(0, 5, n).astype(np.float32)
    return b


def test_replay_window_keeps_the_newest_positions_and_samples_shapes(tmp_path):
    rng = np.random.default_rng(0)
    w = ShardWriter(tmp_path, shard_positions=50)
    for i in range(10):
        b = _random_batch(20, rng)
        b["score"][:] = i  # game number
        w.add_game(b, SIZE)
    win = ReplayWindow(tmp_path, SIZE, window_min=60, window_max=60, seed=0)
    assert win.scan() == 200 and win.arrays is None  # counted, nothing loaded
    n = win.refresh()
    assert win.total_positions == 200 and 60 <= n < 60 + 50  # whole files, newest first
    assert win.arrays["score"].min() >= 5  # the oldest games left the window
    batch = win.sample(32)
    assert batch["planes"].shape == (32, NUM_PLANES, SIZE, SIZE) and batch["planes"].max() <= 1
    assert batch["policy"].shape == (32, NN + 1) and batch["ownership"].shape == (32, NN)
    assert batch["value"].shape == (32, 3) and batch["globals"].shape == (32, NUM_GLOBALS)
    # sized by the run's history when older shards are gone: 200 positions on disk want a
    # window of 106 (whole files: fewer than 200), a run of 5,000 positions wants 910 (all)
    grown = ReplayWindow(tmp_path, SIZE, window_min=60, window_max=10_000, seed=0)
    assert window_size(200, 60, 10_000) == 106 and window_size(5000, 60, 10_000) == 910
    assert 106 <= grown.refresh() < 200 and grown.refresh(run_positions=5000) == 200
    empty = ReplayWindow(tmp_path / "none", SIZE, 10, 10)
    assert empty.refresh() == 0
    with pytest.raises(RuntimeError, match="empty"):
        empty.sample(4)


def _net():
    torch.manual_seed(0)
    return build_model(NetConfig(size=SIZE, blocks=2, channels=16, pool_channels=4, pool_every=2, head_channels=8,
                                 value_hidden=16))


def test_trainer_reduces_the_loss_on_a_fixed_batch():
    rng = np.random.default_rng(1)
    b = _random_batch(64, rng)
    b["planes"] = np.unpackbits(b["planes"], axis=2, count=NN).reshape(64, NUM_PLANES, SIZE, SIZE)
    tr = Trainer(_net(), TrainConfig(lr=3e-3, warmup_steps=0, symmetry_augment=False), torch.device("cpu"), seed=0)
    first = tr.train_step(b)
    for _ in range(60):
        last = tr.train_step(b)
    assert tr.step == 61
    assert last["loss"] < 0.6 * first["loss"], (first, last)
    assert last["policy"] < first["policy"] and last["value"] < first["value"]
    assert all(math.isfinite(v) for v in last.values())


def test_symmetry_augmentation_moves_policy_and_planes_together():
    tr = Trainer(_net(), TrainConfig(symmetry_augment=True), torch.device("cpu"), seed=3)
    b = _random_batch(4, np.random.default_rng(2))
    b["planes"] = np.zeros((4, NUM_PLANES, SIZE, SIZE), np.uint8)
    b["policy"][:] = 0
    b["ownership"][:] = 0
    for i, p in enumerate([0, 7, 13, 24]):
        b["planes"][i, 0].reshape(-1)[p] = 1
        b["policy"][i, p] = 1
        b["ownership"][i, p] = 1
    for _ in range(8):
        t = tr._augment(b)
        planes = t["planes"][:, 0].reshape(4, -1)
        assert torch.equal(planes, t["policy"][:, :NN]) and torch.equal(planes, t["ownership"])


def test_learning_rate_schedule():
    cfg = TrainConfig(lr=0.01, warmup_steps=10, lr_schedule="constant")
    assert learning_rate(cfg, 0) == pytest.approx(0.001)
    assert learning_rate(cfg, 9) == pytest.approx(0.01)
    assert learning_rate(cfg, 10_000) == pytest.approx(0.01)
    cos = TrainConfig(lr=0.01, warmup_steps=10, lr_schedule="cosine", min_lr_fraction=0.1)
    assert learning_rate(cos, 10, 110) == pytest.approx(0.01)
    assert learning_rate(cos, 60, 110) == pytest.approx(0.01 * (0.1 + 0.9 * 0.5))
    assert learning_rate(cos, 110, 110) == pytest.approx(0.001)
    assert learning_rate(cos, 500, 110) == pytest.approx(0.001)
    lrs = [learning_rate(cos, s, 110) for s in range(10, 111)]
    assert lrs == sorted(lrs, reverse=True)
    assert learning_rate(cos, 50, 0) == pytest.approx(0.01)  # no length: constant
    tr = Trainer(_net(), cos, torch.device("cpu"), total_steps=110, seed=0)
    b = _random_batch(8, np.random.default_rng(0))
    b["planes"] = np.unpackbits(b["planes"], axis=2, count=NN).reshape(8, NUM_PLANES, SIZE, SIZE)
    assert tr.train_step(b)["lr"] == pytest.approx(0.001)
    assert tr.opt.param_groups[0]["lr"] == pytest.approx(0.001)
