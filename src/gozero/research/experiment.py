"""An experiment folder: README.md, experiment.toml, the ledger, the panel's calibration, runs.

``experiments/<date>-<slug>/`` holds everything of one question::

    README.md            question, hypothesis, metric, setup, result (filled in as work goes)
    experiment.toml      preset + overrides, budget, panel, search space (a comment on every key)
    results.tsv          the ledger, one row per run (see ledger.py); ledger.sqlite the same rows
    calibration.json     the panel's games among its members (played once; anchors the Elo scale)
    panel_scores.jsonl   each rated row's scores against every member (what re-rates a row)
    sweep.sqlite3        the Optuna study of `gozero research sweep`
    runs/<run id>/       each run's training directory and logs

The panel and the budget are fixed when the experiment is created: every run of one
experiment trains under the same CPU budget and meets the same opponents, so its rows compare.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from gozero.train.config import RunConfig, load_config, parse_override, preset_text

from .panel import PanelConfig, anchor_names

EXPERIMENTS_DIR = Path("experiments")


def parse_budget(text: str | float | int, allow_zero: bool = False) -> float:
    """CPU seconds of ``20s``, ``5m``, ``1.5h`` or a plain number of seconds (``0`` only with
    ``allow_zero``: a run that rates its --init network without training)."""
    if isinstance(text, (int, float)):
        value = float(text)
    else:
        m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([smh]?)\s*", str(text).lower())
        if not m:
            raise ValueError(f"budget {text!r} must look like 20s, 5m, 1.5h or a number of seconds")
        value = float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(2)]
    if value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"budget {text!r} must be positive")
    return value


def slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    if not slug:
        raise ValueError(f"experiment name {name!r} has no letters or digits")
    return slug


@dataclass(frozen=True)
class Param:
    """One dimension of the search space: a range (``low``..``high``, ``log`` scale; ints when
    both ends are ints) or a list of ``choices``."""

    key: str
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    choices: tuple = ()

    @classmethod
    def parse(cls, key: str, spec: dict) -> Param:
        path = key.split(".")
        if len(path) != 2:
            raise ValueError(f"search_space key {key!r} must be section.key")
        if not isinstance(spec, dict):
            raise ValueError(f"search_space.{key} must be a table: {{ low, high, log }} or {{ choices }}")
        unknown = set(spec) - {"low", "high", "log", "choices"}
        if unknown:
            raise ValueError(f"search_space.{key}: unknown fields {sorted(unknown)}")
        if "choices" in spec:
            choices = spec["choices"]
            if not isinstance(choices, list) or not choices:
                raise ValueError(f"search_space.{key}.choices must be a non-empty list")
            return cls(key, choices=tuple(choices))
        if "low" not in spec or "high" not in spec:
            raise ValueError(f"search_space.{key} needs low and high (or choices)")
        low, high, log = spec["low"], spec["high"], bool(spec.get("log", False))
        if not low < high:
            raise ValueError(f"search_space.{key}: low {low} must be below high {high}")
        if log and low <= 0:
            raise ValueError(f"search_space.{key}: a log scale needs low > 0")
        return cls(key, low, high, log)

    @property
    def is_int(self) -> bool:
        return isinstance(self.low, int) and isinstance(self.high, int) and not self.choices


@dataclass
class Experiment:
    """An experiment folder, read from its experiment.toml."""

    dir: Path
    name: str
    preset: str
    created: str
    budget: float
    kill_factor: float
    wall_factor: float
    overrides: dict[str, Any]
    panel: PanelConfig
    space: list[Param] = field(default_factory=list)
    prune_fractions: tuple[float, ...] = (0.5,)
    prune_games: int = 4

    @property
    def toml_path(self) -> Path:
        return self.dir / "experiment.toml"

    @property
    def runs_dir(self) -> Path:
        return self.dir / "runs"

    def override_list(self, extra: list[str] | None = None) -> list[str]:
        """The experiment's overrides as ``section.key=value`` items, then ``extra``."""
        out = [f"{k}={_toml_value(v)}" for k, v in self.overrides.items()]
        return out + list(extra or [])

    def config(self, extra: list[str] | None = None) -> RunConfig:
        """The training config of a run: preset, experiment overrides, then ``extra``."""
        return _base_config(self.dir, self.preset, self.override_list(extra))

    def panel_for_rating(self, games: int | None = None) -> PanelConfig:
        return self.panel if games is None else replace(self.panel, games=games)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return repr(v)


def _base_config(folder: Path, preset: str, overrides: list[str]) -> RunConfig:
    """A preset by name, or a TOML config file of the experiment (``preset = "base.toml"``,
    relative to its folder), then the overrides."""
    if preset.endswith(".toml"):
        file = folder / preset
        if not file.is_file():
            raise FileNotFoundError(f"{folder / 'experiment.toml'}: preset file {file} does not exist")
        return load_config(file=file, overrides=overrides)
    preset_text(preset)
    return load_config(preset=preset, overrides=overrides)


