"""Feature planes on hand-made positions and the eight board symmetries."""

import numpy as np
import pytest

from gozero.net.features import NUM_GLOBALS, NUM_PLANES, encode_game, inverse_symmetry_indices, symmetry_indices
from gozero.rules import BLACK, WHITE, Game, Rules, from_gtp


def _pt(v: str, size: int = 5) -> int:
    return from_gtp(v, size)


def _points(plane: np.ndarray, size: int = 5) -> set[int]:
    return {int(p) for p in np.flatnonzero(plane)}


def _ko_game() -> Game:
    """Black captures at C3 and white may not retake at B3 at once (simple-ko point)."""
    g = Game(5, Rules(komi=0.5))
    for p in ("A3", "B2", "B4"):
        g.place_setup(BLACK, _pt(p))
    for p in ("B3", "C2", "C4", "D3"):
        g.place_setup(WHITE, _pt(p))
    g.position.to_move = BLACK
    assert g.play(_pt("C3")) == 1
    return g


def test_empty_board_planes_and_globals():
    g = Game(5, Rules(komi=6.5))
    planes, glob = encode_game(g)
    assert planes.shape == (NUM_PLANES, 25) and planes.dtype == np.uint8
    assert glob.shape == (NUM_GLOBALS,)
    assert planes[6].all() and planes[17].all()  # on-board, everything legal
    others = [c for c in range(NUM_PLANES) if c not in (6, 17)]
    assert not planes[others].any()
    assert glob[0] == pytest.approx(-6.5 / 15)  # black to move: komi counts against
    assert glob[1] == 1.0 and glob[2] == 0.0 and glob[3] == 0.0
    g.play(25)  # black passes: white to move
    planes, glob = encode_game(g)
    assert glob[0] == pytest.approx(6.5 / 15) and glob[1] == 0.0 and glob[2] == 1.0 and glob[3] == 0.0
    g.play(25)
    assert encode_game(g)[1][3] == 1.0


def test_stones_are_seen_from_the_side_to_move_with_history_and_last_moves():
    g = Game(5, Rules(komi=0.5))
    g.play(_pt("C3"))  # black
    g.play(_pt("C2"))  # white
    g.play(_pt("D4"))  # black; white to move
    planes, _ = encode_game(g)
    assert _points(planes[0]) == {_pt("C2")}  # own = white
    assert _points(planes[1]) == {_pt("C3"), _pt("D4")}
    # one move ago (before D4): white C2, black C3
    assert _points(planes[2]) == {_pt("C2")} and _points(planes[3]) == {_pt("C3")}
    # two moves ago (before C2): black C3 only
    assert _points(planes[4]) == set() and _points(planes[5]) == {_pt("C3")}
    assert [_points(planes[14 + i]) for i in range(3)] == [{_pt("D4")}, {_pt("C2")}, {_pt("C3")}]
    assert _points(planes[17]) == set(range(25)) - {_pt("C3"), _pt("C2"), _pt("D4")}
    g.play(_pt("B2"))  # now black to move: the views swap
    planes, _ = encode_game(g)
    assert _points(planes[0]) == {_pt("C3"), _pt("D4")} and _points(planes[1]) == {_pt("C2"), _pt("B2")}


def test_liberty_planes_and_ko_point():
    g = _ko_game()  # white to move
    planes, _ = encode_game(g)
    own1, own2, own3 = (_points(planes[c]) for c in (7, 8, 9))
    opp1, opp2, opp3 = (_points(planes[c]) for c in (10, 11, 12))
    assert _pt("C3") in opp1  # the capturing stone has one liberty (the ko point)
    assert _pt("C2") in own2  # B2 and C3 are black: liberties C1, D2
    assert _pt("D3") in own3  # E3, D2 and D4
    assert {_pt("A3"), _pt("B2"), _pt("B4")} <= opp3
    # each stone is in exactly one liberty plane of its colour
    assert own1 | own2 | own3 == _points(planes[0]) and not (own1 & own2 or own2 & own3 or own1 & own3)
    assert opp1 | opp2 | opp3 == _points(planes[1])
    assert _points(planes[13]) == {_pt("B3")}
    assert planes[17, _pt("B3")] == 0 and planes[17, _pt("E1")] == 1
    g.play(_pt("E1"))  # a ko threat elsewhere lifts the ban
    assert not encode_game(g)[0][13].any()


@pytest.mark.parametrize("size", [2, 5, 9, 19])
def test_symmetries_are_distinct_board_automorphisms_with_inverses(size):
    idx, inv = symmetry_indices(size), inverse_symmetry_indices(size)
    nn = size * size
    assert idx.shape == (8, nn) and (idx[0] == np.arange(nn)).all()
    if size > 1:
        assert len({tuple(r) for r in idx}) == 8
    for s in range(8):
        assert sorted(idx[s]) == list(range(nn))
        assert (idx[s][inv[s]] == np.arange(nn)).all() and (inv[s][idx[s]] == np.arange(nn)).all()
        # neighbours stay neighbours
        rc = np.stack(np.divmod(idx[s], size), axis=1)
        for p in range(nn):
            r, c = divmod(p, size)
            for q in (p + 1 if c + 1 < size else None, p + size if r + 1 < size else None):
                if q is not None:
                    assert np.abs(rc[p] - rc[q]).sum() == 1


def test_features_commute_with_symmetries():
    g = _ko_game()
    g.play(_pt("A1"))
    planes, _ = encode_game(g)
    idx = symmetry_indices(5)
    for s in range(1, 8):
        h = Game(5, Rules(komi=0.5))
        for p in ("A3", "B2", "B4"):
            h.place_setup(BLACK, int(np.flatnonzero(idx[s] == _pt(p))[0]))
        for p in ("B3", "C2", "C4", "D3"):
            h.place_setup(WHITE, int(np.flatnonzero(idx[s] == _pt(p))[0]))
        h.position.to_move = BLACK
        h.play(int(np.flatnonzero(idx[s] == _pt("C3"))[0]))
        h.play(int(np.flatnonzero(idx[s] == _pt("A1"))[0]))
        assert (encode_game(h)[0] == planes[:, idx[s]]).all(), s
