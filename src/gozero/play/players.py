"""The player and the settings behind `gozero gtp`, `gozero play`, `gozero match` and analysis.

``build_player(model=None, search=...)`` gives the network + search player of a checkpoint;
with no model it uses the 9x9 model shipped in the package when there is one, and the
uniform random player otherwise (or when ``model="random"``).

``load_search_config(file, overrides)`` reads the typed ``[search]`` section every front
end plays with: the package's ``play/play.toml`` (the shipped model's settings), then a
``--config FILE``, then ``--set search.key=value`` overrides, checked by the training
config's parser. ``play_rules(name)`` names the rules a front end counts a game by.
"""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from gozero.rules import Rules
from gozero.search.player import Player
from gozero.search.random_player import RandomPlayer

if TYPE_CHECKING:
    from gozero.search.mcts import SearchConfig

# --rules names -> Rules.scoring. Ko and suicide stay positional superko without suicide.
SCORING_NAMES = {"area": "area_dead_removed", "area_dead_removed": "area_dead_removed",
                 "tromp-taylor": "tromp_taylor", "tromp_taylor": "tromp_taylor"}
DEFAULT_RULES = "area"  # front ends that play people or engines count as they do: dead stones removed


def shipped_model() -> Path | None:
    """Path of the default 9x9 model inside the installed package, if one is shipped."""
    try:
        ref = resources.files("gozero") / "models" / "9x9.pt"
    except (ModuleNotFoundError, FileNotFoundError):
        return None
    path = Path(str(ref))
    return path if path.is_file() else None


def play_config_text() -> str:
    """The package's play settings file (``gozero/play/play.toml``)."""
    return (resources.files("gozero") / "play" / "play.toml").read_text(encoding="utf-8")


def _read_toml(file: str | Path) -> dict[str, Any]:
    path = Path(file)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"config file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read config file {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"config file {path} is not valid TOML: {exc}") from None


def load_search_config(file: str | Path | None = None, overrides: list[str] | None = None) -> SearchConfig:
    """The search settings a front end plays with.

    The package's play settings, then the ``[search]`` section of ``file`` (a play config,
    a training preset or a run's ``config.toml``: its other sections are checked but not
    used), then ``search.key=value`` overrides (TOML values; a bare word is a string).
    Raises ValueError naming the file, key or value at fault.
    """
    from gozero.train.config import RunConfig, parse_override

    search = dict(tomllib.loads(play_config_text())["search"])
    data: dict[str, Any] = {}
    if file is not None:
        data = _read_toml(file)
        section = data.get("search", {})
        if not isinstance(section, dict):
            raise ValueError(f"config file {file}: search must be a [search] table")
        search.update(section)
    for item in overrides or []:
        (section_name, key), value = parse_override(item)
        if section_name != "search":
            raise ValueError(f"override {item!r}: only search.key=value settings apply to play")
        search[key] = value
    data["search"] = search
    return RunConfig.from_dict(data).search


def play_rules(name: str = DEFAULT_RULES, komi: float = 7.5) -> Rules:
    """The rules a front end plays by: ``area`` (area count with dead stones removed, the
    way GNU Go, Pachi, KGS and people score) or ``tromp-taylor`` (every stone left counts)."""
    scoring = SCORING_NAMES.get(name.strip().lower())
    if scoring is None:
        raise ValueError(f"unknown rules {name!r}; choose area or tromp-taylor")
    return Rules(komi=komi, scoring=scoring)


def build_player(model: str | None = None, visits: int | None = None, seconds: float | None = None,
                 temperature: float = 0.0, seed: int | None = None, device: str = "auto",
                 search: SearchConfig | None = None) -> Player:
    """The player for a checkpoint path, ``"random"``, or None (shipped model, else random).
    ``search``: the search settings (default: `load_search_config()`, the package's)."""
    if model == "random":
        return RandomPlayer(seed)
    path = Path(model) if model else shipped_model()
    if path is None:
        return RandomPlayer(seed)
    if not path.is_file():
        raise FileNotFoundError(f"model checkpoint {path} does not exist")
    from gozero.search.mcts_player import MCTSPlayer

    return MCTSPlayer.from_checkpoint(path, visits=visits, seconds=seconds, temperature=temperature, seed=seed,
                                      device=device, config=search if search is not None else load_search_config())
