"""A tiny experiment for the research-bench tests (5x5, random-only panel, a few games) whose
runs take seconds of CPU."""

from pathlib import Path

from gozero.research.experiment import new_experiment

FAST = {
    "run.games_per_generation": 8, "selfplay.parallel_games": 8, "selfplay.full_simulations": 4,
    "selfplay.cheap_simulations": 2, "train.batch_size": 32, "train.min_steps_per_generation": 4,
    "run.shard_positions": 48,
}


def make_experiment(root: Path, budget: float = 20.0, space: str | None = None) -> Path:
    """A tiny experiment in ``root``: the random player as the panel, 4 games, FAST overrides."""
    folder = new_experiment("bench test", "tiny", root, budget=budget, members=["random"], date="2026-01-01")
    toml = folder / "experiment.toml"
    text = toml.read_text().replace("games = 10 ", "games = 4 ").replace("visits = 32 ", "visits = 8 ")
    extra = "".join(f'"{k}" = {v}\n' for k, v in FAST.items())
    text = text.replace("\n[panel]\n", "\n" + extra + "\n[panel]\n")
    if space is not None:
        text = text[: text.index("[search_space]")] + "[search_space]\n" + space
    toml.write_text(text)
    return folder
