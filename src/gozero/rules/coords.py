"""Coordinate conversions in one place: flat index, (row, col), GTP vertex, SGF point.

Conventions: a board of size N has points ``0 .. N*N-1`` numbered row by row from the
top-left; ``row`` 0 is the top line (GTP row N), ``col`` 0 is column A. The flat index
``N*N`` is pass. GTP vertices skip the letter I (``A..T``); SGF points are two lowercase
letters column-then-row from the top-left (``dd``), and ``""`` or ``tt`` (boards <= 19)
mean pass in SGF.
"""

from __future__ import annotations

GTP_COLUMNS = "ABCDEFGHJKLMNOPQRSTUVWXYZ"


class CoordError(ValueError):
    """A coordinate that does not name a point of the board."""


def pass_move(size: int) -> int:
    return size * size


def to_flat(row: int, col: int, size: int) -> int:
    if not (0 <= row < size and 0 <= col < size):
        raise CoordError(f"({row}, {col}) is off a {size}x{size} board")
    return row * size + col


def from_flat(move: int, size: int) -> tuple[int, int] | None:
    """(row, col) of a point, or None for pass."""
    if move == size * size:
        return None
    if not 0 <= move < size * size:
        raise CoordError(f"index {move} is off a {size}x{size} board")
    return divmod(move, size)


def to_gtp(move: int, size: int) -> str:
    rc = from_flat(move, size)
    if rc is None:
        return "pass"
    row, col = rc
    return f"{GTP_COLUMNS[col]}{size - row}"


def is_gtp_vertex(vertex: str) -> bool:
    """Whether ``vertex`` is written as a GTP vertex (``pass``, or a column letter A..Z
    without I and ASCII digits), on a board of any size."""
    v = vertex.strip().upper()
    return v == "PASS" or (len(v) >= 2 and v[0] in GTP_COLUMNS and v[1:].isascii() and v[1:].isdigit())


def from_gtp(vertex: str, size: int) -> int:
    """Flat index of a GTP vertex such as ``D4`` or ``pass`` (case-insensitive)."""
    v = vertex.strip().upper()
    if v == "PASS":
        return size * size
    if not is_gtp_vertex(v):
        raise CoordError(f"invalid vertex {vertex!r}")
    col = GTP_COLUMNS.index(v[0])
    row = size - int(v[1:])
    if not (0 <= row < size and 0 <= col < size):
        raise CoordError(f"vertex {vertex!r} is off a {size}x{size} board")
    return row * size + col


def to_sgf(move: int, size: int) -> str:
    rc = from_flat(move, size)
    if rc is None:
        return ""
    row, col = rc
    return chr(ord("a") + col) + chr(ord("a") + row)


def from_sgf(point: str, size: int) -> int:
    if point == "" or (point == "tt" and size <= 19):
        return size * size
    if len(point) != 2 or not point.isalpha():
        raise CoordError(f"invalid SGF point {point!r}")
    col = ord(point[0].lower()) - ord("a")
    row = ord(point[1].lower()) - ord("a")
    return to_flat(row, col, size)
