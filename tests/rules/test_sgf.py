"""SGF reading and writing: round trips, setup/handicap stones, passes, rules, and the
`SgfError` messages for every malformed or unsupported record."""

from __future__ import annotations

import numpy as np
import pytest

from gozero.rules import BLACK, WHITE, Game, Rules, from_gtp, from_sgf
from gozero.rules.sgf import SgfError, game_to_sgf, load_sgf, read_sgf_file, rules_from_name
from gozero.search.random_player import RandomPlayer


def random_game(size: int, seed: int, max_moves: int | None = None) -> Game:
    game = Game(size, Rules(komi=6.5))
    player = RandomPlayer(seed)
    limit = max_moves if max_moves is not None else 3 * size * size
    while not game.is_over and len(game.moves) < limit:
        game.play(player.genmove(game))
    return game


@pytest.mark.parametrize("size,seed", [(9, 1), (13, 2), (19, 3), (5, 4)])
def test_round_trip_random_game(size: int, seed: int) -> None:
    game = random_game(size, seed)
    text = game_to_sgf(game, black="Alice", white="Bob", comment="a test game")
    rec = load_sgf(text)
    assert rec.size == size and rec.komi == 6.5
    assert (rec.black, rec.white, rec.comment) == ("Alice", "Bob", "a test game")
    assert rec.moves == game.moves
    assert np.array_equal(rec.game.position.stones, game.position.stones)
    assert rec.game.position.captures == game.position.captures
    assert rec.game.to_move == game.to_move
    if game.is_over:
        assert rec.result == game.result_string()
    # writing the loaded game again gives the same text
    assert game_to_sgf(rec.game, black="Alice", white="Bob", comment="a test game") == text


def test_pass_moves_both_spellings() -> None:
    rec = load_sgf("(;GM[1]FF[4]SZ[9]KM[7.5];B[ee];W[];B[tt];W[cc])")
    nn = 81
    assert rec.moves == [(BLACK, from_sgf("ee", 9)), (WHITE, nn), (BLACK, nn), (WHITE, from_sgf("cc", 9))]
    assert rec.game.position.stones[from_sgf("cc", 9)] == WHITE
    back = load_sgf(game_to_sgf(rec.game))
    assert back.moves == rec.moves


def test_setup_stones_handicap_and_white_first() -> None:
    text = "(;GM[1]FF[4]SZ[19]HA[3]KM[0.5]AB[dd][pp][dp];W[pd];B[qf])"
    rec = load_sgf(text)
    assert rec.handicap == 3 and rec.komi == 0.5
    assert sorted(p for _, p in rec.setup) == sorted(from_sgf(p, 19) for p in ("dd", "pp", "dp"))
    assert all(c == BLACK for c, _ in rec.setup)
    assert rec.game.handicap == 3
    assert rec.moves[0] == (WHITE, from_sgf("pd", 19))
    stones = rec.game.position.stones
    assert (stones == BLACK).sum() == 4 and (stones == WHITE).sum() == 1
    back = load_sgf(game_to_sgf(rec.game))
    assert back.handicap == 3 and sorted(back.setup) == sorted(rec.setup) and back.moves == rec.moves


def test_handicap_without_moves_gives_white_the_turn() -> None:
    rec = load_sgf("(;GM[1]SZ[9]HA[2]AB[cc][gg])")
    assert rec.game.to_move == WHITE
    back = load_sgf(game_to_sgf(rec.game))
    assert back.game.to_move == WHITE


def test_compressed_point_lists_and_white_setup() -> None:
    rec = load_sgf("(;GM[1]SZ[9]AB[aa:bc]AW[ee])")
    assert sum(1 for c, _ in rec.setup if c == BLACK) == 6
    assert rec.game.position.stones[from_gtp("E5", 9)] == WHITE


def test_main_line_only() -> None:
    rec = load_sgf("(;GM[1]SZ[9];B[cc](;W[dd];B[ee])(;W[gg]))")
    assert [m for _, m in rec.moves] == [from_sgf(p, 9) for p in ("cc", "dd", "ee")]


