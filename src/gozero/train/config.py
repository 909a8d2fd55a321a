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
from gozero.rules import Rules
from gozero.search.mcts import SearchConfig
from gozero.selfplay.selfplay import SelfPlayConfig


@dataclass
class GameConfig:
    size: int = 9
    komi: float = 7.5
    ko: str = "positional"
    suicide: bool = False
    scoring: str = "tromp_taylor"  # a game ended by two passes: "tromp_taylor" or "area_dead_removed"

    def rules(self) -> Rules:
        """The `Rules` these settings stand for (self-play, gating, evaluation)."""
        return Rules(komi=self.komi, ko=self.ko, suicide=self.suicide, scoring=self.scoring)


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
    policy_loss: str = "search"  # "search", "onehot", "reinforce", "ppo" or "pg_q" (see trainer.py)
    entropy_coef: float = 0.01  # entropy bonus of reinforce, ppo and pg_q
    ppo_clip: float = 0.2  # PPO: the ratio pi / pi_behaviour is clipped to 1 +- this
    ppo_epochs: int = 4  # PPO: optimizer steps on each batch
    gae_lambda: float = 1.0  # PPO advantage: 1 = z - V(s) (value head as baseline); < 1 = GAE(lambda)
    reanalyse_fraction: float = 0.0  # share of each batch re-searched with the current network
    reanalyse_simulations: int = 16  # simulations of a reanalyse search
    reanalyse_value_mix: float = 0.5  # reanalysed value target: (1 - mix) x outcome + mix x search value
    noise_scale_batches: int = 0  # micro-batches for the gradient noise scale at each checkpoint (0: off)


@dataclass
class RunOptions:
    games_per_generation: int = 64
    max_generations: int = 0  # 0 = no limit
    max_hours: float = 0.0  # 0 = no limit
    max_cpu_seconds: float = 0.0  # CPU seconds of the run and its children, all sessions (0 = no limit)
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
    previous_match_games: int = 0  # games of each checkpoint against the one before it (0: off)
    previous_match_simulations: int = 16  # Gumbel simulations per move in that match
    signals_every_seconds: float = 0.0  # checkpoint measures at most this often, by run time (0: every checkpoint)


@dataclass
class ClusterConfig:
    """Self-play on a Ray cluster (`gozero.train.cluster_selfplay`); ``address`` "" keeps local processes."""

    address: str = ""  # "" (processes, run.selfplay_workers), "local", "auto" or a Ray address (host:port)
    actors: int = 0  # self-play actors (0: as many as the nodes' CPUs allow)
    actor_cpus: float = 1.0  # CPUs per actor
    actor_gpus: float = -1.0  # GPU share per actor on GPU nodes (-1: the node's GPUs split among its actors; 0: none)
    learner_cpus: float = 1.0  # CPUs left free for the learner on its own node
    chunk_games: int = 8  # finished games an actor returns per chunk
    chunk_seconds: float = 30.0  # a chunk returns after this long even with fewer games
    chunk_timeout: float = 300.0  # an actor silent for chunk_seconds + this is hung: killed and replaced
    startup_timeout: float = 600.0  # extra time for an actor's first chunk (imports, numba compile)
    poll_seconds: float = 10.0  # how often the learner looks for nodes that joined or left
    local_cpus: int = 0  # address "local": CPUs of the local Ray instance (0: all cores)
    max_failures: int = 20  # actor failures in a row (no good chunk between) before the run stops


@dataclass
class RunConfig:
    game: GameConfig = field(default_factory=GameConfig)
    net: NetConfig = field(default_factory=NetConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    selfplay: SelfPlayConfig = field(default_factory=SelfPlayConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    run: RunOptions = field(default_factory=RunOptions)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)

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
    cfg.game.rules()  # the rules' own checks (ko, scoring)
    SearchConfig(**asdict(cfg.search))  # re-run its checks
    if cfg.train.optimizer not in ("adamw", "sgd"):
        raise ValueError("train.optimizer must be 'adamw' or 'sgd'")
    if cfg.train.lr_schedule not in ("constant", "cosine"):
        raise ValueError("train.lr_schedule must be 'constant' or 'cosine'")
    if cfg.selfplay.parallel_games < 1 or cfg.train.batch_size < 1:
        raise ValueError("selfplay.parallel_games and train.batch_size must be positive")
    _validate_signals(cfg)


POLICY_LOSSES = ("search", "onehot", "reinforce", "ppo", "pg_q")


def _validate_signals(cfg: RunConfig) -> None:
    """The learning-signal keys: each in range, and no loss without the data it needs."""
    t, sp = cfg.train, cfg.selfplay
    if t.policy_loss not in POLICY_LOSSES:
        raise ValueError(f"train.policy_loss must be one of {', '.join(POLICY_LOSSES)}, not {t.policy_loss!r}")
    if sp.acting not in ("search", "policy"):
        raise ValueError(f"selfplay.acting must be 'search' or 'policy', not {sp.acting!r}")
    if sp.acting == "policy" and t.policy_loss in ("search", "onehot", "pg_q") and t.reanalyse_fraction < 1.0:
        raise ValueError(f"train.policy_loss = {t.policy_loss!r} learns from the search, but selfplay.acting = "
                         "'policy' plays without one: use reinforce or ppo, acting = 'search', or "
                         "train.reanalyse_fraction = 1.0 (every sample searched by the trainer)")
    if t.entropy_coef < 0:
        raise ValueError(f"train.entropy_coef must be >= 0, not {t.entropy_coef}")
    if not 0 < t.ppo_clip < 1:
        raise ValueError(f"train.ppo_clip must be in (0, 1), not {t.ppo_clip}")
    if t.ppo_epochs < 1:
        raise ValueError(f"train.ppo_epochs must be >= 1, not {t.ppo_epochs}")
    if not 0 <= t.gae_lambda <= 1:
        raise ValueError(f"train.gae_lambda must be in [0, 1], not {t.gae_lambda}")
    if not 0 <= t.reanalyse_fraction <= 1:
        raise ValueError(f"train.reanalyse_fraction must be in [0, 1], not {t.reanalyse_fraction}")
    if t.reanalyse_simulations < 1:
        raise ValueError(f"train.reanalyse_simulations must be >= 1, not {t.reanalyse_simulations}")
    if not 0 <= t.reanalyse_value_mix <= 1:
        raise ValueError(f"train.reanalyse_value_mix must be in [0, 1], not {t.reanalyse_value_mix}")
    if t.noise_scale_batches == 1 or t.noise_scale_batches < 0:
        raise ValueError(f"train.noise_scale_batches must be 0 (off) or >= 2, not {t.noise_scale_batches}")
    if cfg.run.signals_every_seconds < 0:
        raise ValueError(f"run.signals_every_seconds must be >= 0, not {cfg.run.signals_every_seconds}")
    if cfg.run.previous_match_games < 0 or cfg.run.previous_match_simulations < 1:
        raise ValueError("run.previous_match_games must be >= 0 and run.previous_match_simulations >= 1")


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


__all__ = ["ClusterConfig", "GameConfig", "RunConfig", "RunOptions", "TrainConfig", "load_config", "to_toml"]
