"""Each learning-signal arm runs a couple of tiny generations end to end: the run trains,
its shards carry the signals the arm needs, and the metrics hold the bits-per-sample
measures, the gradient noise scale and the score against the previous checkpoint."""

import json

import numpy as np
import pytest

from gozero.selfplay.shards import load_arrays, pending_paths, shard_paths
from gozero.train.config import load_config
from gozero.train.loop import TrainingRun

TINY = ["run.games_per_generation=4", "selfplay.parallel_games=4", "selfplay.full_simulations=4",
        "selfplay.cheap_simulations=2", "train.batch_size=16", "train.min_steps_per_generation=3",
        "train.max_steps_per_generation=3", "run.shard_positions=48", "run.torch_threads=1", 'run.device="cpu"',
        "selfplay.sgf_every=0", "run.max_generations=2", "net.blocks=1", "net.channels=8", "net.pool_every=1",
        "train.noise_scale_batches=2", "run.previous_match_games=2", "run.previous_match_simulations=2"]

ARMS = {
    "search": [],
    "onehot": ["train.policy_loss=onehot"],
    "reinforce": ["train.policy_loss=reinforce", "selfplay.acting=policy"],
    "ppo": ["train.policy_loss=ppo", "selfplay.acting=policy", "train.gae_lambda=0.9", "train.ppo_epochs=2"],
    "pg_q": ["train.policy_loss=pg_q"],
    "puct": ["search.algorithm=puct"],
    "reanalyse": ["train.reanalyse_fraction=0.25", "train.reanalyse_simulations=4"],
}
FAST_ARMS = ("reinforce", "search")


@pytest.mark.parametrize("arm", [a if a in FAST_ARMS else pytest.param(a, marks=pytest.mark.slow) for a in ARMS])
def test_arm_runs_and_logs_its_signals(tmp_path, arm):
    cfg = load_config(preset="tiny", overrides=TINY + ARMS[arm])
    run = TrainingRun.create(tmp_path, cfg, log=lambda s: None)
    rows = []
    run.run(on_generation=rows.append)
    assert [r["generation"] for r in rows] == [1, 2]
    last = rows[-1]
    for key in ("loss_bits_soft", "loss_bits_onehot", "loss_bits_outcome", "loss_bits_per_sample",
                "loss_policy_entropy"):
        assert np.isfinite(last[key]), key
    assert last["loss_bits_per_sample"] == last[{"search": "loss_bits_soft", "puct": "loss_bits_soft",
                                                 "reanalyse": "loss_bits_soft", "pg_q": "loss_bits_soft",
                                                 "onehot": "loss_bits_onehot"}.get(arm, "loss_bits_outcome")]
    assert "noise_scale" in last and last["noise_big_batch"] == 2 * last["noise_small_batch"] == 32
    assert 0 <= last["previous_win_rate"] <= 1 and last["previous_games"] == 2
    batches = [json.loads(line) for line in (tmp_path / "batches.jsonl").read_text().splitlines()]
    assert [b["step"] for b in batches] == list(range(1, run.trainer.step + 1))
    assert all("bits_per_sample" in b for b in batches)
    if arm == "ppo":
        assert "ppo_clip_fraction" in batches[0] and "loss_ppo_ratio" in last
    if arm == "reanalyse":
        assert all(b["reanalyse_positions"] == 4 for b in batches) and np.isfinite(last["loss_reanalyse_tv"])
    data = [load_arrays(p) for p in shard_paths(tmp_path) + pending_paths(tmp_path)]
    action = np.concatenate([d["action"] for d in data])
    logp = np.concatenate([d["behaviour_logp"] for d in data])
    version = np.concatenate([d["net_version"] for d in data])
    assert (action >= 0).all() and (logp <= 1e-6).all() and np.isfinite(logp).all()
    assert set(np.unique(version)) <= {0, rows[0]["step"]} and (version == 0).any()
    q = np.concatenate([d["search_q"] for d in data]).astype(np.float32)
    assert np.isnan(q).all() == (cfg.selfplay.acting == "policy")


def test_checkpoint_measures_follow_signals_every_seconds(tmp_path):
    """Measured at the first checkpoint, then not again within signals_every_seconds; the
    time they took is counted and kept by the checkpoint."""
    cfg = load_config(preset="tiny", overrides=TINY + ["run.max_generations=3", "run.signals_every_seconds=1e6"])
    run = TrainingRun.create(tmp_path, cfg, log=lambda s: None)
    rows = []
    run.run(on_generation=rows.append)
    assert ["noise_scale" in r for r in rows] == [True, False, False]
    assert ["previous_win_rate" in r for r in rows] == [True, False, False]
    assert rows[0]["measure_seconds"] > 0 and run.measure_seconds == rows[0]["measure_seconds"]
    assert TrainingRun.resume(tmp_path, log=lambda s: None).measure_seconds == run.measure_seconds
