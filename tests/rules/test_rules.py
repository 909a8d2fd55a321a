"""Hand-made positions with known answers: captures, snapback, ko, superko, suicide, scoring,
handicap placement and the errors of the `Game` API."""

from __future__ import annotations

import numpy as np
import pytest

from gozero.rules import BLACK, EMPTY, WHITE, Game, IllegalMove, Position, Rules, fixed_handicap_points
from gozero.rules import kernels as K
from gozero.rules.coords import from_gtp, to_gtp


def setup_game(diagram: str, to_move: int = BLACK, rules: Rules | None = None) -> Game:
    """A game whose position is ``diagram`` (rows top to bottom, ``X`` black, ``O`` white)."""
    rows = [r.split() for r in diagram.strip().splitlines()]
    size = len(rows)
    assert all(len(r) == size for r in rows), "diagram must be square"
    game = Game(size, rules or Rules(komi=0.0))
    for r, row in enumerate(rows):
        for c, ch in enumerate(row):
            if ch in "XO":
                game.place_setup(BLACK if ch == "X" else WHITE, r * size + c)
    game.position.to_move = to_move
    game._hist_len = 0  # the position with its side to move is the first of the game
    game._record()
    return game


def pts(game: Game, *vertices: str) -> list[int]:
    return [from_gtp(v, game.size) for v in vertices]


def colors(game: Game, *vertices: str) -> list[int]:
    return [int(game.position.stones[p]) for p in pts(game, *vertices)]


def play(game: Game, *vertices: str) -> list[int]:
    """Play the vertices in turn; return what each move captured."""
    return [game.play_gtp(v) for v in vertices]


def assert_consistent(game: Game) -> None:
    """Incremental hash and liberties equal their from-scratch values."""
    pos, geo = game.position, game.position.geo
    assert pos.hash == int(K.full_hash(pos.ints, geo.nn, geo.zob))
    stones = pos.stones
    libs = pos.liberties()
    for p in np.flatnonzero(stones):
        group, frontier, liberties = {int(p)}, [int(p)], set()
        while frontier:
            q = frontier.pop()
            for m in geo.nbr[q]:
                if m < 0:
                    break
                if stones[m] == EMPTY:
                    liberties.add(int(m))
                elif stones[m] == stones[p] and int(m) not in group:
                    group.add(int(m))
                    frontier.append(int(m))
        assert libs[p] == len(liberties), f"liberties of {to_gtp(int(p), game.size)}"


# -- captures ---------------------------------------------------------------------------------

def test_corner_and_edge_captures() -> None:
    game = setup_game("""
        . . . . .
        . . . . .
        . . . . .
        X . X . .
        O . O X .""")
    assert play(game, "B1") == [2]  # one black stone takes the corner stone and the edge stone
    assert colors(game, "A1", "C1", "B1") == [EMPTY, EMPTY, BLACK]
    assert game.position.captures == (2, 0)
    assert_consistent(game)


def test_edge_capture_of_a_two_stone_group() -> None:
    game = setup_game("""
        . . . . .
        . . . . .
        . . . . .
        . X X . .
        X O O . .""", to_move=BLACK)
    assert play(game, "D1") == [2]
    assert colors(game, "B1", "C1") == [EMPTY, EMPTY]
    assert_consistent(game)


def test_capture_of_a_large_group() -> None:
    size = 9
    game = Game(size, Rules(komi=0.0))
    white = [(r, c) for r in range(2, 5) for c in range(2, 7)]
    ring = [(1, c) for c in range(2, 7)] + [(5, c) for c in range(2, 7)]
    ring += [(r, 1) for r in range(2, 5)] + [(r, 7) for r in range(2, 5)]
    last = ring.pop()
    for r, c in white:
        game.place_setup(WHITE, r * size + c)
    for r, c in ring:
        game.place_setup(BLACK, r * size + c)
    assert game.position.liberties()[2 * size + 2] == 1
    captured = game.play(last[0] * size + last[1])
    assert captured == 15
    stones = game.position.board()
    assert all(stones[r, c] == EMPTY for r, c in white)
    assert game.position.captures == (15, 0)
    assert_consistent(game)
    # the top side of the ring: 5 outside, 2 at its ends and now 5 inside
    assert game.position.liberties()[1 * size + 4] == 12


