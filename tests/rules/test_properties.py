"""Property tests of the rules kernels (hypothesis): random games under every rule set keep
the incremental state (groups, liberty bitsets, group and position hashes, capture counts)
equal to what a from-scratch computation gives, undo restores the exact arrays, and the
batched kernels agree with the single-board ones."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gozero.rules import BLACK, EMPTY, Game, Rules
from gozero.rules import kernels as K

SIZES = st.sampled_from([2, 3, 4, 5, 7, 9, 13, 19])
RULES = st.builds(Rules, komi=st.just(7.5), ko=st.sampled_from(["simple", "positional", "situational"]),
                  suicide=st.booleans())
# a game is drawn as (seed, number of moves); the seed picks each move among the legal ones
CHOICES = st.tuples(st.integers(0, 2**31), st.integers(1, 200)).map(
    lambda t: np.random.default_rng(t[0]).integers(0, 2**31, size=t[1]).tolist())
PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def random_game(size: int, rules: Rules, choices: list[int], pass_every: int = 23) -> tuple[Game, list[int]]:
    """Play one legal move per choice (the choice indexes the legal moves; pass rarely)."""
    game = Game(size, rules)
    for i, choice in enumerate(choices):
        legal = np.flatnonzero(game.legal_mask()[:-1])
        move = game.pass_move if (len(legal) == 0 or i % pass_every == pass_every - 1) else legal[choice % len(legal)]
        game.play(int(move))
    return game, [m for _, m in game.moves]


def flood_groups(stones: np.ndarray, nbr: np.ndarray) -> list[tuple[set[int], set[int]]]:
    """(stones, liberties) of every group, by flood fill."""
    seen: set[int] = set()
    out = []
    for p in np.flatnonzero(stones):
        p = int(p)
        if p in seen:
            continue
        group, libs, frontier = {p}, set(), [p]
        while frontier:
            q = frontier.pop()
            for m in nbr[q]:
                if m < 0:
                    break
                m = int(m)
                if stones[m] == EMPTY:
                    libs.add(m)
                elif stones[m] == stones[p] and m not in group:
                    group.add(m)
                    frontier.append(m)
        seen |= group
        out.append((group, libs))
    return out


def check_state(game: Game) -> None:
    pos, geo = game.position, game.position.geo
    nn, w = geo.nn, K.words(geo.nn)
    ints, bits = pos.ints, pos.bits
    stones = pos.stones
    # hash: incremental equals from scratch
    assert pos.hash == int(K.full_hash(ints, nn, geo.zob))
    # conservation: stones on the board = stones placed - stones removed
    placed = sum(1 for _, m in game.moves if m != nn) + len(game.setup)
    caps_b, caps_w = pos.captures
    assert np.count_nonzero(stones) == placed - caps_b - caps_w
    libs_map = pos.liberties()
    for group, libs in flood_groups(stones, geo.nbr):
        head = int(ints[nn + next(iter(group))])
        assert all(int(ints[nn + p]) == head for p in group), "one head per group"
        assert head in group
        assert ints[3 * nn + head] == len(group), "group size at the head"
        ring, p = set(), head  # the circular list visits exactly the group
        for _ in range(len(group)):
            ring.add(p)
            p = int(ints[2 * nn + p])
        assert p == head and ring == group
        word = [int(x) for x in bits[head * w: head * w + w]]
        assert all((word[q // 64] >> (q % 64)) & 1 for q in libs), "liberty bitset misses a liberty"
        assert sum(bin(x).count("1") for x in word) == len(libs), "liberty bitset has extra points"
        assert all(libs_map[p] == len(libs) for p in group)
        group_hash = 0
        for p in group:
            group_hash ^= int(geo.zob[p, stones[p]])
        assert int(bits[nn * w + head]) == group_hash, "group hash"
    assert all(libs_map[p] == 0 for p in np.flatnonzero(stones == EMPTY))
    # ko point: an empty point whose neighbours all belong to the side that just captured
    ko = pos.ko_point
    if ko >= 0:
        assert stones[ko] == EMPTY
        assert {int(stones[m]) for m in geo.nbr[ko] if m >= 0} == {3 - pos.to_move}


@PROPERTY
@given(size=SIZES, rules=RULES, choices=CHOICES)
def test_incremental_state_equals_from_scratch(size: int, rules: Rules, choices: list[int]) -> None:
    game = Game(size, rules)
    for i, choice in enumerate(choices):
        legal = np.flatnonzero(game.legal_mask()[:-1])
        move = game.pass_move if (len(legal) == 0 or i % 23 == 22) else int(legal[choice % len(legal)])
        game.play(move)
        check_state(game)


@PROPERTY
@given(size=SIZES, rules=RULES, choices=CHOICES)
def test_legality_agrees_with_playing_the_move(size: int, rules: Rules, choices: list[int]) -> None:
    """A point is legal exactly when it is empty, not the ko point, not suicide (unless
    allowed) and the board after it is not an earlier one (superko), judged by playing it."""
    game, _ = random_game(size, rules, choices)
    geo = game.position.geo
    mask = game.legal_mask()
    hashes, turns, n = game.history
    seen = {(int(h), int(t)) for h, t in zip(hashes[:n], turns[:n], strict=True)}
    for p in range(geo.nn):
        pos = game.position.copy()
        if pos.stones[p] != EMPTY or p == pos.ko_point:
            assert not mask[p]
            continue
        captured = K.play(pos.ints, pos.bits, geo.nbr, geo.zob, p)
        legal = rules.suicide or captured >= 0
        if rules.ko == "positional":
            legal = legal and all(h != pos.hash for h, _ in seen)
        elif rules.ko == "situational":
            legal = legal and (pos.hash, pos.to_move) not in seen
        assert mask[p] == legal, f"point {p}"
    assert mask[geo.nn]


@PROPERTY
@given(size=SIZES, rules=RULES, choices=CHOICES)
def test_undo_restores_the_exact_state(size: int, rules: Rules, choices: list[int]) -> None:
    game = Game(size, rules)
    states = []
    for i, choice in enumerate(choices):
        states.append((game.position.ints.copy(), game.position.bits.copy(), game.history[2], list(game.moves)))
        legal = np.flatnonzero(game.legal_mask()[:-1])
        move = game.pass_move if (len(legal) == 0 or i % 23 == 22) else int(legal[choice % len(legal)])
        game.play(move)
    for ints, bits, hist_len, moves in reversed(states):
        game.undo()
        assert np.array_equal(game.position.ints, ints)
        assert np.array_equal(game.position.bits, bits)
        assert game.history[2] == hist_len and game.moves == moves


@PROPERTY
@given(size=SIZES, rules=RULES, seeds=st.lists(CHOICES, min_size=1, max_size=6), pick=st.integers(0, 2**31))
def test_batched_kernels_agree_with_single_board(size: int, rules: Rules, seeds: list[list[int]], pick: int) -> None:
    games = [random_game(size, rules, choices)[0] for choices in seeds]
    geo = games[0].position.geo
    nn, b = geo.nn, len(games)
    ints = np.stack([g.position.ints for g in games])
    bits = np.stack([g.position.bits for g in games])
    h = max(g.history[2] for g in games)
    hist_hash = np.zeros((b, h), np.uint64)
    hist_turn = np.zeros((b, h), np.int8)
    hist_len = np.array([g.history[2] for g in games], np.int32)
    for i, g in enumerate(games):
        hist_hash[i, : hist_len[i]] = g.history[0][: hist_len[i]]
        hist_turn[i, : hist_len[i]] = g.history[1][: hist_len[i]]
    out = np.zeros((b, nn + 1), np.bool_)
    K.legal_mask_batch(ints, bits, geo.nbr, geo.zob, rules.ko_code, rules.suicide, hist_hash, hist_turn, hist_len, out)
    moves = np.empty(b, np.int32)
    for i, g in enumerate(games):
        single = g.legal_mask()
        assert np.array_equal(out[i], single)
        legal = np.flatnonzero(single)
        moves[i] = legal[(pick + i) % len(legal)]
    K.play_batch(ints, bits, geo.nbr, geo.zob, moves)
    for i, g in enumerate(games):
        g.play(int(moves[i]))
        assert np.array_equal(ints[i], g.position.ints)
        assert np.array_equal(bits[i], g.position.bits)


@settings(max_examples=20, deadline=None)
@given(size=st.sampled_from([5, 9, 13, 19]), seed=st.integers(0, 2**31))
def test_random_playout_kernel_keeps_a_consistent_position(size: int, seed: int) -> None:
    """``random_playouts`` (the benchmark kernel) leaves a settled, consistent position."""
    game = Game(size, Rules(ko="simple"))
    geo = game.position.geo
    K.seed(seed)
    played = K.random_playouts(game.position.ints, game.position.bits, geo.nbr, geo.diag, geo.zob, 1, 3 * geo.nn)
    assert 0 < played <= 3 * geo.nn
    assert game.position.move_count == played
    pos = game.position
    assert pos.hash == int(K.full_hash(pos.ints, geo.nn, geo.zob))
    caps_b, caps_w = pos.captures
    assert np.count_nonzero(pos.stones) <= played - caps_b - caps_w
    if pos.passes >= 2:  # finished: the second to pass had no legal move that is not an own eye
        color = 3 - pos.to_move
        for p in np.flatnonzero(game.legal_mask(color)[:-1]):
            assert K.is_eyelike(pos.ints, geo.nbr, geo.diag, int(p), color)


@PROPERTY
@given(size=SIZES, seed=st.integers(0, 2**31), length=st.floats(0.0, 1.0))
def test_playout_move_draws_a_legal_non_eye_move(size: int, seed: int, length: float) -> None:
    """The fast playout move generator picks from exactly the moves that ``legal_mask``
    (simple ko, no suicide) allows and ``is_eyelike`` does not skip."""
    game = Game(size, Rules(ko="simple"))
    pos, geo = game.position, game.position.geo
    K.seed(seed)
    K.random_playout(pos.ints, pos.bits, geo.nbr, geo.diag, geo.zob, int(length * 3 * geo.nn))
    mask = game.legal_mask()
    allowed = {int(p) for p in np.flatnonzero(mask[:-1])
               if not K.is_eyelike(pos.ints, geo.nbr, geo.diag, int(p), pos.to_move)}
    empty = np.flatnonzero(pos.stones == EMPTY).astype(np.int32)
    seen = set()
    for _ in range(3 * len(allowed) + 5):
        scratch = empty.copy()
        move, i = K.playout_move(pos.ints, pos.bits, geo.nbr, geo.diag, scratch, len(scratch))
        assert sorted(scratch) == sorted(empty)
        if not allowed:
            assert (move, i) == (geo.nn, -1)
            break
        assert move in allowed and scratch[i] == move
        seen.add(int(move))
    if len(allowed) == 1:
        assert seen == allowed


def test_black_moves_first() -> None:
    assert Game(9).to_move == BLACK
