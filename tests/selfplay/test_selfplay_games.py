"""Self-play with a tiny random network on 5x5: games finish, files appear at once, and the
training targets are consistent with the games."""

import numpy as np
import pytest
import torch

from gozero.net.inference import NetEvaluator
from gozero.net.model import NetConfig, build_model
from gozero.rules import Rules
from gozero.search.mcts import SearchConfig
from gozero.selfplay.selfplay import SelfPlay, SelfPlayConfig
from gozero.selfplay.shards import ShardWriter, load_arrays, pending_paths, shard_paths

SIZE = 5
NN = SIZE * SIZE


def _selfplay(run_dir, shard_positions=10**6, **overrides):
    torch.manual_seed(0)
    model = build_model(NetConfig(size=SIZE, blocks=1, channels=8, pool_channels=4, pool_every=1, head_channels=4,
                                  value_hidden=8))
    ev = NetEvaluator(model, device="cpu", precision="fp32", seed=0)
    cfg = SelfPlayConfig(**{"parallel_games": 6, "full_simulations": 8, "cheap_simulations": 2, "full_fraction": 0.5,
                            "no_resign_fraction": 0.5, "sgf_every": 1, **overrides})
    writer = ShardWriter(run_dir, shard_positions)
    return SelfPlay(ev, SIZE, Rules(komi=0.5), SearchConfig(algorithm="gumbel", simulations=8), cfg, writer,
                    sgf_dir=run_dir / "sgf", seed=1), writer


def test_games_finish_and_are_written_at_once(tmp_path):
    sp, writer = _selfplay(tmp_path)
    finished = []
    while not finished:
        finished = sp.step()
    # a finished game is on disk as soon as step() returns
    assert 1 <= len(pending_paths(tmp_path)) <= len(finished)  # (a game without a full search has no example)
    assert list((tmp_path / "sgf").glob("*.sgf"))
    reports = []
    games_before, positions_before = sp.stats.games, sp.stats.positions
    sp.play_games(8, on_progress=reports.append, progress_every=0.0)
    st = sp.stats
    assert st.games >= 9 and st.games == len(st.lengths)
    # one report per move step plus the last: counts since the call, growing, then complete
    assert len(reports) >= 2
    assert all(a.games <= b.games and a.positions <= b.positions and a.moves < b.moves
               for a, b in zip(reports[:-2], reports[1:-1], strict=True))
    last = reports[-1]
    assert last.games == st.games - games_before >= 8 and last.games_target == 8
    assert last.positions == st.positions - positions_before and last.eta == 0.0
    assert any(r.eta is not None and r.eta > 0 for r in reports[:-1])  # lengths known from the first games
    assert 0.5 * st.games <= len(pending_paths(tmp_path)) <= st.games
    assert all(1 <= n <= 3 * NN for n in st.lengths)
    assert st.positions == sum(len(load_arrays(p)["policy_weight"]) for p in pending_paths(tmp_path))
    assert not shard_paths(tmp_path)
    sealed = writer.seal()
    assert sealed is not None and not pending_paths(tmp_path)
    z = load_arrays(sealed)
    assert len(z["value"]) == st.positions and int(z["size"]) == SIZE
    assert int(z["games"]) == len(z["sources"]) >= 0.5 * st.games


def test_shards_seal_when_full(tmp_path):
    sp, writer = _selfplay(tmp_path, shard_positions=30)
    sp.play_games(10)
    shards = shard_paths(tmp_path)
    assert shards
    sealed = sum(len(load_arrays(s)["value"]) for s in shards)
    assert all(len(load_arrays(s)["value"]) >= 30 for s in shards)
    assert sealed + writer.pending_positions == sp.stats.positions
    assert writer.pending_positions < 30


@pytest.fixture(scope="module")
def examples(tmp_path_factory):
    d = tmp_path_factory.mktemp("sp")
    sp, writer = _selfplay(d, resign_threshold=-0.05, resign_consecutive=2)
    sp.play_games(14)
    games = [load_arrays(p) for p in pending_paths(d)]
    return games, sp.stats


def test_targets_are_consistent(examples):
    games, stats = examples
    assert len(games) >= 10
    settled_games = 0
    for z in games:
        n = len(z["value"])
        planes = np.unpackbits(z["planes"], axis=2, count=NN)
        legal = np.concatenate([planes[:, 17].astype(bool), np.ones((n, 1), bool)], axis=1)
        policy = z["policy"].astype(np.float64)
        np.testing.assert_allclose(policy.sum(axis=1), 1.0, atol=2e-3)
        assert (policy >= 0).all() and not (policy[~legal] > 0).any()
        assert set(np.unique(z["value"].sum(axis=1))) == {1.0}
        assert set(np.unique(z["value"])) <= {0.0, 1.0}
        assert set(np.unique(z["ownership"])) <= {-1, 0, 1}
        to_move_black = z["globals"][:, 1] == 1.0
        # value: the same winner for every position, seen from each side to move
        winner_black = np.where(to_move_black, z["value"][:, 0], z["value"][:, 2])
        assert len(set(winner_black.tolist())) == 1
        if z["aux_weight"][0] == 1.0:
            settled_games += 1
            # ownership and score of a settled game: black's score = owned points - komi
            own_black = np.where(to_move_black[:, None], z["ownership"], -z["ownership"]).astype(int)
            assert (own_black == own_black[0]).all()
            score_black = np.where(to_move_black, z["score"], -z["score"])
            assert np.allclose(score_black, own_black[0].sum() - 0.5)
            assert (score_black[0] > 0) == bool(winner_black[0])
        assert set(np.unique(z["aux_weight"])) <= {0.0, 1.0} and len(set(z["aux_weight"].tolist())) == 1
    assert settled_games >= 1
    assert stats.resigned + stats.capped + settled_games >= len(games)