def test_snapback() -> None:
    game = setup_game("""
        . . X O .
        X X X O .
        O O O O .
        . . . . .
        . . . . .""", to_move=WHITE)
    assert play(game, "B5") == [0]  # the throw-in: black is now in atari too
    assert play(game, "A5") == [1]  # black takes one stone...
    assert game.position.ko_point == -1  # ...with a group of five, so this is no ko
    assert play(game, "B5") == [5]  # ...and white takes back five
    assert colors(game, "A5", "A4", "B4", "C4", "C5", "B5") == [EMPTY] * 5 + [WHITE]
    assert game.position.captures == (1, 5)
    assert_consistent(game)


# -- ko -----------------------------------------------------------------------------------------

KO = """
    . . . . .
    . X O . .
    X O . O .
    . X O . .
    . . . . ."""


def test_simple_ko_ban_and_release() -> None:
    game = setup_game(KO, rules=Rules(komi=0.0, ko="simple"))
    assert play(game, "C3") == [1]  # black takes the ko
    b3 = from_gtp("B3", 5)
    assert game.position.ko_point == b3
    assert not game.is_legal(b3)
    with pytest.raises(IllegalMove, match="B3"):
        game.play(b3)
    assert game.to_move == WHITE and colors(game, "B3", "C3") == [EMPTY, BLACK]  # unchanged by the refusal
    # the capturer itself may fill the ko point (a move out of turn)
    assert game.is_legal(b3, BLACK) and not game.is_legal(b3, WHITE)
    play(game, "E1", "E5")  # a ko threat and its answer elsewhere release the ban
    assert game.position.ko_point == -1
    assert play(game, "B3") == [1]
    assert game.position.ko_point == from_gtp("C3", 5)


def test_pass_releases_simple_ko() -> None:
    game = setup_game(KO, rules=Rules(komi=0.0, ko="simple"))
    play(game, "C3", "pass", "pass")
    assert game.is_legal(from_gtp("B3", 5))


def test_positional_superko_forbids_the_immediate_retake_after_passes() -> None:
    # after two passes the simple ko ban is gone, but retaking recreates a position
    game = setup_game(KO, rules=Rules(komi=0.0, ko="positional"))
    play(game, "C3", "pass", "pass")
    assert not game.is_legal(from_gtp("B3", 5))
    assert not game.legal_mask()[from_gtp("B3", 5)]


def ko_frame(game: Game, r: int, c: int, inside: int) -> tuple[int, int]:
    """A ko at rows r..r+2, columns c..c+3; return its points (left, right).

    ``inside`` WHITE puts a white stone on the left point (black takes at the right one),
    BLACK a black stone on the right point (white takes at the left one)."""
    n = game.size
    for dr, dc in ((0, 1), (1, 0), (2, 1)):
        game.place_setup(BLACK, (r + dr) * n + c + dc)
    for dr, dc in ((0, 2), (1, 3), (2, 2)):
        game.place_setup(WHITE, (r + dr) * n + c + dc)
    left, right = (r + 1) * n + c + 1, (r + 1) * n + c + 2
    game.place_setup(inside, left if inside == WHITE else right)
    return left, right


def triple_ko(ko: str) -> tuple[Game, list[int]]:
    game = Game(9, Rules(komi=0.0, ko=ko))
    l1, r1 = ko_frame(game, 0, 0, WHITE)
    l2, r2 = ko_frame(game, 0, 5, BLACK)
    l3, r3 = ko_frame(game, 4, 0, WHITE)
    # black takes ko 1, white ko 2, black ko 3, white ko 1, black ko 2, white ko 3
    return game, [r1, l2, r3, l1, r2, l3]


@pytest.mark.parametrize("ko", ["positional", "situational"])
def test_triple_ko_cycle_is_forbidden_by_superko(ko: str) -> None:
    game, cycle = triple_ko(ko)
    for move in cycle[:-1]:
        assert game.play(move) == 1
    assert not game.is_legal(cycle[-1])
    assert not game.legal_mask()[cycle[-1]]
    with pytest.raises(IllegalMove):
        game.play(cycle[-1])


def test_triple_ko_cycle_repeats_under_simple_ko() -> None:
    game, cycle = triple_ko("simple")
    start = game.position.stones.copy()
    for move in cycle:
        assert game.play(move) == 1
    assert np.array_equal(game.position.stones, start)
    assert_consistent(game)


SUICIDE = """
    X X O . .
    . O . . .
    O . . . .
    . . . . .
    . . . . ."""


def test_multi_stone_suicide_is_illegal_without_the_option() -> None:
    game = setup_game(SUICIDE)
    a4 = from_gtp("A4", 5)
    assert not game.is_legal(a4)
    assert not game.legal_mask()[a4]
    with pytest.raises(IllegalMove):
        game.play(a4)


