"""Game collections for supervised learning: GNU Go plays itself, each game saved as SGF.

`generate_games` starts two GNU Go processes per game (``--mode gtp --chinese-rules
--level L``, each with its own random seed ``-r``), relays the moves between them through a
`gozero.rules.Game` (colours alternate between the two seeds game by game) and writes
``game_NNNNN.sgf`` with the result by gozero's area scoring after removing the stones GNU Go
calls dead (``final_status_list dead``). Files already present are kept, so an interrupted
run resumes where it stopped. Games run in parallel threads (each engine is a process).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gozero.eval.gtp_client import EngineError, GTPProcess
from gozero.rules import BLACK, Game, Rules
from gozero.rules.coords import CoordError, from_gtp, to_gtp
from gozero.rules.game import IllegalMove
from gozero.rules.sgf import game_to_sgf

DEFAULT_GNUGO = "/usr/games/gnugo"


@dataclass
class GeneratedGame:
    """One finished game: where it was written, its length and result."""

    path: Path
    moves: int
    result: str
    two_passes: bool


def find_gnugo(path: str | None = None) -> str:
    """The GNU Go binary: ``path`` (which must exist), else ``gnugo`` on PATH, else /usr/games/gnugo."""
    if path is not None:
        if not Path(path).exists():
            raise FileNotFoundError(f"GNU Go not found at {path}")
        return path
    for cand in (shutil.which("gnugo"), DEFAULT_GNUGO):
        if cand and Path(cand).exists():
            return cand
    raise FileNotFoundError(f"GNU Go not found ({path or 'gnugo on PATH'}, {DEFAULT_GNUGO}); "
                            "install it with apt-get install gnugo")


def _engine(gnugo: str, level: int, seed: int, size: int, komi: float, timeout: float) -> GTPProcess:
    proc = GTPProcess([gnugo, "--mode", "gtp", "--chinese-rules", "--level", str(level), "-r", str(seed)],
                      label=f"gnugo-r{seed}", timeout=timeout)
    proc.command(f"boardsize {size}")
    proc.command(f"komi {komi:g}")
    proc.command("clear_board")
    return proc


def play_game(index: int, size: int, level: int, komi: float = 7.5, gnugo: str | None = None,
              seed: int = 0, max_moves: int | None = None, timeout: float = 60.0) -> tuple[Game, str]:
    """Play game ``index``: GNU Go (seed ``seed + 2 index``) against GNU Go (the next seed),
    the first of the two black in even games. Returns the game and its SGF result."""
    if not 5 <= size <= 19:
        raise ValueError(f"GNU Go plays boards of 5..19, not {size}")
    gnugo = find_gnugo(gnugo)
    seeds = (seed + 2 * index + 1, seed + 2 * index + 2)  # -r 0 would mean "no seed"
    if index % 2:
        seeds = seeds[::-1]
    max_moves = max_moves or 4 * size * size
    game = Game(size, Rules(komi=komi, ko="positional", suicide=False))
    engines = {}
    try:
        engines[BLACK] = _engine(gnugo, level, seeds[0], size, komi, timeout)
        engines[3 - BLACK] = _engine(gnugo, level, seeds[1], size, komi, timeout)
        result = ""
        while not game.is_over and len(game.moves) < max_moves:
            color = game.to_move
            letter = "b" if color == BLACK else "w"
            reply = engines[color].command(f"genmove {letter}").strip()
            if reply.lower() == "resign":
                result = ("W" if color == BLACK else "B") + "+R"
                break
            try:
                move = from_gtp(reply, size)
                game.play(move)
            except (CoordError, IllegalMove) as exc:
                # GNU Go's ko rule is not positional superko: the move is illegal here.
                raise IllegalMove(f"GNU Go's {reply!r} is illegal under positional superko: {exc}") from None
            engines[3 - color].command(f"play {letter} {to_gtp(move, size)}")
        if not result:
            dead = np.zeros(size * size, np.bool_)
            for line in engines[BLACK].command("final_status_list dead").split("\n"):
                for vertex in line.split():
                    dead[from_gtp(vertex, size)] = True
            result = game.result_string(dead)
        return game, result
    finally:
        for proc in engines.values():
            proc.close()


def generate_games(out_dir: str | Path, games: int, size: int = 9, level: int = 0, komi: float = 7.5,
                   parallel: int = 1, seed: int = 0, gnugo: str | None = None,
                   log: Callable[[str], None] = print) -> list[GeneratedGame]:
    """Write ``games`` GNU Go self-play games as ``OUT/game_NNNNN.sgf`` (existing files are
    kept and counted). Games whose moves gozero's rules refuse are replaced by new seeds."""
    if games < 1 or parallel < 1:
        raise ValueError("games and parallel must be positive")
    if not 0 <= level <= 10:
        raise ValueError(f"GNU Go levels are 0..10, not {level}")
    gnugo = find_gnugo(gnugo)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    todo = [i for i in range(games) if not (out / f"game_{i:05d}.sgf").exists()]
    if len(todo) < games:
        log(f"{games - len(todo)} games already in {out}")
    written: list[GeneratedGame] = []

    def one(i: int) -> GeneratedGame:
        attempt = 0
        while True:
            # a refused game retries with seeds far from every other game's
            index = i if attempt == 0 else games + i * 97 + attempt
            try:
                g, result = play_game(index, size, level, komi, gnugo, seed)
                break
            except IllegalMove as exc:
                attempt += 1
                if attempt > 5:
                    raise RuntimeError(f"game {i}: {exc} (5 retries)") from None
        path = out / f"game_{i:05d}.sgf"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(game_to_sgf(g, black=f"GNU Go level {level}", white=f"GNU Go level {level}",
                                   result=result, rules="Chinese"))
        tmp.replace(path)
        return GeneratedGame(path, len(g.moves), result, g.is_over)

    with ThreadPoolExecutor(max_workers=parallel) as pool:
        futures = [pool.submit(one, i) for i in todo]
        for fut in as_completed(futures):
            try:
                written.append(fut.result())
            except (EngineError, RuntimeError) as exc:
                log(f"game failed: {exc}")
            if written and len(written) % 50 == 0:
                log(f"{len(written)}/{len(todo)} games")
    return sorted(written, key=lambda g: g.path.name)


__all__ = ["GeneratedGame", "find_gnugo", "generate_games", "play_game"]
