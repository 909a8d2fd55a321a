"""Match games on a Ray cluster (``gozero match/ladder --cluster``): play there, record here.

Each game is one Ray task that runs `play_game` on some node with fresh engines and a
GNU Go referee found on that node, writes its SGF to a scratch folder there and returns the
`GameOutcome` with the SGF text. The driver writes the SGF beside the database and records
the game in SQLite: remote nodes write nothing. A ``gozero:CKPT`` engine whose checkpoint
is not on the node (no shared filesystem) gets the file through the object store, put once
per match and cached on the node under ``~/.cache/gozero/cluster/`` by content hash.
A game lost with its node is played again (Ray task retries); an interrupted match keeps
its finished games, like a local one.
"""

from __future__ import annotations

import dataclasses
import tempfile
from concurrent.futures import Future
from pathlib import Path

from gozero.train.cluster import ClusterExecutor, fetch_shipped, ship_file

from .engines import EngineSpec
from .match import GameOutcome, GnuGoScorer, MatchSettings, play_game


def _localize(spec: EngineSpec, files: dict[str, tuple[str, list]]) -> EngineSpec:
    """``spec`` with its checkpoint path pointing at a file on this node."""
    path = spec.params.get("checkpoint") if spec.kind == "gozero" else None
    if not path or path not in files or Path(path).is_file():
        return spec
    local = fetch_shipped(files[path], ".pt")
    argv = tuple(str(local) if a == path else a for a in spec.argv)
    return dataclasses.replace(spec, argv=argv, params={**spec.params, "checkpoint": str(local)})


def play_remote_game(black: EngineSpec, white: EngineSpec, settings: MatchSettings, index: int, seed: int,
                     use_scorer: bool, game_info: str, files: dict) -> tuple[GameOutcome, str]:
    """One game on this node; the outcome and its SGF text (the caller writes the file)."""
    from .engines import find_gnugo

    gnugo = find_gnugo() if use_scorer else None
    scorer = GnuGoScorer(gnugo, timeout=max(60.0, settings.move_timeout)) if gnugo else None
    with tempfile.TemporaryDirectory(prefix="gozero-game-") as scratch:
        out = play_game(_localize(black, files), _localize(white, files), settings, index=index, seed=seed,
                        scorer=scorer, sgf_path=Path(scratch) / "game.sgf", game_info=game_info)
        text = Path(out.sgf).read_text() if out.sgf else ""
    out.sgf = ""
    return out, text


class ClusterGames:
    """The match runner's pool when ``--cluster`` is given: submit a game, get its outcome."""

    def __init__(self, cluster: str, specs: list[EngineSpec], settings: MatchSettings, use_scorer: bool,
                 game_info: str, sgf_dir: Path):
        self.executor = ClusterExecutor(cluster, num_cpus=1.0)
        self.settings = settings
        self.use_scorer = use_scorer
        self.info = game_info
        self.sgf_dir = Path(sgf_dir)
        self.files: dict[str, tuple[str, list]] = {}
        for spec in specs:
            path = spec.params.get("checkpoint") if spec.kind == "gozero" else None
            if path and path not in self.files and Path(path).is_file():
                self.files[path] = ship_file(path)

    @property
    def slots(self) -> int:
        return self.executor.slots

    def submit(self, index: int, black: EngineSpec, white: EngineSpec, seed: int) -> Future:
        return self.executor.submit(play_remote_game, black, white, self.settings, index, seed, self.use_scorer,
                                    self.info, self.files)

    def outcome(self, fut: Future) -> GameOutcome:
        """The finished game, its SGF written here (``game_NNNN.sgf``, as a local match names it)."""
        out, text = fut.result()
        if text and out.status != "interrupted":
            path = self.sgf_dir / f"game_{out.index:04d}.sgf"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            out.sgf = str(path)
        return out

    def __enter__(self) -> ClusterGames:
        return self

    def __exit__(self, exc_type, *rest) -> None:
        self.executor.shutdown(cancel_futures=exc_type is not None)
