"""Read and write Go game records in SGF (FF[4]) with sgfmill.

`load_sgf` turns the main line of an SGF record (size, komi, handicap and setup stones,
moves, result, players, rules) into a replayed `Game`; `game_to_sgf` writes a `Game` back.
Anything malformed or unsupported raises `SgfError`, whose message says what went wrong and
where (a line/column for syntax, a node or move number for content), e.g.
``move 37 (B at dd): illegal move: point occupied``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sgfmill import sgf, sgf_grammar

from . import kernels as K
from .coords import to_sgf
from .game import MAX_SIZE, MIN_SIZE, Game, IllegalMove, Rules

COLOR_LETTER = {K.BLACK: "B", K.WHITE: "W"}
LETTER_COLOR = {"B": K.BLACK, "W": K.WHITE}

# SGF RU values -> our rule options (scoring is always area; these set ko and suicide).
RULESETS: dict[str, dict[str, object]] = {
    "chinese": {"ko": "positional", "suicide": False},
    "tromp-taylor": {"ko": "positional", "suicide": True},
    "tromp taylor": {"ko": "positional", "suicide": True},
    "tt": {"ko": "positional", "suicide": True},
    "nz": {"ko": "positional", "suicide": True},
    "new zealand": {"ko": "positional", "suicide": True},
    "aga": {"ko": "situational", "suicide": False},
    "japanese": {"ko": "simple", "suicide": False},
    "korean": {"ko": "simple", "suicide": False},
}


class SgfError(ValueError):
    """A malformed or unsupported SGF record; the message names what and where."""


@dataclass
class SgfGame:
    """A loaded SGF record: the replayed main line plus the root's metadata."""

    game: Game
    size: int
    komi: float
    handicap: int = 0
    black: str | None = None
    white: str | None = None
    result: str | None = None
    rules: str | None = None  # the RU text as written, e.g. "Chinese"
    comment: str | None = None  # root C[]
    setup: list[tuple[int, int]] = field(default_factory=list)  # (colour, point)
    moves: list[tuple[int, int]] = field(default_factory=list)  # (colour, move), NN = pass
    first_to_move: int = K.BLACK
    has_komi: bool = True  # False when the record has no KM (komi is then the default)

    def game_before(self, move_number: int | None = None) -> Game:
        """The game replayed up to the position *before* ``move_number`` (1-based, as GTP
        ``loadsgf FILE N`` means); None or a number past the end gives the whole record."""
        return replay(self, None if move_number is None else move_number - 1)


def _location(data: bytes, offset: int) -> str:
    line = data.count(b"\n", 0, offset) + 1
    col = offset - (data.rfind(b"\n", 0, offset) + 1) + 1
    return f"line {line}, column {col}"


def _parse(data: bytes) -> sgf.Sgf_game:
    try:
        return sgf.Sgf_game.from_bytes(data)
    except ValueError as exc:
        msg = str(exc)
        if msg.startswith("bad SZ") or msg.startswith("size out of range"):
            raise SgfError(f"root node: unsupported board size ({msg}); only square boards "
                           f"{MIN_SIZE}..{MAX_SIZE} are supported") from None
        _, end = sgf_grammar.tokenise(data, 0)
        where = _location(data, end) if end else "start of data"
        raise SgfError(f"SGF syntax error at {where}: {msg or 'cannot parse'}") from None


def _text(node: sgf.Tree_node, ident: str) -> str | None:
    if not node.has_property(ident):
        return None
    try:
        value = node.get(ident)
    except ValueError as exc:
        raise SgfError(f"root node: bad {ident} property: {exc}") from None
    return value if isinstance(value, str) else str(value)


def _raw(node: sgf.Tree_node, ident: str) -> str:
    try:
        return node.get_raw(ident).decode("utf-8", "replace")
    except (KeyError, ValueError):
        return "?"


def _flat(point: tuple[int, int], size: int) -> int:
    """sgfmill (row from the bottom, col) -> our flat index (row 0 at the top)."""
    row, col = point
    return (size - 1 - row) * size + col


def illegal_reason(game: Game, move: int, color: int) -> str:
    """Why ``move`` by ``color`` is illegal in ``game``: occupied, ko, suicide or superko."""
    pos = game.position
    nn = pos.geo.nn
    if not 0 <= move <= nn:
        return "off the board"
    if move == nn:
        return "pass refused"
    if pos.stones[move] != K.EMPTY:
        return "point occupied"
    if color == pos.to_move and move == pos.ko_point:
        return "ko"
    probe = pos.copy()
    probe.to_move = color
    if K.play(probe.ints, probe.bits, probe.geo.nbr, probe.geo.zob, int(move)) < 0 and not game.rules.suicide:
        return "suicide"
    if game.rules.ko == "simple":
        return "ko"
    return "superko (repeats an earlier position)"


