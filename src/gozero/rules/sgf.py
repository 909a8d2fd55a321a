"""Read and write Go game records in SGF (FF[4]) with sgfmill.

`load_sgf` turns the main line of an SGF record (size, komi, handicap and setup stones,
moves, result, players, rules) into a replayed `Game`; `game_to_sgf` writes a `Game` back.
Reading accepts what real files hold (AE, setup stones after the first move, a missing
final ``)``, ``tt`` passes, several games in one file) and notes each leniency in
``SgfGame.warnings``. Anything malformed or illegal raises `SgfError`, whose message says
what went wrong and where (a line/column for syntax, the node and move number for content),
e.g. ``node 37: move 36 (B at dd): illegal move: point occupied``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sgfmill import sgf, sgf_grammar

from . import kernels as K
from .coords import to_sgf
from .game import MAX_SIZE, MIN_SIZE, Game, IllegalMove, Rules, geometry

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


@dataclass(frozen=True)
class SetupEdit:
    """Setup properties in a node after the first move (review files): stones added for
    black (AB) and white (AW), points cleared (AE), and the side to move (PL) if given.
    ``moves_before`` is how many moves of the record precede it."""

    node: int
    moves_before: int
    black: tuple[int, ...] = ()
    white: tuple[int, ...] = ()
    empty: tuple[int, ...] = ()
    to_move: int | None = None


@dataclass
class SgfGame:
    """A loaded SGF record: the replayed main line plus the root's metadata.

    ``moves`` holds every move of the main line; ``edits`` the setup nodes that come after
    the first move. A game with edits is replayed from the position of its last edit (its
    ``Game.setup`` is that position, its ``Game.moves`` the moves after it), as a review
    file that sets up stones mid-game means. ``warnings`` says what was read leniently
    (a missing closing parenthesis, further games in the file, mid-game setup).
    """

    game: Game
    size: int
    komi: float
    handicap: int = 0
    black: str | None = None
    white: str | None = None
    result: str | None = None
    rules: str | None = None  # the RU text as written, e.g. "Chinese"
    comment: str | None = None  # root C[]
    setup: list[tuple[int, int]] = field(default_factory=list)  # (colour, point) before the first move
    moves: list[tuple[int, int]] = field(default_factory=list)  # (colour, move), NN = pass
    first_to_move: int = K.BLACK
    has_komi: bool = True  # False when the record has no KM (komi is then the default)
    edits: list[SetupEdit] = field(default_factory=list)
    move_nodes: list[int] = field(default_factory=list)  # node number of each move
    warnings: list[str] = field(default_factory=list)

    def game_before(self, move_number: int | None = None) -> Game:
        """The game replayed up to the position *before* ``move_number`` (1-based, as GTP
        ``loadsgf FILE N`` means); None or a number past the end gives the whole record."""
        return replay(self, None if move_number is None else move_number - 1)


def _location(data: bytes, offset: int) -> str:
    line = data.count(b"\n", 0, offset) + 1
    col = offset - (data.rfind(b"\n", 0, offset) + 1) + 1
    return f"line {line}, column {col}"


def _count_games(data: bytes, position: int) -> int:
    """How many further game trees start at or after ``position``."""
    count = 0
    while True:
        tokens, end = sgf_grammar.tokenise(data, position)
        if not tokens or end <= position:
            return count
        count += 1
        position = end


def _parse(data: bytes, warnings: list[str]) -> sgf.Sgf_game:
    tokens, end = sgf_grammar.tokenise(data, 0)
    depth = sum(1 if t == b"(" else -1 for kind, t in tokens if kind == "D" and t in b"()")
    if tokens and depth > 0 and not data[end:].strip():
        # a record cut short of its closing parentheses (common in hand-edited and
        # truncated downloads): read it as if they were there
        data = data + b")" * depth
        warnings.append(f"the record ends without its closing ')' ({depth} missing); read as if closed")
    elif tokens and depth == 0:
        others = _count_games(data, end)
        if others:
            warnings.append(f"the file holds {others + 1} games; only the first is read")
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


def _setup_points(node: sgf.Tree_node, where: str, size: int) -> dict[str, list[int]]:
    """The AB, AW and AE points of a node (flat, sorted); a point named twice is an error."""
    out: dict[str, list[int]] = {}
    seen: dict[int, str] = {}
    for ident in ("AB", "AW", "AE"):
        if not node.has_property(ident):
            continue
        try:
            points = node.get(ident)
        except (ValueError, IndexError):
            raise SgfError(f"{where}: bad point list {ident}[{_raw(node, ident)}]") from None
        flat = sorted(_flat(p, size) for p in points)
        for p in flat:
            if p in seen:
                what = {"AB": "setup stone B", "AW": "setup stone W", "AE": "AE"}[ident]
                raise SgfError(f"{where}: {what} at {to_sgf(p, size)}: the point is also in {seen[p]} "
                               f"of the same node")
            seen[p] = ident
        out[ident] = flat
    return out


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


def _player(node: sgf.Tree_node, where: str) -> int:
    pl = _raw(node, "PL").strip().upper()[:1]
    if pl not in LETTER_COLOR:
        raise SgfError(f"{where}: bad PL[{_raw(node, 'PL')}]")
    return LETTER_COLOR[pl]


def load_sgf(data: str | bytes, move_number: int | None = None) -> SgfGame:
    """Parse an SGF record and replay its main line.

    Accepts what real files hold: AE, setup stones after the first move, a missing final
    ``)``, pass as ``tt`` (boards up to 19x19) and several games in one file (the first is
    read); each leniency leaves a line in ``.warnings``. With ``move_number`` (GTP
    ``loadsgf FILE N`` style) ``.game`` is the position before that move; the whole record
    is still checked. Raises `SgfError` naming the node, the move and the reason.
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    if not isinstance(data, bytes | bytearray):
        raise SgfError(f"SGF data must be str or bytes, not {type(data).__name__}")
    warnings: list[str] = []
    tree = _parse(bytes(data), warnings)
    root = tree.get_root()
    if root.has_property("GM") and _raw(root, "GM").strip() != "1":
        raise SgfError(f"root node: GM[{_raw(root, 'GM')}] is not Go (GM[1])")
    size = tree.get_size()
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise SgfError(f"root node: board size {size} is outside {MIN_SIZE}..{MAX_SIZE}")
    has_komi = root.has_property("KM") and bool(_raw(root, "KM").strip())
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
                  comment=_text(root, "C"), has_komi=has_komi, warnings=warnings)

    nn = size * size
    initial: dict[int, int] = {}  # point -> colour, the setup before the first move
    initial_pl: int | None = None
    for index, node in enumerate(tree.get_main_sequence()):
        where = "root node" if index == 0 else f"node {index}"
        points = _setup_points(node, where, size)
        ident = "B" if node.has_property("B") else "W" if node.has_property("W") else None
        if node.has_property("B") and node.has_property("W"):
            raise SgfError(f"{where}: both B and W in one node")
        player = _player(node, where) if node.has_property("PL") else None
        if not out.moves:
            for p in points.get("AE", ()):
                initial.pop(p, None)
            for key, color in (("AB", K.BLACK), ("AW", K.WHITE)):
                for p in points.get(key, ()):
                    initial[p] = color
            if player is not None and ident is None:
                initial_pl = player
        elif points:  # a PL without setup stones changes nothing: moves carry their colour
            out.edits.append(SetupEdit(index, len(out.moves), tuple(points.get("AB", ())),
                                       tuple(points.get("AW", ())), tuple(points.get("AE", ())), player))
        if ident is None:
            continue
        n = len(out.moves) + 1
        raw = _raw(node, ident)
        try:
            _, point = node.get_move()
        except (ValueError, IndexError):
            raise SgfError(f"{where}: move {n} ({ident} at {raw}): not a point of the {size}x{size} board") from None
        out.moves.append((LETTER_COLOR[ident], nn if point is None else _flat(point, size)))
        out.move_nodes.append(index)
    out.setup = sorted(((c, p) for p, c in initial.items()), key=lambda cp: (cp[0], cp[1]))
    if initial_pl is not None:
        out.first_to_move = initial_pl
    if out.moves:
        out.first_to_move = out.moves[0][0]
    elif handicap >= 2 and out.setup and initial_pl is None:
        out.first_to_move = K.WHITE
    if out.edits:
        e = out.edits[-1]
        out.warnings.append(f"node {e.node}: setup stones after move {e.moves_before}; the game is replayed "
                            f"from that position (undo stops there)")

    out.game = replay(out)
    if move_number is not None:
        if move_number < 1:
            raise SgfError(f"move number {move_number} must be 1 or more")
        out.game = replay(out, move_number - 1)
    return out