def test_rules_property() -> None:
    assert load_sgf("(;SZ[9]RU[Japanese])").game.rules.ko == "simple"
    assert load_sgf("(;SZ[9]RU[NZ])").game.rules.suicide
    assert load_sgf("(;SZ[9]RU[Chinese])").game.rules.ko == "positional"
    assert rules_from_name("no such rules", 5.5) == Rules(komi=5.5)
    text = game_to_sgf(Game(9, Rules(komi=7.0, ko="simple")), rules="Japanese")
    assert "RU[Japanese]" in text
    assert load_sgf(text).rules == "Japanese"


def test_missing_komi_is_flagged() -> None:
    rec = load_sgf("(;GM[1]SZ[9])")
    assert not rec.has_komi
    assert load_sgf("(;GM[1]SZ[9]KM[6.5])").has_komi
    assert not load_sgf("(;GM[1]SZ[9]KM[])").has_komi  # an empty KM, as some servers write


def test_replay_until_move_number() -> None:
    game = random_game(9, 7, max_moves=30)
    rec = load_sgf(game_to_sgf(game))
    for n in (1, 2, 10, 31, 100):
        part = rec.game_before(n)
        assert len(part.moves) == min(n - 1, 30)
        assert part.moves == game.moves[: n - 1]
    assert len(load_sgf(game_to_sgf(game), move_number=11).game.moves) == 10


def test_capture_is_replayed() -> None:
    # white stone at A1 captured by B1 and A2
    rec = load_sgf("(;SZ[9];B[ba];W[ai];B[bi];W[ee];B[ah])")
    assert rec.game.position.stones[from_gtp("A1", 9)] == 0
    assert rec.game.position.captures == (1, 0)


def test_bytes_and_file(tmp_path) -> None:
    text = "(;GM[1]SZ[9]PB[Seo\u00efn]CA[UTF-8];B[ee])"
    assert load_sgf(text.encode("utf-8")).black == "Seo\u00efn"
    path = tmp_path / "g.sgf"
    path.write_text(text, encoding="utf-8")
    assert read_sgf_file(path).moves == [(BLACK, from_gtp("E5", 9))]
    with pytest.raises(SgfError, match="cannot read"):
        read_sgf_file(tmp_path / "missing.sgf")


def test_comments_and_extra_properties() -> None:
    game = random_game(9, 3, max_moves=4)
    text = game_to_sgf(game, move_comments={2: "nice [move]"}, extra={"DT": "2024-01-02", "EV": "test"})
    assert "DT[2024-01-02]" in text and "EV[test]" in text
    assert "nice [move\\]" in text
    assert load_sgf(text).moves == game.moves
    with pytest.raises(ValueError):
        game_to_sgf(game, extra={"bad name": "x"})


@pytest.mark.parametrize("text,fragments", [
    ("this is not sgf", ["syntax error", "start of data"]),
    ("", ["syntax error"]),
    ("(;GM[1]SZ[9]\n;B[aa]\n;W[b", ["syntax error", "line 3"]),
    ("(;GM[1]SZ[9]\n;B[aa]W)", ["syntax error", "line 2"]),
    ("(;GM[2]SZ[9])", ["GM[2]", "not Go"]),
    ("(;GM[1]SZ[25])", ["board size", "root node"]),
    ("(;GM[1]SZ[1])", ["board size 1", "root node"]),
    ("(;GM[1]SZ[19:13])", ["square", "root node"]),
    ("(;GM[1]SZ[9]KM[lots])", ["komi", "root node"]),
    ("(;GM[1]SZ[9]HA[x])", ["handicap", "root node"]),
    ("(;GM[1]SZ[9];B[ee];W[zz])", ["node 2: move 2", "W at zz", "not a point"]),
    ("(;GM[1]SZ[9];B[ee];W[jj])", ["move 2", "W at jj"]),
    ("(;GM[1]SZ[9];B[ee];W[ee])", ["move 2 (W at ee)", "illegal move", "point occupied"]),
    ("(;GM[1]SZ[9]AB[ba][ab];W[aa])", ["move 1 (W at aa)", "suicide"]),
    ("(;GM[1]SZ[9];B[ee];W[dd];B[aa];W[ee])", ["move 4 (W at ee)", "point occupied"]),
    ("(;GM[1]SZ[9]AB[aa]AW[aa])", ["root node: setup stone W at aa", "also in AB"]),
    ("(;GM[1]SZ[9];B[ee];W[dd];AW[ba][ab]AB[aa])", ["node 3", "setup leaves the B stone at aa without liberties"]),
    ("(;GM[1]SZ[9];B[ee];C[look];AB[dd];W[dd])", ["node 4: move 2 (W at dd)", "point occupied"]),
    ("(;GM[1]SZ[9];B[ee];AE[ee]AW[ee])", ["node 2: AE at ee", "also in AW"]),
    ("(;GM[1]SZ[9];B[ee];PL[x]AB[aa])", ["node 2", "bad PL"]),
    ("(;GM[1]SZ[9];B[ee]W[dd])", ["node 1", "both B and W"]),
])
def test_malformed_records_raise_located_sgf_error(text: str, fragments: list[str]) -> None:
    with pytest.raises(SgfError) as info:
        load_sgf(text)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, message


