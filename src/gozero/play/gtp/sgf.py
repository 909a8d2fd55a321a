"""GTP game records: ``loadsgf FILE [N]`` and ``printsgf [FILE]``.

A loaded record keeps its size, setup stones, moves, komi (the session's when it has none)
and its ko and suicide rules; the session's way of counting (``scoring``) stays.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

from gozero.rules import BLACK, WHITE
from gozero.rules.sgf import SgfError, game_to_sgf, read_sgf_file

from .protocol import GtpError
from .state import GtpState

log = logging.getLogger("gozero.gtp")


class SgfCommands:
    """Reading and writing SGF."""

    def __init__(self, state: GtpState, name: str, version: str):
        self.state, self.name, self.version = state, name, version

    def cmd_loadsgf(self, file: str, move_number: int | None = None) -> str:
        s = self.state
        if move_number is not None and move_number < 1:
            raise GtpError("syntax error", f"move number {move_number} is below 1")
        try:
            record = read_sgf_file(file, move_number)
        except SgfError as exc:  # the reader's message, e.g. "cannot load file: node 5: move 4 (W at ee): ..."
            raise GtpError(f"cannot load file: {str(exc).removeprefix(file + ': ')}") from None
        if s.player_sizes is not None and record.size not in s.player_sizes:
            raise GtpError(f"cannot load file: the player does not play {record.size}x{record.size}")
        for warning in record.warnings:  # what was read leniently (a second game, a missing ')', ...)
            log.warning("loadsgf: %s", warning)
        game = record.game
        komi = record.komi if record.has_komi else s.rules.komi
        game.rules = dataclasses.replace(game.rules, komi=komi, scoring=s.rules.scoring)
        s.set_komi(komi)
        s.size, s.game = record.size, game
        s.time.reset()
        s.engine_colors.clear()
        return ""

    def cmd_printsgf(self, file: str | None = None) -> str:
        s = self.state
        names = {c: (f"{self.name} {self.version}" if c in s.engine_colors else None) for c in (BLACK, WHITE)}
        result = s.game.result_string(s.dead_mask()) if s.game.is_over else None
        text = game_to_sgf(s.game, black=names[BLACK], white=names[WHITE], result=result)
        if file is not None:
            try:
                Path(file).write_text(text, encoding="utf-8")
            except OSError as exc:
                raise GtpError(f"cannot save file: {exc.strerror or exc}") from None
            return ""
        lines = [line for line in text.splitlines() if line.strip()]
        return "\n" + "\n".join(lines)
