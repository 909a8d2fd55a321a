"""Supervised learning from SGF (``gozero train --sgf``): examples, broken files, move
prediction on held-out games, and self-play resuming from the supervised network."""

import subprocess
import sys

import numpy as np
import pytest
import torch

from gozero.rules import BLACK, WHITE, Game, Rules, from_gtp
from gozero.rules.sgf import game_to_sgf, load_sgf
from gozero.selfplay.sgf_gen import generate_games
from gozero.selfplay.shards import load_arrays, pending_paths, shard_paths
from gozero.train.config import load_config
from gozero.train.loop import TrainingRun
from gozero.train.supervised import game_examples, load_holdout, train_on_sgf, winner_from_result

FAST = ["game.size=9", "train.batch_size=64", "train.warmup_steps=5", "run.shard_positions=1000",
        "run.torch_threads=1", 'run.device="cpu"', "run.games_per_generation=4", "selfplay.parallel_games=4",
        "selfplay.full_simulations=4", "selfplay.cheap_simulations=2", "train.min_steps_per_generation=3",
        "selfplay.max_moves_factor=1.0"]


def test_winner_from_result():
    assert winner_from_result("B+3.5") == BLACK and winner_from_result("W+R") == WHITE
    assert winner_from_result("0") == 0 and winner_from_result("Draw") == 0
    assert winner_from_result("?") is None and winner_from_result(None) is None and winner_from_result("Void") is None


def test_examples_of_a_game_ended_by_two_passes():
    g = Game(5, Rules(komi=0.5))
    for v in ["C3", "C2", "B3", "B2", "D3", "D2", "E2", "A3", "pass", "pass"]:
        g.play(from_gtp(v, 5))
    score = g.score()
    rec = load_sgf(game_to_sgf(g))  # result: the Tromp-Taylor count
    a = game_examples(rec)
    n = len(g.moves)
    assert a["planes"].shape == (n, 18, 4) and a["globals"].shape == (n, 4)
    moves = [m for _, m in g.moves]
    assert (a["policy"].astype(np.float32).argmax(axis=1) == moves).all()
    assert (a["policy"].astype(np.float32).sum(axis=1) == 1).all()
    black_to_move = a["globals"][:, 1] == 1
    assert black_to_move.tolist() == [i % 2 == 0 for i in range(n)]
    winner_black = score > 0
    assert (a["value"][black_to_move, 0] == winner_black).all()
    assert (a["value"][~black_to_move, 2] == winner_black).all()
    assert (a["aux_weight"] == 1).all()
    assert np.allclose(np.where(black_to_move, a["score"], -a["score"]), score)
    # a resigned game: value from RE, no ownership/score target
    rec = load_sgf(game_to_sgf(g, result="W+R"))
    rec.moves = rec.moves[:6]
    a = game_examples(rec)
    assert len(a["value"]) == 6 and (a["aux_weight"] == 0).all()
    assert (a["value"][1::2, 0] == 1).all() and (a["value"][0::2, 2] == 1).all()


BROKEN = {
    "syntax.sgf": "(;GM[1]SZ[9];B[ee];W[",
    "illegal.sgf": "(;GM[1]SZ[9]KM[7.5]RE[B+R];B[ee];W[ee])",
    "deep/offboard.sgf": "(;GM[1]SZ[9]RE[W+R];B[zz])",
}


@pytest.fixture(scope="module")
def supervised(tmp_path_factory, gnugo):
    src = tmp_path_factory.mktemp("sgf")
    generate_games(src / "gnugo", 60, size=9, level=0, parallel=2, seed=1000, gnugo=gnugo, log=lambda s: None)
    for name, text in BROKEN.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_text(text)
    (src / "small.sgf").write_text("(;GM[1]SZ[5]RE[B+R];B[cc])")
    out = tmp_path_factory.mktemp("run") / "sup"
    messages: list[str] = []
    cfg = load_config(preset="tiny", overrides=FAST)
    result = train_on_sgf(src, out, cfg, epochs=3, log=messages.append)
    return src, out, cfg, result, messages


@pytest.mark.slow
def test_broken_files_are_skipped_with_a_message(supervised):
    src, _, _, result, messages = supervised
    assert result.files == 64 and len(result.skipped) == 3 and result.other_size == 1
    for name in BROKEN:
        assert str(src / name) in result.skipped
        warning = [m for m in messages if "skipping" in m and str(src / name) in m]
        assert len(warning) == 1, messages
    assert "illegal" in result.skipped[str(src / "illegal.sgf")]
    assert "syntax" in result.skipped[str(src / "syntax.sgf")]
    assert result.train_games + result.holdout_games == 60


@pytest.mark.slow
def test_supervised_network_predicts_held_out_moves(supervised):
    _, out, _, result, messages = supervised
    assert result.holdout_games == 3 and result.holdout_positions > 50
    held = load_holdout(out)
    assert len(held["policy"]) == result.holdout_positions
    total = sum(len(load_arrays(p)["policy"]) for p in shard_paths(out) + pending_paths(out))
    assert total == result.train_positions  # held-out games are not trained on
    msg = f"held-out top-1 move accuracy {result.accuracy:.1%}, chance {result.chance:.1%}"
    print(msg)
    assert 0.005 < result.chance < 0.1, msg
    assert result.accuracy > max(4 * result.chance, 0.1), msg
    assert any("held-out move accuracy" in m for m in messages)


@pytest.mark.slow
def test_run_directory_and_resume_by_self_play(supervised):
    _, out, cfg, result, _ = supervised
    ck = out / "checkpoints"
    data = torch.load(ck / "latest.pt", weights_only=False)
    assert data["step"] == result.steps and len(list(ck.glob("step_*.pt"))) == 4  # step 0 and one per epoch
    assert (ck / f"step_{result.steps:08d}.pt").exists() and (ck / "step_00000000.pt").exists()
    assert load_config(file=out / "config.toml") == cfg
    rows = [line for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 3 and '"holdout_accuracy"' in rows[-1]
    run = TrainingRun.resume(out, log=lambda s: None, overrides=["run.max_generations=1"])
    assert run.trainer.step == result.steps and run.generation == 0
    for k, v in run.model.state_dict().items():
        torch.testing.assert_close(v, data["model"][k])
    run.run()
    assert run.generation == 1 and run.trainer.step > result.steps and run.games >= 4
    assert list((out / "sgf").glob("*.sgf"))


@pytest.mark.slow
def test_cli_errors(tmp_path, supervised):
    src, out, _, _, _ = supervised
    empty = tmp_path / "empty"
    empty.mkdir()
    r = subprocess.run([sys.executable, "-m", "gozero.train", "train", "--preset", "tiny", "--sgf", str(empty),
                        "--run-dir", str(tmp_path / "x")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "no *.sgf files" in r.stderr
    r = subprocess.run([sys.executable, "-m", "gozero.train", "train", "--preset", "tiny", "--set", "game.size=9",
                        "--sgf", str(src), "--run-dir", str(out)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "already holds a run" in " ".join(r.stderr.split())