def test_ko_recapture_in_record_is_rejected_with_reason() -> None:
    # B: ba, ab, cb(?), build a ko at the corner: black captures at A1? use a standard shape
    # . B W .      row 9 (top): a9 empty, b9 B, c9 W
    # B W . W      row 8: a8 B, b8 W, d8 W
    # . B W .      row 7: b7 B, c7 W
    moves = ["B[ba]", "W[ca]", "B[ab]", "W[bb]", "B[bc]", "W[cc]", "B[ii]", "W[db]",
             "B[cb]",  # black captures W at bb -> ko
             "W[bb]"]  # immediate recapture: ko
    text = "(;GM[1]SZ[9];" + ";".join(moves) + ")"
    with pytest.raises(SgfError) as info:
        load_sgf(text)
    assert "move 10 (W at bb)" in str(info.value) and "ko" in str(info.value)


def test_error_is_a_value_error_and_not_a_traceback_of_sgfmill() -> None:
    with pytest.raises(ValueError):
        load_sgf("(;SZ[9];B[a])")
    with pytest.raises(SgfError):
        load_sgf(12345)  # type: ignore[arg-type]


# -- records as people have them ---------------------------------------------------------------

REVIEW_19 = b"""(;FF[4]CA[UTF-8]AP[Sabaki:0.52.2]GM[1]SZ[19]KM[6.5]RU[Japanese]
PB[Kato]PW[Sato]DT[2023-04-01]GN[teaching game]
;B[pd];W[dp];B[pq];W[dd];B[fq]C[B4 would be the usual move here]
;AE[fq]AB[cn]C[Teacher: consider this instead]
;W[fp];B[cl]
;AW[qf][qh]AB[nd]PL[W]
;W[qk])
"""


def test_review_file_with_setup_after_the_first_move() -> None:
    rec = load_sgf(REVIEW_19)
    size = 19
    stone = rec.game.position.stones
    # AE removed the fifth move, AB/AW added stones, the game goes on from there
    assert stone[from_sgf("fq", size)] == 0
    assert stone[from_sgf("cn", size)] == BLACK and stone[from_sgf("nd", size)] == BLACK
    assert stone[from_sgf("qf", size)] == WHITE and stone[from_sgf("qh", size)] == WHITE
    assert stone[from_sgf("qk", size)] == WHITE and stone[from_sgf("fp", size)] == WHITE
    assert (stone == BLACK).sum() == 5 and (stone == WHITE).sum() == 6
    assert len(rec.moves) == 8 and [e.node for e in rec.edits] == [6, 9]
    assert rec.edits[0].empty == (from_sgf("fq", size),) and rec.edits[1].to_move == WHITE
    # the replayed game starts at the last setup node: W[qk] is its one move
    assert rec.game.moves == [(WHITE, from_sgf("qk", size))]
    assert any("node 9" in w and "setup" in w for w in rec.warnings)
    # positions before an edit are the game as played
    before5 = rec.game_before(5)
    assert [m for _, m in before5.moves] == [from_sgf(p, size) for p in ("pd", "dp", "pq", "dd")]
    before6 = rec.game_before(6)  # after the first edit: fq gone, cn added, white to play
    assert before6.position.stones[from_sgf("fq", size)] == 0
    assert before6.position.stones[from_sgf("cn", size)] == BLACK and before6.to_move == WHITE
    # a move onto a point the setup filled is refused, naming node and move
    bad = REVIEW_19.replace(b";W[qk])", b";W[qh])")
    with pytest.raises(SgfError, match=r"node 10: move 8 \(W at qh\): illegal move: point occupied"):
        load_sgf(bad)


