"""Run configuration: presets parse and document every key, overrides, clear errors."""

import re
import subprocess
import sys
from dataclasses import fields

import pytest

from gozero.train.config import RunConfig, load_config, parse_override, preset_names, preset_text, to_toml

KEY_LINE = re.compile(r"^\s*([a-z_][a-z0-9_]*)\s*=")


def test_presets_exist():
    assert {"tiny", "9x9", "19x19"} <= set(preset_names())


@pytest.mark.parametrize("name", ["tiny", "9x9", "19x19"])
def test_preset_parses_and_documents_every_key(name):
    cfg = load_config(preset=name)
    assert cfg.net.size == cfg.game.size
    text = preset_text(name)
    section = None
    seen: dict[str, set[str]] = {}
    for n, line in enumerate(text.splitlines(), start=1):
        if line.startswith("["):
            section = line.strip().strip("[]")
            continue
        m = KEY_LINE.match(line)
        if m:
            assert "#" in line.split("=", 1)[1], f"{name}.toml line {n}: key {m.group(1)} has no comment: {line!r}"
            seen.setdefault(section, set()).add(m.group(1))
    # every field of the configuration appears (and so is documented) in the preset
    for f in fields(RunConfig):
        names = {x.name for x in fields(getattr(cfg, f.name))}
        if f.name == "net":
            names.discard("size")  # follows game.size
        missing = names - seen.get(f.name, set())
        assert not missing, f"{name}.toml [{f.name}] does not set {sorted(missing)}"


def test_round_trip_through_toml(tmp_path):
    cfg = load_config(preset="tiny", overrides=["train.lr=0.01", "search.algorithm=puct"])
    path = tmp_path / "c.toml"
    path.write_text(to_toml(cfg))
    again = load_config(file=path)
    assert again == cfg


def test_overrides():
    cfg = load_config(preset="tiny", overrides=["train.lr=0.01", "search.algorithm=puct", "run.max_generations=3",
                                                  "game.size=7", 'run.device="cpu"', "train.symmetry_augment=false"])
    assert cfg.train.lr == 0.01 and cfg.search.algorithm == "puct" and cfg.run.max_generations == 3
    assert cfg.game.size == 7 and cfg.net.size == 7 and cfg.run.device == "cpu" and cfg.train.symmetry_augment is False
    assert load_config(preset="tiny", overrides=["train.lr=1"]).train.lr == 1.0  # int accepted for a float
    assert parse_override("a.b = [1, 2]") == (["a", "b"], [1, 2])


@pytest.mark.parametrize("override,message", [
    ("train.nonsense=1", "unknown config key train.nonsense"),
    ("nosection.lr=1", "unknown config section"),
    ("train.lr=fast", "train.lr must be a float"),
    ("train.batch_size=1.5", "train.batch_size must be a int"),
    ("train.symmetry_augment=1", "must be true or false"),
    ("game.size=25", "outside 2..19"),
    ("train.optimizer=lion", "train.optimizer"),
    ("search.algorithm=bogus", "algorithm"),
    ("lr=1", "section.key"),
    ("train.lr", "section.key=value"),
])
def test_bad_configs_give_clear_errors(override, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        load_config(preset="tiny", overrides=[override])


def test_unknown_preset_and_cli_errors():
    with pytest.raises(ValueError, match="unknown preset 'huge'"):
        load_config(preset="huge")
    r = subprocess.run([sys.executable, "-m", "gozero.train", "train", "--preset", "tiny", "--set", "train.bogus=1",
                        "--show-config"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "unknown config key train.bogus" in r.stderr
    r = subprocess.run([sys.executable, "-m", "gozero.train", "train", "--preset", "tiny", "--set", "train.lr=0.5",
                        "--show-config"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "lr = 0.5" in r.stdout and "size = 5" in r.stdout