def test_multi_stone_suicide_with_the_option() -> None:
    game = setup_game(SUICIDE, rules=Rules(komi=0.0, suicide=True))
    before = game.position.hash
    assert game.play_gtp("A4") == -3
    assert colors(game, "A5", "B5", "A4") == [EMPTY] * 3
    assert game.position.captures == (0, 3)
    assert game.to_move == WHITE
    assert game.position.hash != before
    assert_consistent(game)


def test_single_stone_suicide_separates_positional_from_situational() -> None:
    # a lone stone that kills itself leaves the board as it was, now with white to move
    diagram = """
        . X . . .
        X . . . .
        . . . . .
        . . . . .
        . . . . ."""
    diagram = diagram.replace("X", "O")
    a5 = from_gtp("A5", 5)
    positional = setup_game(diagram, rules=Rules(komi=0.0, ko="positional", suicide=True))
    situational = setup_game(diagram, rules=Rules(komi=0.0, ko="situational", suicide=True))
    simple = setup_game(diagram, rules=Rules(komi=0.0, ko="simple", suicide=True))
    assert not positional.is_legal(a5)  # the board repeats
    assert situational.is_legal(a5)  # but not with the same side to move
    assert simple.is_legal(a5)
    assert situational.play(a5) == -1
    assert situational.to_move == WHITE and colors(situational, "A5") == [EMPTY]


# -- scoring ------------------------------------------------------------------------------------

def test_empty_board_scores_minus_komi() -> None:
    assert Game(9, Rules(komi=7.5)).score() == -7.5


def test_seki_is_counted_the_tromp_taylor_way() -> None:
    # white C-column group and black E-column group share D5 and D1: seki
    game = setup_game("""
        . X O . X
        . X O O X
        . X O O X
        . X O O X
        . X O . X""", to_move=WHITE)
    d5, d1 = from_gtp("D5", 5), from_gtp("D1", 5)
    libs = game.position.liberties()
    assert libs[from_gtp("C3", 5)] == 2 and libs[from_gtp("E3", 5)] == 2
    score, owner = game.position.score(0.5)
    assert score == (10 + 5) - 8 - 0.5  # stones plus column A for black; D5, D1 neutral
    assert owner[d5] == owner[d1] == 0
    assert owner[from_gtp("A3", 5)] == BLACK
    assert game.result_string() == "B+7"


def test_score_with_dead_stones_removed() -> None:
    game = setup_game("""
        . . X O .
        . . X O .
        O . X O .
        . . X O .
        . . X O .""")
    assert game.score() == 5 - (5 + 5 + 1)  # the white stone at A3 spoils black's area
    dead = np.zeros(25, np.bool_)
    dead[from_gtp("A3", 5)] = True
    assert game.score(dead) == (5 + 10) - (5 + 5)
    assert game.result_string(dead) == "B+5"
    assert game.result_string() == "W+6"
    assert colors(game, "A3") == [WHITE]  # scoring does not touch the board


def test_jigo_result() -> None:
    game = setup_game("""
        . X O .
        . X O .
        . X O .
        . X O .""")
    assert game.result_string() == "0"


# -- handicap -----------------------------------------------------------------------------------

GTP_HANDICAP = {  # GTP 2 specification, section 4.1.1
    19: ["D4", "Q16", "D16", "Q4", "D10", "Q10", "K4", "K16", "K10"],
    13: ["D4", "K10", "D10", "K4", "D7", "K7", "G4", "G10", "G7"],
    9: ["C3", "G7", "C7", "G3", "C5", "G5", "E3", "E7", "E5"],
}


def gtp_table(size: int, n: int) -> set[str]:
    first = GTP_HANDICAP[size]
    corners, sides, mid_sides, centre = first[:4], first[4:6], first[6:8], first[8]
    table = {2: corners[:2], 3: corners[:3], 4: corners, 5: corners + [centre], 6: corners + sides,
             7: corners + sides + [centre], 8: corners + sides + mid_sides, 9: first}
    return set(table[n])


@pytest.mark.parametrize("size", [9, 13, 19])
@pytest.mark.parametrize("n", range(2, 10))
def test_fixed_handicap_matches_the_gtp_tables(size: int, n: int) -> None:
    points = fixed_handicap_points(size, n)
    assert len(points) == n
    assert {to_gtp(p, size) for p in points} == gtp_table(size, n)