def test_setup_edit_keeps_the_captures() -> None:
    rec = load_sgf("(;SZ[9];B[ba];W[aa];B[ab];W[ee];AB[gg];W[cc])")
    assert rec.game.position.captures == (1, 0)
    assert rec.game.position.stones[from_sgf("aa", 9)] == 0


def test_ae_before_the_first_move_removes_setup_stones() -> None:
    rec = load_sgf("(;GM[1]SZ[9]HA[2]AB[cc][gg]AE[]\n;AE[gg]PL[B]\n;B[ee])")
    assert rec.setup == [(BLACK, from_sgf("cc", 9))]
    assert rec.edits == [] and rec.moves == [(BLACK, from_sgf("ee", 9))]
    assert rec.game.position.stones[from_sgf("gg", 9)] == 0


def test_record_cut_short_of_its_closing_parenthesis() -> None:
    text = b"(;GM[1]FF[4]SZ[9]KM[7]PB[b]PW[w]\n;B[ee];W[cc];B[gc]\n(;W[gg];B[cg]\n"
    rec = load_sgf(text)
    assert [m for _, m in rec.moves] == [from_sgf(p, 9) for p in ("ee", "cc", "gc", "gg", "cg")]
    assert any("closing ')'" in w and "2 missing" in w for w in rec.warnings)
    assert load_sgf(text + b"))").warnings == []


@pytest.mark.parametrize("size", [19, 13, 9])
def test_tt_is_pass_on_boards_up_to_19(size: int) -> None:
    text = f"(;GM[1]FF[3]SZ[{size}]KM[6.5]RE[B+R];B[cc];W[dc];B[tt];W[cd];B[tt];W[tt])"
    rec = load_sgf(text)
    nn = size * size
    assert [m for _, m in rec.moves] == [from_sgf("cc", size), from_sgf("dc", size), nn,
                                         from_sgf("cd", size), nn, nn]
    assert rec.game.is_over and rec.warnings == []


def test_collection_of_games_reads_the_first_with_a_warning() -> None:
    text = (b"(;GM[1]SZ[9]KM[7]EV[club]RO[1]PB[A]PW[B];B[ee];W[cc];B[gg])\n"
            b"(;GM[1]SZ[9]KM[7]EV[club]RO[2]PB[C]PW[D];B[cc];W[ee])\n"
            b"(;GM[1]SZ[13]KM[7]EV[club]RO[3]PB[E]PW[F];B[dd])\n")
    rec = load_sgf(text)
    assert (rec.black, rec.white) == ("A", "B") and len(rec.moves) == 3
    assert rec.warnings == ["the file holds 3 games; only the first is read"]
    assert load_sgf(text.split(b"\n")[0]).warnings == []


def test_illegal_record_message_names_node_move_point_and_reason() -> None:
    # comment-only nodes make node and move numbers differ; the message gives both
    text = "(;GM[1]SZ[9]C[start];C[opening];B[ee];W[ed];B[dd];C[hm];W[ee])"
    with pytest.raises(SgfError) as info:
        load_sgf(text)
    assert str(info.value) == "node 6: move 4 (W at ee): illegal move: point occupied"


def test_file_error_names_the_file(tmp_path) -> None:
    path = tmp_path / "bad.sgf"
    path.write_text("(;GM[1]SZ[9];B[ee];W[ee])", encoding="utf-8")
    with pytest.raises(SgfError, match="bad.sgf: node 2: move 2"):
        read_sgf_file(path)