def _without_liberties(stones: np.ndarray, size: int) -> list[list[int]]:
    """The strings of ``stones`` (flat colours) that have no liberty, each a sorted list."""
    nbr = geometry(size).nbr
    seen = np.zeros(stones.shape[0], np.bool_)
    dead: list[list[int]] = []
    for start in np.flatnonzero(stones):
        if seen[start]:
            continue
        color, group, stack, free = stones[start], [], [int(start)], False
        seen[start] = True
        while stack:
            p = stack.pop()
            group.append(p)
            for q in nbr[p]:
                if q < 0:
                    continue
                if stones[q] == K.EMPTY:
                    free = True
                elif stones[q] == color and not seen[q]:
                    seen[q] = True
                    stack.append(int(q))
        if not free:
            dead.append(sorted(group))
    return dead


def _apply_edit(game: Game, edit: SetupEdit, next_color: int | None) -> Game:
    """The game re-rooted at the position ``edit`` sets up (captures carried over)."""
    size = game.size
    stones = game.position.stones.copy()
    for points, color in ((edit.empty, K.EMPTY), (edit.black, K.BLACK), (edit.white, K.WHITE)):
        stones[np.asarray(points, np.intp)] = color
    to_move = edit.to_move or next_color or game.to_move
    if np.array_equal(stones, game.position.stones) and to_move == game.to_move:
        return game
    for group in _without_liberties(stones, size):
        points = ", ".join(to_sgf(p, size) for p in group)
        raise SgfError(f"node {edit.node}: setup leaves the {COLOR_LETTER[int(stones[group[0]])]} "
                       f"stone{'s' if len(group) > 1 else ''} at {points} without liberties")
    new = Game(size, game.rules)
    new.handicap = game.handicap
    for color in (K.BLACK, K.WHITE):
        for p in np.flatnonzero(stones == color):
            new.place_setup(color, int(p))
    sc = new.position.geo.scalars
    new.position.ints[sc + K.S_CAPS_B], new.position.ints[sc + K.S_CAPS_W] = game.position.captures
    new.position.to_move = to_move
    new._hist_len = 0
    new._record()
    return new


