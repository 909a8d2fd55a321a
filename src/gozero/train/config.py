"""Typed run configuration, loaded from a TOML preset with command-line overrides.

A run's configuration is one `RunConfig` of nested dataclasses (``game``, ``net``,
``search``, ``selfplay``, ``train``, ``run``); presets live in ``gozero/presets/*.toml``
with a comment on every key. ``--set section.key=value`` overrides any key; values are
parsed as TOML (``--set train.lr=0.001``, ``--set search.algorithm='"puct"'`` or simply
``--set search.algorithm=puct``).
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from gozero.net.model import NetConfig
from gozero.search.mcts import SearchConfig
from gozero.selfplay.selfplay import SelfPlayConfig


@dataclass
class GameConfig:
    size: int = 9
    komi: float = 7.5
    ko: str = "positional"
    suicide: bool = False


@dataclass
class TrainConfig:
    batch_size: int = 256
    optimizer: str = "adamw"  # "adamw" or "sgd" (momentum)
    lr: float = 2e-3
    momentum: float = 0.9
    weight_decay: float = 1e-4
    warmup_steps: int = 200
    lr_schedule: str = "constant"  # "constant" or "cosine" (over run.max_steps)
    min_lr_fraction: float = 0.1
    grad_clip: float = 1.0
    value_weight: float = 1.0
    ownership_weight: float = 1.5
    score_weight: float = 0.02
    sample_reuse: float = 4.0  # training samples drawn per new self-play position
    min_steps_per_generation: int = 10
    max_steps_per_generation: int = 2000
    window_min: int = 20000  # replay window (positions) at the start of the run
    window_max: int = 500000
    window_alpha: float = 0.75  # KataGo-style growth of the window with the positions seen
    window_beta: float = 0.4
    symmetry_augment: bool = True


@dataclass
class RunOptions:
    games_per_generation: int = 64
    max_generations: int = 0  # 0 = no limit
    max_hours: float = 0.0  # 0 = no limit
    max_steps: int = 0  # 0 = no limit (also the cosine schedule's length)
    device: str = "auto"
    precision: str = "auto"  # inference precision for self-play: auto, fp32, bf16
    compile: bool = True  # torch.compile the self-play network where it pays (NetEvaluator's "auto")
    seed: int = 0
    shard_positions: int = 4096
    keep_checkpoints: int = 0  # model-only snapshots kept (0 = all)
    torch_threads: int = 0  # 0 = torch's default
    selfplay_workers: int = 0  # 0 = alternate self-play and training in one process
    generation_positions: int = 4096  # with workers: new positions that trigger a training round
    eval_every: int = 0  # hand every k-th checkpoint to a background evaluator (0: off)
    eval_panel: list = field(default_factory=lambda: ["random", "gnugo:0", "gnugo:10"])
    eval_games: int = 20  # games against each panel engine
    eval_visits: int = 64  # visits per move of the evaluated checkpoint
    gating: bool = False  # AlphaGo Zero gating: self-play keeps the best network until a new one wins
    gating_games: int = 40  # games of the gating match (in-process arena)
    gating_threshold: float = 0.55  # score the new network needs against the best


@dataclass
class RunConfig:
    game: GameConfig = field(default_factory=GameConfig)
    net: NetConfig = field(default_factory=NetConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    selfplay: SelfPlayConfig = field(default_factory=SelfPlayConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    run: RunOptions = field(default_factory=RunOptions)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        cfg = cls()
        for section, values in data.items():
            if not hasattr(cfg, section):
                raise ValueError(f"unknown config section [{section}]")
            _apply(getattr(cfg, section), values, section)
        cfg.net.size = cfg.game.size
        _validate(cfg)
        return cfg


def _apply(obj: Any, values: dict[str, Any], where: str) -> None:
    names = {f.name: f for f in fields(obj)}
    for key, value in values.items():
        if key not in names:
            raise ValueError(f"unknown config key {where}.{key}; known: {', '.join(sorted(names))}")
        current = getattr(obj, key)
        if isinstance(current, bool) and not isinstance(value, bool):
            raise ValueError(f"{where}.{key} must be true or false, not {value!r}")
        if isinstance(current, float) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(current, list):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValueError(f"{where}.{key} must be a list of strings, not {value!r}")
        elif current is not None and not isinstance(value, type(current)):
            raise ValueError(f"{where}.{key} must be a {type(current).__name__}, not {value!r}")
        setattr(obj, key, value)


def _validate(cfg: RunConfig) -> None:
    if not 2 <= cfg.game.size <= 19:
        raise ValueError(f"game.size {cfg.game.size} is outside 2..19")
    SearchConfig(**asdict(cfg.search))  # re-run its checks
    if cfg.train.optimizer not in ("adamw", "sgd"):
        raise ValueError("train.optimizer must be 'adamw' or 'sgd'")
    if cfg.train.lr_schedule not in ("constant", "cosine"):
        raise ValueError("train.lr_schedule must be 'constant' or 'cosine'")
    if cfg.selfplay.parallel_games < 1 or cfg.train.batch_size < 1:
        raise ValueError("selfplay.parallel_games and train.batch_size must be positive")


def preset_names() -> list[str]:
    folder = resources.files("gozero") / "presets"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


def preset_text(name: str) -> str:
    path = resources.files("gozero") / "presets" / f"{name}.toml"
    if not path.is_file():
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(preset_names())}")
    return path.read_text()


def parse_override(item: str) -> tuple[list[str], Any]:
    if "=" not in item:
        raise ValueError(f"override {item!r} must look like section.key=value")
    key, raw = item.split("=", 1)
    path = key.strip().split(".")
    if len(path) != 2:
        raise ValueError(f"override key {key!r} must be section.key")
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw  # a bare word: a string
    return path, value


def load_config(preset: str | None = None, file: str | Path | None = None,
                overrides: list[str] | None = None) -> RunConfig:
    """Preset (or a TOML file), then ``section.key=value`` overrides, validated."""
    if file is not None:
        data = tomllib.loads(Path(file).read_text())
    else:
        data = tomllib.loads(preset_text(preset or "9x9"))
    for item in overrides or []:
        (section, key), value = parse_override(item)
        data.setdefault(section, {})[key] = value
    return RunConfig.from_dict(data)


def to_toml(cfg: RunConfig) -> str:
    """TOML text of a config (written into each run directory)."""
    lines = []
    for section, values in cfg.to_dict().items():
        lines.append(f"[{section}]")
        for key, value in values.items():
            if isinstance(value, bool):
                text = "true" if value else "false"
            elif isinstance(value, list):
                text = "[" + ", ".join('"' + str(v) + '"' for v in value) + "]"
            elif isinstance(value, str):
                text = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
            else:
                text = repr(value)
            lines.append(f"{key} = {text}")
        lines.append("")
    return "\n".join(lines)


__all__ = ["GameConfig", "RunConfig", "RunOptions", "TrainConfig", "load_config", "to_toml"]
