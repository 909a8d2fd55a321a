"""The proof that the loop learns: the ``tiny`` preset (5x5) trained from scratch for a few
generations beats the random player and its own untrained network by a wide margin."""

import pytest

from gozero.net.inference import NetEvaluator, load_checkpoint_model
from gozero.rules import Rules
from gozero.search.mcts import SearchConfig
from gozero.selfplay.arena import play_match
from gozero.train.config import load_config
from gozero.train.loop import TrainingRun

GENERATIONS = 8
GAMES = 100


@pytest.mark.slow
def test_tiny_preset_learns(tmp_path):
    cfg = load_config(preset="tiny", overrides=[f"run.max_generations={GENERATIONS}", "run.torch_threads=1",
                                                'run.device="cpu"'])
    run = TrainingRun.create(tmp_path, cfg, log=lambda s: None)
    rows = []
    run.run(on_generation=rows.append)
    assert len(rows) == GENERATIONS
    assert rows[-1]["loss_policy"] < rows[0]["loss_policy"]

    ck = tmp_path / "checkpoints"
    trained, _ = load_checkpoint_model(ck / "model_latest.pt")
    untrained, meta = load_checkpoint_model(ck / "step_00000000.pt")
    assert meta["step"] == 0
    rules = Rules(komi=cfg.game.komi, ko=cfg.game.ko, suicide=cfg.game.suicide)
    search = SearchConfig(algorithm="gumbel", simulations=8)

    def ev(model, seed):
        return NetEvaluator(model, device="cpu", precision="fp32", seed=seed)

    vs_random = play_match(ev(trained, 1), None, GAMES, cfg.game.size, rules, search, seed=11)
    vs_untrained = play_match(ev(trained, 2), ev(untrained, 3), GAMES, cfg.game.size, rules, search, seed=12)
    baseline = play_match(ev(untrained, 4), None, GAMES, cfg.game.size, rules, search, seed=13)
    report = (f"after {GENERATIONS} generations ({run.games} games, {run.trainer.step} steps): "
              f"{vs_random.wins}-{vs_random.losses}-{vs_random.draws} against random, "
              f"{vs_untrained.wins}-{vs_untrained.losses}-{vs_untrained.draws} against the untrained network "
              f"(which scores {baseline.win_rate:.0%} against random)")
    print(report)
    assert vs_random.total == vs_untrained.total == GAMES
    assert vs_random.win_rate >= 0.9, report
    assert vs_untrained.win_rate >= 0.8, report
    assert vs_random.win_rate > baseline.win_rate, report
