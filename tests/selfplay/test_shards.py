"""ShardWriter's crash safety: half-written files are dropped, and a kill between sealing
a shard and deleting its pending games does not count those games twice."""

import numpy as np
import pytest

from gozero.selfplay.selfplay import empty_batch
from gozero.selfplay.shards import ShardWriter, load_arrays, pending_paths, shard_paths
from gozero.train.replay import ReplayWindow

NN = 25


def _game(n: int, tag: float) -> dict[str, np.ndarray]:
    b = empty_batch(n, NN)
    b["score"][:] = tag  # tells the games apart
    return b


def _tags(run_dir) -> list[float]:
    out = []
    for p in shard_paths(run_dir) + pending_paths(run_dir):
        out += load_arrays(p)["score"].tolist()
    return sorted(out)


def test_half_written_files_are_dropped(tmp_path):
    w = ShardWriter(tmp_path, shard_positions=100)
    w.add_game(_game(3, 1.0), 5)
    (tmp_path / "pending" / ".game_x.npz.1234.tmp").write_bytes(b"half")
    (tmp_path / "shards" / ".shard_000000.npz.99.tmp").write_bytes(b"half")
    w2 = ShardWriter(tmp_path, shard_positions=100)
    assert not list(tmp_path.rglob("*.tmp"))
    assert w2.pending_positions == 3
    assert w2.seal() is not None
    assert _tags(tmp_path) == [1.0] * 3


def test_kill_between_sealing_and_deleting_does_not_double_count(tmp_path, monkeypatch):
    w = ShardWriter(tmp_path, shard_positions=100)
    for i in range(4):
        w.add_game(_game(2 + i, float(i)), 5)
    expected = _tags(tmp_path)
    # the shard is written, then the process dies before removing the pending files
    real_unlink = type(tmp_path).unlink

    def die(self, missing_ok=False):
        if self.parent.name == "pending":
            raise KeyboardInterrupt("killed")
        return real_unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(type(tmp_path), "unlink", die)
    with pytest.raises(KeyboardInterrupt):
        w.seal()
    monkeypatch.undo()
    assert len(shard_paths(tmp_path)) == 1 and len(pending_paths(tmp_path)) == 4  # both copies on disk
    w2 = ShardWriter(tmp_path, shard_positions=100)  # the restart
    assert not pending_paths(tmp_path)
    assert w2.pending_positions == 0
    assert _tags(tmp_path) == expected
    window = ReplayWindow(tmp_path, 5, window_min=1000, window_max=1000)
    assert window.refresh() == len(expected) == 2 + 3 + 4 + 5
    # new games after the restart go into the next shard
    w2.add_game(_game(1, 9.0), 5)
    assert w2.seal().name == "shard_000001.npz"
    assert _tags(tmp_path) == sorted(expected + [9.0])


def test_writer_names_are_checked_and_separate(tmp_path):
    with pytest.raises(ValueError, match="letters and digits"):
        ShardWriter(tmp_path, name="w/1")
    a, b = ShardWriter(tmp_path, 4, name="w00"), ShardWriter(tmp_path, 4, name="w01")
    a.add_game(_game(5, 1.0), 5)
    b.add_game(_game(2, 2.0), 5)
    assert [p.name for p in shard_paths(tmp_path, "w00")] == ["shard_w00_000000.npz"]
    assert not shard_paths(tmp_path, "w01") and b.pending_positions == 2
    assert _tags(tmp_path) == [1.0] * 5 + [2.0] * 2


def test_signal_fields_round_trip(tmp_path):
    from gozero.selfplay.shards import SIGNAL_FIELDS

    rng = np.random.default_rng(0)
    games = []
    w = ShardWriter(tmp_path, shard_positions=10)
    for g in range(3):
        b = _game(4, float(g))
        b["action"] = rng.integers(0, NN + 1, 4).astype(np.int16)
        b["behaviour_logp"] = -rng.random(4).astype(np.float32)
        b["root_value"] = rng.uniform(-1, 1, 4).astype(np.float32)
        b["search_value"] = rng.uniform(-1, 1, 4).astype(np.float32)
        q = np.full((4, NN + 1), np.nan, np.float16)
        q[:, :3] = rng.uniform(-1, 1, (4, 3))
        b["search_q"] = q
        b["move_index"] = np.arange(4, dtype=np.int16) * 2
        b["game_moves"] = np.full(4, 9, np.int16)
        b["net_version"] = np.full(4, 100 + g, np.int32)
        w.add_game(b, 5)
        games.append(b)
    shard = shard_paths(tmp_path)[0]  # 12 positions: sealed
    z = load_arrays(shard)
    for k in SIGNAL_FIELDS:
        want = np.concatenate([g[k] for g in games])
        assert z[k].dtype == want.dtype and np.array_equal(z[k], want, equal_nan=True), k
    win = ReplayWindow(tmp_path, 5, window_min=100, window_max=100, seed=0)
    assert win.refresh() == 12 and set(SIGNAL_FIELDS) <= set(win.sample(4))


def test_shards_without_signal_fields_still_load(tmp_path):
    """A shard written before the signal fields existed reads with every signal unknown."""
    from gozero.selfplay.shards import SIGNAL_FIELDS, atomic_savez

    old = {k: v for k, v in _game(5, 1.0).items() if k not in SIGNAL_FIELDS}
    atomic_savez(tmp_path / "shards" / "shard_000000.npz", size=np.int32(5), games=np.int32(1), **old)
    z = load_arrays(tmp_path / "shards" / "shard_000000.npz")
    assert (z["action"] == -1).all() and np.isnan(z["behaviour_logp"]).all() and z["search_q"].shape == (5, NN + 1)
    assert (z["game_moves"] == 0).all() and (z["net_version"] == -1).all()
    win = ReplayWindow(tmp_path, 5, window_min=100, window_max=100, seed=0)
    assert win.refresh() == 5
    w = ShardWriter(tmp_path, shard_positions=4)  # new games seal next to the old shard
    w.add_game(_game(4, 2.0), 5)
    assert len(shard_paths(tmp_path)) == 2 and win.refresh() == 9
