"""The search settings and rules the front ends play with: the package's play config,
``--config`` files, ``--set search.key=value`` overrides and their errors, and the player
built from them."""

from __future__ import annotations

import re
import sys
from dataclasses import asdict, fields
from pathlib import Path

import pytest

from gozero.play.players import build_player, load_search_config, play_config_text, play_rules, shipped_model
from gozero.rules import Rules
from gozero.search.mcts import SearchConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PRESETS = Path(__file__).resolve().parents[2] / "src" / "gozero" / "presets"


def test_the_package_settings_are_the_shipped_models() -> None:
    cfg = load_search_config()
    # the settings the shipped model's strength was measured with (README, model card)
    assert (cfg.algorithm, cfg.leaves_per_game, cfg.fpu_reduction) == ("puct", 8, 0.25)
    assert cfg != SearchConfig()  # not the dataclass's (training) defaults


def test_the_play_config_names_every_key_with_a_comment() -> None:
    text = play_config_text()
    keys = set(tomllib.loads(text)["search"])
    assert keys == {f.name for f in fields(SearchConfig)}
    for key in keys:
        line = next(ln for ln in text.splitlines() if re.match(rf"{key}\s*=", ln))
        assert "#" in line and line.split("#", 1)[1].strip(), key


def test_a_config_file_replaces_only_its_keys(tmp_path: Path) -> None:
    f = tmp_path / "mine.toml"
    f.write_text("[search]\nfpu_reduction = 0.5\nc_puct_init = 2\n")
    cfg = load_search_config(f)
    assert cfg.fpu_reduction == 0.5 and cfg.c_puct_init == 2.0 and isinstance(cfg.c_puct_init, float)
    base = asdict(load_search_config())
    assert {k: v for k, v in asdict(cfg).items() if v != base[k]} == {"fpu_reduction": 0.5, "c_puct_init": 2.0}


def test_a_training_preset_gives_its_search_section() -> None:
    cfg = load_search_config(PRESETS / "9x9.toml")
    preset = tomllib.loads((PRESETS / "9x9.toml").read_text())["search"]
    assert cfg.algorithm == preset["algorithm"] and cfg.simulations == preset["simulations"]


def test_overrides_win_over_the_file(tmp_path: Path) -> None:
    f = tmp_path / "mine.toml"
    f.write_text("[search]\nfpu_reduction = 0.5\n")
    cfg = load_search_config(f, ["search.fpu_reduction=0.1", "search.algorithm=gumbel", "search.reuse_tree=false"])
    assert (cfg.fpu_reduction, cfg.algorithm, cfg.reuse_tree) == (0.1, "gumbel", False)


@pytest.mark.parametrize("overrides,message", [
    (["search.nope=1"], "unknown config key search.nope"),
    (["search.leaves_per_game=many"], "search.leaves_per_game must be a int"),
    (["search.reuse_tree=1"], "search.reuse_tree must be true or false"),
    (["search.algorithm=alphabeta"], "'puct' or 'gumbel'"),
    (["search.simulations=0"], "at least 1"),
    (["train.lr=0.1"], "only search.key=value"),
    (["fpu_reduction=0.1"], "section.key"),
    (["search.fpu_reduction"], "section.key=value"),
])
def test_bad_overrides_are_named(overrides: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        load_search_config(None, overrides)


def test_bad_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        load_search_config(tmp_path / "none.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[search\nfpu_reduction = ")
    with pytest.raises(ValueError, match="broken.toml is not valid TOML"):
        load_search_config(broken)
    odd = tmp_path / "odd.toml"
    odd.write_text("[serch]\nfpu_reduction = 0.1\n")
    with pytest.raises(ValueError, match=r"unknown config section \[serch\]"):
        load_search_config(odd)
    flat = tmp_path / "flat.toml"
    flat.write_text("search = 3\n")
    with pytest.raises(ValueError, match=r"\[search\] table"):
        load_search_config(flat)


def test_play_rules() -> None:
    assert play_rules() == Rules(scoring="area_dead_removed")
    assert play_rules("area", 6.5) == Rules(komi=6.5, scoring="area_dead_removed")
    assert play_rules("Tromp-Taylor").scoring == "tromp_taylor"
    with pytest.raises(ValueError, match="unknown rules 'japanese'"):
        play_rules("japanese")


@pytest.mark.skipif(shipped_model() is None, reason="no shipped model in this checkout")
def test_the_model_player_plays_with_the_given_settings() -> None:
    player = build_player(None, visits=8, device="cpu")
    assert player.config == load_search_config()
    mine = load_search_config(None, ["search.fpu_reduction=0.4"])
    assert build_player(None, visits=8, device="cpu", search=mine).config.fpu_reduction == 0.4


def test_the_search_player_needs_its_config() -> None:
    from gozero.search.mcts_player import MCTSPlayer

    with pytest.raises(TypeError, match="SearchConfig"):
        MCTSPlayer(evaluator=None)  # type: ignore[arg-type]


@pytest.mark.parametrize("args,message", [
    (["--rules", "ing"], "unknown rules 'ing'"),
    (["--set", "search.nope=1"], "search.nope"),
    (["--config", "/nonexistent/play.toml"], "does not exist"),
])
def test_gozero_play_refuses_bad_settings_before_serving(args: list[str], message: str, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from gozero.cli import app

    res = CliRunner().invoke(app, ["play", "--model", "random", "--no-browser", "--db", str(tmp_path / "w.sqlite"),
                                   *args])
    assert res.exit_code == 2 and message in res.output, res.output