def rules_from_name(name: str | None, komi: float) -> Rules:
    """Our `Rules` for an SGF RU value (unknown or missing names get the defaults)."""
    opts = RULESETS.get((name or "").strip().lower(), {})
    return Rules(komi=komi, **opts)  # type: ignore[arg-type]


def rules_name(rules: Rules) -> str:
    """An SGF RU value describing ``rules``."""
    if rules.suicide:
        return "Tromp-Taylor"
    return {"positional": "Chinese", "situational": "AGA", "simple": "Japanese"}[rules.ko]


def load_sgf(data: str | bytes, move_number: int | None = None) -> SgfGame:
    """Parse an SGF record and replay its main line.

    With ``move_number`` (GTP ``loadsgf FILE N`` style) ``.game`` is the position before
    that move; the whole record is still checked. Raises `SgfError`.
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    if not isinstance(data, bytes | bytearray):
        raise SgfError(f"SGF data must be str or bytes, not {type(data).__name__}")
    tree = _parse(bytes(data))
    root = tree.get_root()
    if root.has_property("GM") and _raw(root, "GM").strip() != "1":
        raise SgfError(f"root node: GM[{_raw(root, 'GM')}] is not Go (GM[1])")
    size = tree.get_size()
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise SgfError(f"root node: board size {size} is outside {MIN_SIZE}..{MAX_SIZE}")
    has_komi = root.has_property("KM")
    try:
        komi = float(tree.get_komi()) if has_komi else Rules().komi
    except ValueError:
        raise SgfError(f"root node: bad komi KM[{_raw(root, 'KM')}]") from None
    if not np.isfinite(komi):
        raise SgfError(f"root node: bad komi KM[{_raw(root, 'KM')}]")
    handicap = 0
    if root.has_property("HA"):
        try:
            handicap = int(_raw(root, "HA").strip() or 0)
        except ValueError:
            raise SgfError(f"root node: bad handicap HA[{_raw(root, 'HA')}]") from None
        if handicap < 0 or handicap >= size * size:
            raise SgfError(f"root node: handicap HA[{handicap}] is out of range")
    ru = _text(root, "RU")
    out = SgfGame(game=Game(size, rules_from_name(ru, komi)), size=size, komi=komi, handicap=handicap,
                  black=_text(root, "PB"), white=_text(root, "PW"), result=_text(root, "RE"), rules=ru,
                  comment=_text(root, "C"), has_komi=has_komi)

    # Setup stones are accepted in the root and in nodes before the first move.
    sequence = tree.get_main_sequence()
    moved = False
    for index, node in enumerate(sequence):
        where = "root node" if index == 0 else f"node {index}"
        for ident, color in (("AB", K.BLACK), ("AW", K.WHITE)):
            if not node.has_property(ident):
                continue
            if moved:
                raise SgfError(f"{where}: setup stones ({ident}) after the first move are not supported")
            try:
                points = node.get(ident)
            except (ValueError, IndexError):
                raise SgfError(f"{where}: bad point list {ident}[{_raw(node, ident)}]") from None
            for point in sorted(points, key=lambda p: (-p[0], p[1])):
                out.setup.append((color, _flat(point, size)))
        if node.has_property("AE") and (index > 0 or moved):
            raise SgfError(f"{where}: AE (remove stones) is not supported")
        if node.has_property("B") or node.has_property("W"):
            moved = True
            if node.has_property("B") and node.has_property("W"):
                raise SgfError(f"{where}: both B and W in one node")
        if node.has_property("PL") and not moved:
            pl = _raw(node, "PL").strip().upper()[:1]
            if pl not in LETTER_COLOR:
                raise SgfError(f"{where}: bad PL[{_raw(node, 'PL')}]")
            out.first_to_move = LETTER_COLOR[pl]

    nn = size * size
    for index, node in enumerate(sequence):
        ident = "B" if node.has_property("B") else "W" if node.has_property("W") else None
        if ident is None:
            continue
        n = len(out.moves) + 1
        raw = _raw(node, ident)
        try:
            _, point = node.get_move()
        except (ValueError, IndexError):
            raise SgfError(f"move {n} ({ident} at {raw}): not a point of the {size}x{size} board "
                           f"(node {index})") from None
        out.moves.append((LETTER_COLOR[ident], nn if point is None else _flat(point, size)))
    if out.moves:
        out.first_to_move = out.moves[0][0]
    elif handicap >= 2 and out.setup and not sequence[0].has_property("PL"):
        out.first_to_move = K.WHITE

    out.game = replay(out)
    if move_number is not None:
        if move_number < 1:
            raise SgfError(f"move number {move_number} must be 1 or more")
        out.game = replay(out, move_number - 1)
    return out


def replay(record: SgfGame, n_moves: int | None = None) -> Game:
    """A fresh `Game` with the record's setup stones and its first ``n_moves`` moves
    (all when None). Raises `SgfError` naming the first bad move."""
    game = Game(record.size, rules_from_name(record.rules, record.komi))
    for color, point in record.setup:
        try:
            game.place_setup(color, point)
        except IllegalMove as exc:
            raise SgfError(f"setup stone {COLOR_LETTER[color]} at {to_sgf(point, record.size)}: {exc}") from None
    game.handicap = record.handicap
    if game.to_move != record.first_to_move:
        game.position.to_move = record.first_to_move
    moves = record.moves if n_moves is None else record.moves[: max(0, n_moves)]
    for n, (color, move) in enumerate(moves, start=1):
        try:
            game.play(move, color)
        except IllegalMove:
            reason = illegal_reason(game, move, color)
            point = to_sgf(move, record.size) or "pass"
            raise SgfError(f"move {n} ({COLOR_LETTER[color]} at {point}): illegal move: {reason}") from None
    return game


def read_sgf_file(path: str | Path, move_number: int | None = None) -> SgfGame:
    """`load_sgf` of a file; an unreadable file is an `SgfError` too."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise SgfError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        return load_sgf(data, move_number)
    except SgfError as exc:
        raise SgfError(f"{path}: {exc}") from None


