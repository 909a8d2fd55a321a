"""Build the player behind `gozero gtp`, `gozero play` and `gozero match`.

``build_player(model=None)`` gives the network + search player of a checkpoint; with no
model it uses the 9x9 model shipped in the package when there is one, and the uniform
random player otherwise (or when ``model="random"``).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from gozero.search.player import Player
from gozero.search.random_player import RandomPlayer


def shipped_model() -> Path | None:
    """Path of the default 9x9 model inside the installed package, if one is shipped."""
    try:
        ref = resources.files("gozero") / "models" / "9x9.pt"
    except (ModuleNotFoundError, FileNotFoundError):
        return None
    path = Path(str(ref))
    return path if path.is_file() else None


def build_player(model: str | None = None, visits: int | None = None, seconds: float | None = None,
                 temperature: float = 0.0, seed: int | None = None, device: str = "auto") -> Player:
    """The player for a checkpoint path, ``"random"``, or None (shipped model, else random)."""
    if model == "random":
        return RandomPlayer(seed)
    path = Path(model) if model else shipped_model()
    if path is None:
        return RandomPlayer(seed)
    if not path.is_file():
        raise FileNotFoundError(f"model checkpoint {path} does not exist")
    from gozero.search.mcts_player import MCTSPlayer

    return MCTSPlayer.from_checkpoint(path, visits=visits, seconds=seconds, temperature=temperature, seed=seed,
                                      device=device)