def test_fixed_handicap_limits() -> None:
    with pytest.raises(ValueError, match="not defined"):
        fixed_handicap_points(5, 2)
    with pytest.raises(ValueError, match="between 2 and 4"):
        fixed_handicap_points(10, 5)
    with pytest.raises(ValueError, match="between 2 and 9"):
        fixed_handicap_points(19, 10)
    with pytest.raises(ValueError):
        fixed_handicap_points(19, 1)


# -- API errors and bookkeeping -------------------------------------------------------------------

def test_bad_input_gives_clear_errors() -> None:
    game = Game(9)
    with pytest.raises(ValueError, match="ko rule"):
        Rules(ko="japanese")
    with pytest.raises(ValueError, match="outside"):
        Game(1)
    with pytest.raises(ValueError, match="outside"):
        Game(20)
    with pytest.raises(IllegalMove, match="off the board"):
        game.play(82)
    with pytest.raises(IllegalMove, match="off the board"):
        game.play(-1)
    with pytest.raises(ValueError, match="colour"):
        game.play(0, color=3)
    game.play_gtp("E5")
    with pytest.raises(IllegalMove, match="E5"):
        game.play_gtp("E5")
    with pytest.raises(IndexError):
        Game(9).undo()
    with pytest.raises(ValueError, match="dead"):
        game.score(np.zeros(80, np.bool_))
    with pytest.raises(ValueError, match="ints of length"):
        Position(9, np.zeros(10, np.int32), np.zeros(10, np.uint64))


def test_setup_stones_that_capture_or_have_no_liberty_are_refused() -> None:
    game = setup_game("""
        . X . .
        X . . .
        . . . .
        . . . .""")
    before = (game.position.ints.copy(), game.position.bits.copy())
    with pytest.raises(IllegalMove, match="no liberties"):
        game.place_setup(WHITE, 0)
    assert np.array_equal(game.position.ints, before[0]) and np.array_equal(game.position.bits, before[1])
    game.place_setup(WHITE, 2)
    game.place_setup(WHITE, 5)
    with pytest.raises(IllegalMove, match="capture"):
        game.place_setup(WHITE, 0)
    game.play_gtp("D1")
    with pytest.raises(IllegalMove, match="before the first move"):
        game.place_setup(BLACK, 15)


def test_play_out_of_turn_and_undo() -> None:
    game = Game(5, Rules(komi=0.0))
    game.play_gtp("C3")
    game.play(from_gtp("D3", 5), color=BLACK)
    assert game.moves == [(BLACK, from_gtp("C3", 5)), (BLACK, from_gtp("D3", 5))]
    assert game.to_move == WHITE
    game.undo()
    assert game.to_move == WHITE and game.moves == [(BLACK, from_gtp("C3", 5))]
    assert game.legal_mask(BLACK)[from_gtp("C3", 5)] == 0


def test_two_passes_end_the_game() -> None:
    game = Game(5)
    game.play(game.pass_move)
    assert not game.is_over
    game.play(game.pass_move)
    assert game.is_over


def test_groups_come_from_the_incremental_tracking():
    g = Game(5, Rules(komi=0.5))
    for v in ["A1", "E5", "B1", "D5", "C3", "pass", "C4"]:
        g.play(from_gtp(v, 5) if v != "pass" else 25)
    groups = sorted(sorted(x) for x in g.position.groups())
    pts = lambda *vs: sorted(from_gtp(v, 5) for v in vs)  # noqa: E731
    assert groups == sorted([pts("A1", "B1"), pts("D5", "E5"), pts("C3", "C4")])


def test_dead_stones_follow_group_mean_ownership() -> None:
    from gozero.rules import DEAD_THRESHOLD, dead_stones

    g = Game(5)
    for v in ("B2", "D4", "C2"):  # black string B2-C2, white stone D4
        g.play(from_gtp(v, 5))
    own = np.zeros(25)
    b2, c2, d4 = (from_gtp(v, 5) for v in ("B2", "C2", "D4"))
    own[b2], own[c2] = -0.9, 0.5  # black string's mean -0.2: alive at the default threshold
    own[d4] = 0.6  # the white stone sits in black's area: dead
    mask = dead_stones(g.position, own)
    assert mask[d4] and not mask[b2] and not mask[c2] and mask.sum() == 1
    mask = dead_stones(g.position, own, threshold=-0.1)  # a stricter judge kills the black string too
    assert mask[b2] and mask[c2] and mask[d4] and DEAD_THRESHOLD < -0.1