def game_to_sgf(game: Game, black: str | None = None, white: str | None = None, result: str | None = None,
                comment: str | None = None, rules: str | None = None, move_comments: dict[int, str] | None = None,
                extra: dict[str, str] | None = None) -> str:
    """SGF text of ``game``: size, komi, rules, handicap/setup stones, players, result and moves.

    ``result`` defaults to the Tromp-Taylor result when the game is over (two passes).
    ``move_comments`` maps 1-based move numbers to a C[] comment on that move's node;
    ``extra`` adds root properties (two upper-case letters each, e.g. ``{"DT": "2024-05-01"}``).
    """
    from gozero import __version__

    size = game.size
    tree = sgf.Sgf_game(size)
    root = tree.get_root()
    root.set("FF", 4)
    root.set("GM", 1)
    root.set("CA", "UTF-8")
    root.set("AP", ("gozero", __version__))
    root.set("KM", float(game.rules.komi))
    root.set("RU", rules or rules_name(game.rules))
    if game.handicap >= 2:
        root.set("HA", int(game.handicap))

    def rc(point: int) -> tuple[int, int]:
        row, col = divmod(point, size)
        return size - 1 - row, col

    for color, ident in ((K.BLACK, "AB"), (K.WHITE, "AW")):
        points = {rc(p) for c, p in game.setup if c == color}
        if points:
            root.set(ident, points)
    if game.setup and not game.moves and game.to_move == K.WHITE:
        root.set("PL", "w")
    if black:
        root.set("PB", black)
    if white:
        root.set("PW", white)
    if result is None and game.is_over:
        result = game.result_string()
    if result:
        root.set("RE", result)
    if comment:
        root.set("C", comment)
    for ident, value in (extra or {}).items():
        if not ident.isalpha() or not ident.isupper() or len(ident) > 8:
            raise ValueError(f"bad SGF property name {ident!r}")
        root.set_raw(ident, sgf_grammar.escape_text(str(value).encode("utf-8")))
    nn = size * size
    for n, (color, move) in enumerate(game.moves, start=1):
        node = tree.extend_main_sequence()
        node.set_move(COLOR_LETTER[color].lower(), None if move == nn else rc(move))
        if move_comments and n in move_comments:
            node.set("C", move_comments[n])
    return tree.serialise(wrap=None).decode("utf-8")


__all__ = ["SgfError", "SgfGame", "game_to_sgf", "illegal_reason", "load_sgf", "read_sgf_file", "replay",
           "rules_from_name", "rules_name"]
