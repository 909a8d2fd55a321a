"""Experiment folders, budgets, search spaces, the ledger's status rule, and the panel's games."""

import pytest

from gozero.research.experiment import Param, load_experiment, new_experiment, parse_budget
from gozero.research.ledger import Ledger, decide_status, rerun_command
from gozero.research.panel import PanelConfig, RandomSide, play_pairs


def test_parse_budget():
    assert parse_budget("20s") == 20 and parse_budget("5m") == 300 and parse_budget("1.5h") == 5400
    assert parse_budget("90") == 90 and parse_budget(12) == 12
    for bad in ("", "5 minutes", "-3s", "0"):
        with pytest.raises(ValueError):
            parse_budget(bad)


def test_new_experiment_writes_a_folder_that_loads(tmp_path):
    folder = new_experiment("LR: warm-up?", "tiny", tmp_path, size=7, budget=90, members=["random", "gnugo:0"],
                            date="2026-02-03")
    assert folder.name == "2026-02-03-lr-warm-up"
    for name in ("README.md", "experiment.toml", "results.tsv", "ledger.sqlite"):
        assert (folder / name).exists(), name
    for section in ("Question", "Hypothesis", "Metric", "Setup", "Result"):
        assert f"## {section}" in (folder / "README.md").read_text()
    exp = load_experiment(folder)
    assert exp.budget == 90 and exp.panel.members == ("random", "gnugo:0")
    assert exp.panel.size == 7 and exp.panel.komi == 9.0 and exp.config().game.size == 7
    assert [p.key for p in exp.space] == ["train.lr", "selfplay.full_simulations", "train.sample_reuse"]
    assert exp.space[0].log and exp.space[1].is_int
    # every key of experiment.toml has a comment
    for line in (folder / "experiment.toml").read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            assert "#" in line, line
    assert Ledger(folder).rows() == []
    with pytest.raises(FileExistsError):
        new_experiment("LR: warm-up?", "tiny", tmp_path, date="2026-02-03")


def test_an_experiment_can_start_from_a_config_file(tmp_path):
    base = tmp_path / "study.toml"
    from gozero.train.config import load_config, to_toml

    base.write_text(to_toml(load_config(preset="tiny", overrides=["game.size=6", "net.blocks=2", "train.lr=0.0042"])))
    folder = new_experiment("from a file", str(base), tmp_path / "exps", budget=30, members=["random"],
                            date="2026-02-03")
    assert (folder / "study.toml").read_text() == base.read_text()  # copied: the folder stands alone
    base.unlink()
    exp = load_experiment(folder)
    cfg = exp.config(["train.lr=0.001"])
    assert exp.preset == "study.toml" and cfg.game.size == 6 and cfg.net.blocks == 2 and cfg.train.lr == 0.001
    assert exp.panel.size == 6
    (folder / "study.toml").unlink()
    with pytest.raises(FileNotFoundError, match="study.toml"):
        load_experiment(folder)
    with pytest.raises(FileNotFoundError, match="no such config file"):
        new_experiment("other", str(tmp_path / "missing.toml"), tmp_path / "exps")


def test_bad_experiment_files_are_clear_errors(tmp_path):
    folder = new_experiment("x", "tiny", tmp_path, members=["random"])
    toml = folder / "experiment.toml"
    good = toml.read_text()
    toml.write_text(good.replace('members = ["random"]', 'members = ["gnugo:0"]'))
    with pytest.raises(ValueError, match="anchor"):
        load_experiment(folder)
    toml.write_text(good.replace('"train.lr" = {', '"train.nope" = {'))
    with pytest.raises(ValueError, match="nope"):
        load_experiment(folder)
    toml.write_text(good.replace("games = 10 ", "games = 3 "))
    with pytest.raises(ValueError, match="even"):
        load_experiment(folder)
    with pytest.raises(ValueError):
        Param.parse("train.lr", {"low": 0.0, "high": 1.0, "log": True})


def test_status_rule_and_rerun_command(tmp_path):
    row = {"run_id": "a", "elo": 100.0, "elo_low": 50.0, "elo_high": 150.0}
    assert decide_status(row, None)[0] == "keep"
    assert decide_status({**row, "elo_low": 120.0}, {"run_id": "b", "elo": 110.0})[0] == "keep"
    assert decide_status(row, {"run_id": "b", "elo": 90.0})[0] == "discard"  # better, but not beyond its interval
    cmd = rerun_command(tmp_path, {"seed": 3, "budget_s": 20.0, "overrides": '["train.lr=0.001"]', "init": ""})
    assert "--seed 3" in cmd and "--budget 20s" in cmd and "--set train.lr=0.001" in cmd


def test_panel_games_repeat_and_alternate_colours():
    cfg = PanelConfig(members=("random",), games=6, size=5, komi=0.5, opening_moves=2)
    first = play_pairs(RandomSide(1), RandomSide(2), 6, cfg, seed=7)
    again = play_pairs(RandomSide(1), RandomSide(2), 6, cfg, seed=7)
    assert first == again and len(first) == 6 and set(first) <= {0.0, 0.5, 1.0}