class Replay:
    """Replays a record: iterating yields ``(game, colour, move)`` before each move and plays
    the move when the loop resumes; setup edits are applied on the way (``game`` is then a
    new, re-rooted object) and `game` is the current game throughout, the final position
    once the loop ends. Raises `SgfError` naming the first bad move or setup."""

    def __init__(self, record: SgfGame, n_moves: int | None = None):
        self.record = record
        self.moves = record.moves if n_moves is None else record.moves[: max(0, n_moves)]
        self.game = Game(record.size, rules_from_name(record.rules, record.komi))
        for color, point in record.setup:
            try:
                self.game.place_setup(color, point)
            except IllegalMove as exc:
                raise SgfError(f"setup stone {COLOR_LETTER[color]} at {to_sgf(point, record.size)}: {exc}") from None
        self.game.handicap = record.handicap
        if self.game.to_move != record.first_to_move:
            self.game.position.to_move = record.first_to_move

    def __iter__(self) -> Iterator[tuple[Game, int, int]]:
        record, moves = self.record, self.moves
        edits = [e for e in record.edits if e.moves_before <= len(moves)]
        k = 0
        for n, (color, move) in enumerate(moves, start=1):
            while k < len(edits) and edits[k].moves_before < n:
                self.game = _apply_edit(self.game, edits[k], color)
                k += 1
            yield self.game, color, move
            try:
                self.game.play(move, color)
            except IllegalMove:
                reason = illegal_reason(self.game, move, color)
                point = to_sgf(move, record.size) or "pass"
                where = f"node {record.move_nodes[n - 1]}: " if n - 1 < len(record.move_nodes) else ""
                raise SgfError(f"{where}move {n} ({COLOR_LETTER[color]} at {point}): illegal move: {reason}") from None
        following = record.moves[len(moves)][0] if len(moves) < len(record.moves) else None
        for edit in edits[k:]:
            self.game = _apply_edit(self.game, edit, following)


def replay(record: SgfGame, n_moves: int | None = None) -> Game:
    """A fresh `Game` with the record's setup stones, its first ``n_moves`` moves (all when
    None) and the setup edits among them. Raises `SgfError` naming the first bad move."""
    run = Replay(record, n_moves)
    for _ in run:
        pass
    return run.game


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


__all__ = ["Replay", "SetupEdit", "SgfError", "SgfGame", "game_to_sgf", "illegal_reason", "load_sgf", "read_sgf_file",
           "replay", "rules_from_name", "rules_name"]
