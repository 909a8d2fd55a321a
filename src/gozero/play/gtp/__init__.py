"""The GTP version 2 engine: GUIs, referees and other engines talk to gozero through this.

`protocol` holds the protocol and its I/O (line cleaning, ids, dispatch over registered
handler objects with arguments converted from annotations, errors, streaming); the command
families live beside it: `board` (setup and play), `scoring`, `timing`, `analysis`, `sgf`.
`engine.GtpEngine` puts them together. Besides the GTP 2 spec it speaks GNU Go's
``list_stones``/``is_legal``/``all_legal``, KGS's time, rules and cleanup commands and the
Leela Zero / KataGo analysis extensions (``lz-analyze``, ``kata-analyze``,
``*-genmove_analyze``), which stream ``info`` lines until the next line arrives on stdin.
"""

from .board import free_handicap_points
from .engine import GtpEngine
from .protocol import Color, GtpError, GtpProtocol, clean_line, parse_color

__all__ = ["Color", "GtpEngine", "GtpError", "GtpProtocol", "clean_line", "free_handicap_points", "parse_color"]