def load_experiment(path: str | Path) -> Experiment:
    """Read an experiment folder (or its experiment.toml); clear errors for what is wrong."""
    path = Path(path)
    if path.is_file():
        path = path.parent
    if not path.is_dir():
        cand = EXPERIMENTS_DIR / str(path)
        matches = sorted(EXPERIMENTS_DIR.glob(f"*{path.name}*")) if EXPERIMENTS_DIR.is_dir() else []
        if cand.is_dir():
            path = cand
        elif len(matches) == 1:
            path = matches[0]
        else:
            raise FileNotFoundError(f"no experiment folder {path} (create one with gozero research new NAME)")
    toml = path / "experiment.toml"
    if not toml.is_file():
        raise FileNotFoundError(f"{path} has no experiment.toml")
    try:
        data = tomllib.loads(toml.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{toml}: {exc}") from None
    exp = data.get("experiment", {})
    bud = data.get("budget", {})
    overrides = dict(data.get("overrides", {}))
    for key, value in overrides.items():
        parse_override(f"{key}={_toml_value(value)}")
    preset = exp.get("preset", "tiny")
    cfg = _base_config(path, preset, [f"{k}={_toml_value(v)}" for k, v in overrides.items()])
    pan = dict(data.get("panel", {}))
    pan["members"] = tuple(pan.get("members", ("random",)))
    known = set(PanelConfig.__dataclass_fields__) - {"size", "komi", "max_moves_factor"}
    unknown = set(pan) - known
    if unknown:
        raise ValueError(f"{toml}: unknown [panel] keys {sorted(unknown)}")
    panel = PanelConfig(**pan, size=cfg.game.size, komi=cfg.game.komi)
    space = [Param.parse(k, v) for k, v in data.get("search_space", {}).items()]
    for p in space:
        probe = p.choices[0] if p.choices else p.low
        _base_config(path, preset, [f"{k}={_toml_value(v)}" for k, v in overrides.items()]
                     + [f"{p.key}={_toml_value(probe)}"])
    sweep = data.get("sweep", {})
    fractions = tuple(float(f) for f in sweep.get("prune_fractions", [0.5]))
    if any(not 0 < f < 1 for f in fractions):
        raise ValueError(f"{toml}: sweep.prune_fractions must lie strictly between 0 and 1")
    return Experiment(dir=path, name=exp.get("name", path.name), preset=preset, created=exp.get("created", ""),
                      budget=parse_budget(bud.get("cpu_seconds", 600.0)),
                      kill_factor=float(bud.get("kill_factor", 1.5)), wall_factor=float(bud.get("wall_factor", 8.0)),
                      overrides=overrides, panel=panel, space=space, prune_fractions=tuple(sorted(fractions)),
                      prune_games=int(sweep.get("prune_games", 4)))


def default_panel(size: int) -> list[str]:
    """Random, the shipped networks of this size, and the engines installed here."""
    from gozero.eval.engines import find_gnugo, find_pachi

    members = ["random"]
    if size == 7:
        members += [f"anchor:{n}" for n in anchor_names() if n.startswith("7x7")]
    elif size == 9:
        members += ["model:9x9@1", "model:9x9@16"]
    if find_gnugo():
        members += ["gnugo:0", "gnugo:10"]
    if find_pachi() and size >= 7:
        members += ["pachi:1000"]
    return members


OVERRIDE_NOTES = {
    "game.size": "board size of every run",
    "game.komi": "komi of every run (and of the panel's games)",
    "run.torch_threads": "one torch thread: runs compare, and repeat with the same seed",
    "run.device": "the CPU, where the budget is measured",
    "run.selfplay_workers": "self-play in the training process (deterministic order)",
    "run.eval_every": "no background evaluator: the panel rates the final network",
    "selfplay.sgf_every": "no SGF files",
    "run.keep_checkpoints": "model snapshots kept per run",
}


README_TEMPLATE = """# {name}

Created {created} with `gozero research new` from the `{preset}` preset.

## Question
What do we want to know? (One question; the bench measures, people choose the questions.)

## Hypothesis
What we expect, and what result would refute it.

## Metric
Elo on the frozen panel of `experiment.toml` (`[panel]`: {members}), {games} games against each
member at {visits} visits, both colours of each opening, anchored at random = 0; with a 95 %
interval from the Bradley-Terry fit. Beside it: the raw network's Elo (its policy, no search).
Training budget: {budget:g} CPU seconds per run (the run and its children).

## Setup
Preset `{preset}` plus `[overrides]` in experiment.toml. Runs:

    gozero research run {folder} --desc "baseline"
    gozero research sweep {folder} --trials 16
    gozero research ledger {folder}
    gozero research report {folder}

## Result
(Filled in from `gozero research report`: best runs with their intervals, what was kept.)
"""


def _panel_lines(members: list[str]) -> str:
    return "[" + ", ".join(json.dumps(m) for m in members) + "]"


def new_experiment(name: str, preset: str = "tiny", root: Path = EXPERIMENTS_DIR, size: int | None = None,
                   komi: float | None = None, budget: float = 600.0, date: str | None = None,
                   members: list[str] | None = None) -> Path:
    """Create ``root/<date>-<slug>/`` with README.md, experiment.toml and an empty ledger.
    ``members``: the panel (default: random, the shipped networks of this size, and the
    engines installed here now; fixed from then on)."""
    from .ledger import Ledger

    src_file = Path(preset) if preset.endswith(".toml") else None  # a config file: copied into the folder
    if src_file is not None:
        if not src_file.is_file():
            raise FileNotFoundError(f"--from {src_file}: no such config file")
        base = load_config(file=src_file)
        preset = src_file.name
    else:
        preset_text(preset)
        base = load_config(preset=preset)
    slug = slugify(name)
    date = date or time.strftime("%Y-%m-%d")
    folder = Path(root) / f"{date}-{slug}"
    if folder.exists():
        raise FileExistsError(f"{folder} exists already")
    size = size or base.game.size
    if komi is None:
        komi = 9.0 if size == 7 and base.game.size != 7 else base.game.komi
    overrides: dict[str, Any] = {}
    if size != base.game.size:
        overrides["game.size"] = size
    if komi != base.game.komi:
        overrides["game.komi"] = float(komi)
    overrides.update({"run.torch_threads": 1, "run.device": "cpu", "run.selfplay_workers": 0, "run.eval_every": 0,
                      "selfplay.sgf_every": 0, "run.keep_checkpoints": 3})
    members = list(members) if members else default_panel(size)
    over_lines = "\n".join(f"{json.dumps(k)} = {_toml_value(v)}    # {OVERRIDE_NOTES.get(k, 'set for this experiment')}"
                           for k, v in overrides.items())
    text = f"""# gozero experiment "{name}", created {date} from the "{preset}" preset.
# Every run of this experiment trains [overrides] on top of the preset under [budget] and is
# rated on [panel]. Change the panel or the budget and earlier rows no longer compare: make a
# new experiment instead. gozero research run/sweep take --set section.key=value per run.

[experiment]
name = {json.dumps(name)}    # the experiment's name (the folder is <date>-<slug>)
preset = {json.dumps(preset)}    # training preset (gozero/presets/PRESET.toml) or a .toml file in this folder
created = {json.dumps(date)}    # creation date

[budget]
cpu_seconds = {budget!r}    # training CPU seconds per run: the run and its children (--budget overrides)
kill_factor = 1.5    # a run past this many times its CPU budget is killed and recorded as a crash
wall_factor = 8.0    # ... and one past this many times its budget in wall-clock seconds (a hung run)

[overrides]
# section.key = value on top of the preset, for every run of this experiment (one thread,
# CPU, no background evaluator, no SGF: runs compare, and the panel does the rating).
{over_lines}

[panel]
members = {_panel_lines(members)}    # the opponents of every run: fixed here, never edited
games = 10    # games against each member (even: both colours of each opening)
visits = 32    # search visits per move of the rated network and of network members without @VISITS
opening_moves = 2    # random moves shared by each pair of games (drawn from seed: the same every run)
seed = 1234    # seed of the openings and of every engine's randomness
calibration_games = 10    # games between each pair of members, played once: they anchor the Elo scale
anchor = "random"    # the member held at anchor_elo
anchor_elo = 0.0    # its Elo

[sweep]
prune_fractions = [0.5]    # fractions of the budget where a sweep trial is rated and may be pruned
prune_games = 4    # games against each member at those intermediate ratings

[search_space]
# gozero research sweep samples these (Optuna TPE): "section.key" = {{ low = L, high = H, log = true }}
# (ints when both ends are ints) or {{ choices = [...] }}.
"train.lr" = {{ low = 0.0003, high = 0.01, log = true }}    # peak learning rate
"selfplay.full_simulations" = {{ low = 8, high = 48 }}    # simulations of a full search
"train.sample_reuse" = {{ low = 1.0, high = 8.0, log = true }}    # training samples per new position
"""
    folder.mkdir(parents=True)
    try:
        if src_file is not None:
            shutil.copyfile(src_file, folder / preset)
        (folder / "experiment.toml").write_text(text)
        exp = load_experiment(folder)
        (folder / "README.md").write_text(README_TEMPLATE.format(
            name=name, created=date, preset=preset, members=", ".join(members), games=exp.panel.games,
            visits=exp.panel.visits, budget=exp.budget, folder=folder))
        Ledger(folder).ensure()
    except Exception:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return folder


__all__ = ["Experiment", "Param", "load_experiment", "new_experiment", "parse_budget", "slugify"]