class FixedOwnership:
    """The tiny net's policy and value with a fixed ownership pattern (black's view: + on
    even points, - on odd ones), so stones are called dead often and predictably."""

    OWN_BLACK = np.where(np.arange(NN) % 2 == 0, 0.8, -0.8).astype(np.float32)

    def __init__(self, ev):
        self.ev = ev

    @property
    def evaluations(self):
        return self.ev.evaluations

    def evaluate(self, planes, globals_, size=None):
        out = self.ev.evaluate(planes, globals_, size)
        black = globals_[:, 1] > 0.5
        out.ownership = np.where(black[:, None], self.OWN_BLACK, -self.OWN_BLACK).astype(np.float32)
        return out


def test_area_dead_removed_games_are_recorded_by_that_count(tmp_path):
    from gozero.rules import dead_stones

    sp, writer = _selfplay(tmp_path, no_resign_fraction=1.0, sgf_every=0)
    sp = SelfPlay(FixedOwnership(sp.ev), SIZE, Rules(komi=0.5, scoring="area_dead_removed"),
                  SearchConfig(algorithm="gumbel", simulations=8), sp.cfg, writer, seed=1)
    assert sp.search.scoring == "area_dead_removed"
    ended = []
    finish = sp._finish

    def recording_finish(b, dead=None):
        g = sp.slots[b].game.copy()
        summary = finish(b, dead)
        ended.append((g, summary))
        return summary

    sp._finish = recording_finish
    sp.play_games(10)
    by_passes = [(g, s) for g, s in ended if g.is_over]
    assert len(by_passes) >= 3
    differs = 0
    for g, summary in by_passes:
        dead = dead_stones(g.position, FixedOwnership.OWN_BLACK)
        assert summary["score"] == g.score(dead)
        differs += g.score(dead) != g.score()
    assert differs >= 1  # the rule decided something
    for g, summary in ended:
        if not g.is_over:  # the move cap: the board as it stands
            assert summary["score"] == g.score()


def test_game_scoring_is_a_preset_key_that_reaches_the_rules():
    from gozero.train.config import load_config

    for preset in ("tiny", "9x9", "19x19"):
        cfg = load_config(preset)
        assert cfg.game.scoring == "tromp_taylor" and cfg.game.rules().scoring == "tromp_taylor"
    cfg = load_config("tiny", overrides=["game.scoring=area_dead_removed"])
    assert cfg.game.rules() == Rules(komi=0.5, scoring="area_dead_removed")
    with pytest.raises(ValueError, match="scoring"):
        load_config("tiny", overrides=["game.scoring=japanese"])


def test_search_acting_records_its_signals(examples):
    games, _ = examples
    for z in games:
        n = len(z["value"])
        a = z["action"].astype(np.int64)
        assert ((a >= 0) & (a <= NN)).all()
        # Gumbel: the behaviour log-probability is that of the improved policy (the target)
        assert np.allclose(np.exp(z["behaviour_logp"]), z["policy"][np.arange(n), a].astype(np.float32), atol=2e-3)
        assert np.isfinite(z["search_q"][np.arange(n), a]).all()  # the chosen move was searched
        assert (np.abs(z["root_value"]) <= 1).all() and (np.abs(z["search_value"]) <= 1).all()
        assert (np.diff(z["move_index"]) > 0).all() and (z["game_moves"] > z["move_index"]).all()
        assert (z["net_version"] == 0).all()


def test_policy_acting_samples_the_network_and_records_every_move(tmp_path):
    sp, writer = _selfplay(tmp_path, acting="policy", no_resign_fraction=1.0)
    sp.net_version = 7
    sp.play_games(6)
    games = [load_arrays(p) for p in pending_paths(tmp_path)]
    assert len(games) >= 6 and sp.stats.net_evals == sp.stats.moves  # one evaluation per move, no search
    for z in games:
        n = len(z["value"])
        a = z["action"].astype(np.int64)
        planes = np.unpackbits(z["planes"], axis=2, count=NN)
        legal = np.concatenate([planes[:, 17].astype(bool), np.ones((n, 1), bool)], axis=1)
        assert legal[np.arange(n), a].all()
        assert np.array_equal(z["move_index"], np.arange(n))  # every move recorded
        assert (z["game_moves"] == n).all() and (z["net_version"] == 7).all()
        # the stored policy is the sampling distribution over the legal moves
        assert np.allclose(z["policy"].astype(np.float32).sum(axis=1), 1, atol=1e-2)
        assert (z["policy"][~legal] == 0).all()
        assert np.allclose(np.exp(z["behaviour_logp"]), z["policy"][np.arange(n), a].astype(np.float32), atol=2e-3)
        assert np.isnan(z["search_q"].astype(np.float32)).all()
        assert np.array_equal(z["root_value"], z["search_value"])
