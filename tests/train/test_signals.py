"""Learning signals: each policy loss moves the policy the right way on a constructed batch,
PPO's clip, the bits-per-sample measures, the gradient noise scale estimator, GAE, the
config checks, and reanalyse (roots rebuilt from planes, targets moved toward the current
network's search)."""

import math
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gozero.net.features import NUM_GLOBALS, encode, encode_game
from gozero.net.inference import NetEvaluator
from gozero.net.model import NetConfig, build_model
from gozero.rules import Game, Rules
from gozero.rules import kernels as K
from gozero.search.mcts import BatchedSearch, SearchConfig, root_inputs
from gozero.selfplay.selfplay import empty_batch
from gozero.train.config import TrainConfig, load_config
from gozero.train.reanalyse import Reanalyser, roots_from_planes
from gozero.train.replay import gae_advantages
from gozero.train.trainer import Trainer, noise_scale_from_norms

SIZE, NN, A = 5, 25, 26


def _model(seed: int = 0):
    torch.manual_seed(seed)
    return build_model(NetConfig(size=SIZE, blocks=1, channels=8, pool_channels=4, pool_every=1, head_channels=4,
                                 value_hidden=8))


def _trainer(policy_loss: str, **kw) -> Trainer:
    cfg = TrainConfig(policy_loss=policy_loss, lr=0.01, warmup_steps=0, weight_decay=0.0, symmetry_augment=False,
                      value_weight=0.0, ownership_weight=0.0, score_weight=0.0, entropy_coef=0.0, **kw)
    return Trainer(_model(), cfg, torch.device("cpu"), seed=0)


def _positions(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """``n`` copies of 4 random positions (every point legal), unpacked as the window gives them."""
    rng = np.random.default_rng(seed)
    b = empty_batch(n, NN)
    planes = np.zeros((n, 18, SIZE, SIZE), np.uint8)
    base = rng.integers(0, 2, (4, 18, SIZE, SIZE)).astype(np.uint8)
    base[:, 17] = 1
    planes[:] = base[np.arange(n) % 4]
    b["planes"] = planes
    b["globals"] = np.tile(rng.random((4, NUM_GLOBALS), dtype=np.float32), (n // 4 + 1, 1))[:n]
    return b


def _logp(tr: Trainer, batch: dict[str, np.ndarray]) -> torch.Tensor:
    """Policy log-probabilities over the legal moves (train mode: the batch's statistics)."""
    t = tr._augment(batch)
    with torch.no_grad():
        return F.log_softmax(tr.model(t["planes"], t["globals"])["policy"], dim=1)


def _steps(tr: Trainer, batch: dict[str, np.ndarray], n: int = 15) -> None:
    for _ in range(n):
        tr.train_step(batch)


def _won_lost_batch(n: int = 32) -> dict[str, np.ndarray]:
    """On each position, move 3 was played in won games and move 7 in lost ones."""
    b = _positions(n)
    won = np.arange(n) % 2 == 0
    b["action"] = np.where(won, 3, 7).astype(np.int16)
    b["value"][:] = 0
    b["value"][won, 0] = 1
    b["value"][~won, 2] = 1
    b["game_moves"][:] = 20
    return b


def test_reinforce_raises_moves_of_won_games_and_lowers_moves_of_lost_ones():
    tr = _trainer("reinforce")
    b = _won_lost_batch()
    before = _logp(tr, b)
    _steps(tr, b)
    after = _logp(tr, b)
    assert (after[:, 3] - before[:, 3]).min() > 0.1
    assert (after[:, 7] - before[:, 7]).max() < -0.1


def test_reinforce_entropy_bonus_raises_entropy():
    b = _positions(32)
    b["action"][:] = 5
    b["value"][:] = 0
    b["value"][:, 1] = 1  # draws: z = 0, only the entropy term acts
    tr = _trainer("reinforce")
    tr.cfg.entropy_coef = 1.0
    h0 = tr.losses(tr._augment(b))["policy_entropy"].item()
    _steps(tr, b, 10)
    assert tr.losses(tr._augment(b))["policy_entropy"].item() > h0


def _ppo_batch(ratio: float, advantage: float, tr: Trainer) -> dict[str, torch.Tensor]:
    b = _positions(16)
    b["action"][:] = 4
    t = tr._augment(b)
    with torch.no_grad():
        lp = F.log_softmax(tr.model(t["planes"], t["globals"])["policy"], dim=1)[:, 4]
    t["behaviour_logp"] = lp - math.log(ratio)  # pi / pi_behaviour = ratio
    t["ppo_advantage"] = torch.full_like(lp, advantage)
    return t


def _policy_grad_norm(tr: Trainer, t: dict[str, torch.Tensor]) -> float:
    tr.model.zero_grad(set_to_none=True)
    tr.losses(t)["policy"].backward()
    return float(sum(p.grad.abs().sum() for p in tr.model.parameters() if p.grad is not None))


@pytest.mark.parametrize("ratio,advantage,zero", [
    (2.0, 1.0, True),    # above 1 + eps with A > 0: clipped, no gradient
    (0.5, -1.0, True),   # below 1 - eps with A < 0: clipped, no gradient
    (2.0, -1.0, False),  # above the clip but A < 0: the unclipped term is the minimum
    (0.5, 1.0, False),   # below the clip but A > 0: likewise
    (1.0, 1.0, False),   # inside the clip region
])
def test_ppo_clip_bounds_the_ratio(ratio, advantage, zero):
    tr = _trainer("ppo", ppo_clip=0.2)
    norm = _policy_grad_norm(tr, _ppo_batch(ratio, advantage, tr))
    assert (norm == 0.0) == zero, norm


def test_ppo_raises_won_moves_until_the_ratio_leaves_the_clip_region():
    b = _won_lost_batch()
    tr = _trainer("ppo", ppo_clip=0.1, ppo_epochs=1)
    b["behaviour_logp"] = _logp(tr, b).gather(1, torch.from_numpy(b["action"].astype(np.int64))[:, None])[:, 0].numpy()
    before = _logp(tr, b)
    stats = [tr.train_step(b) for _ in range(40)]
    after = _logp(tr, b)
    assert (after[:, 3] - before[:, 3]).mean() > 0 and (after[:, 7] - before[:, 7]).mean() < 0
    assert stats[-1]["ppo_clip_fraction"] > 0.5  # the ratio ran out of the region: those samples are clipped


@pytest.mark.parametrize("kind", ["search", "onehot"])
def test_imitation_losses_reduce_their_cross_entropy(kind):
    tr = _trainer(kind)
    b = _positions(32)
    rng = np.random.default_rng(1)
    target = rng.dirichlet(np.ones(A) * 0.3, size=4)[np.arange(32) % 4]
    b["policy"] = target.astype(np.float16)
    b["action"] = target.argmax(axis=1).astype(np.int16)
    key = "bits_soft" if kind == "search" else "bits_onehot"
    first = tr.train_step(b)
    _steps(tr, b, 20)
    last = tr.train_step(b)
    assert last["policy"] < first["policy"] - 0.2
    assert last[key] < first[key] and last["bits_per_sample"] == last[key]


def test_pg_q_raises_moves_with_positive_q_advantage():
    tr = _trainer("pg_q")
    b = _positions(32)
    b["search_value"][:] = 0.1
    b["search_q"][:] = np.nan
    b["search_q"][:, 2] = 0.6   # advantage +0.5
    b["search_q"][:, 9] = -0.4  # advantage -0.5
    before = _logp(tr, b)
    _steps(tr, b)
    after = _logp(tr, b)
    assert (after[:, 2] - before[:, 2]).min() > 0.1
    assert (after[:, 9] - before[:, 9]).max() < -0.1


def test_bits_measures_match_their_definitions():
    tr = _trainer("search")
    b = _won_lost_batch(8)
    rng = np.random.default_rng(2)
    b["policy"] = rng.dirichlet(np.ones(A), size=8).astype(np.float16)
    parts = tr.losses(tr._augment(b))
    logp = _logp(tr, b).double().numpy()
    tgt = b["policy"].astype(np.float64)
    kl = (tgt * (np.log(np.maximum(tgt, 1e-12)) - logp)).sum(axis=1).mean() / math.log(2)
    assert parts["bits_soft"].item() == pytest.approx(kl, rel=1e-3)
    onehot = -logp[np.arange(8), b["action"]].mean() / math.log(2)
    assert parts["bits_onehot"].item() == pytest.approx(onehot, rel=1e-4)
    # half won, half lost: 1 bit of outcome per game, over its 20 moves
    assert parts["bits_outcome"].item() == pytest.approx(1 / 20, rel=1e-5)
    b["value"][:] = 0
    b["value"][:, 0] = 1
    assert tr.losses(tr._augment(b))["bits_outcome"].item() == pytest.approx(0.0, abs=1e-6)


def test_noise_scale_estimator_recovers_a_known_gradient_noise():
    """Per-example gradients G + N(0, s^2 I) in d dimensions: B_simple = d s^2 / |G|^2."""
    rng = np.random.default_rng(0)
    d, s, b_small, k = 50, 2.0, 16, 64
    g = rng.normal(size=d)
    est = []
    for _ in range(20):
        per_example = g + s * rng.normal(size=(k, b_small, d))
        micro = per_example.mean(axis=1)
        small = float((micro ** 2).sum(axis=1).mean())
        big = float((micro.mean(axis=0) ** 2).sum())
        est.append(noise_scale_from_norms(small, big, b_small, b_small * k)["noise_scale"])
    truth = d * s * s / float(g @ g)
    assert np.median(est) == pytest.approx(truth, rel=0.15)


def test_gradient_noise_scale_takes_no_step():
    tr = _trainer("search")
    b = _positions(16)
    b["policy"][:] = 0
    b["policy"][:, 3] = 1
    before = [p.detach().clone() for p in tr.model.parameters()]
    out = tr.gradient_noise_scale([b, _positions(16, seed=1), _positions(16, seed=2)])
    assert out["noise_big_batch"] == 3 * out["noise_small_batch"] == 48
    assert all(torch.equal(a, p) for a, p in zip(before, tr.model.parameters(), strict=True))
    assert tr.step == 0


def test_gae_limits_and_game_boundaries():
    # two games: 3 positions (moves 0, 1, 2) won by the first mover, then 2 positions lost by the first mover
    z = np.array([1, -1, 1, -1, 1], np.float64)
    v = np.array([0.2, -0.1, 0.5, 0.3, -0.4])
    mi = np.array([0, 1, 2, 0, 1])
    gm = np.array([3, 3, 3, 2, 2])
    assert np.allclose(gae_advantages(z, v, mi, gm, 1.0), z - v, atol=1e-6)
    one_step = gae_advantages(z, v, mi, gm, 0.0)
    # the next position's value is the opponent's: -V(s') - V(s); at a game's end z - V(s)
    assert np.allclose(one_step, [0.1 - 0.2, -0.5 + 0.1, 1 - 0.5, 0.4 - 0.3, 1 + 0.4], atol=1e-6)
    mid = gae_advantages(z, v, mi, gm, 0.5)
    assert np.allclose(mid[2], one_step[2]) and np.allclose(mid[1], one_step[1] - 0.5 * one_step[2])


@pytest.mark.parametrize("override,message", [
    (["train.policy_loss=bogus"], "train.policy_loss must be one of"),
    (["selfplay.acting=bogus"], "selfplay.acting must be"),
    (["selfplay.acting=policy"], "learns from the search"),
    (["selfplay.acting=policy", "train.policy_loss=pg_q"], "learns from the search"),
    (["train.ppo_clip=1.5"], "train.ppo_clip"),
    (["train.ppo_epochs=0"], "train.ppo_epochs"),
    (["train.gae_lambda=1.5"], "train.gae_lambda"),
    (["train.reanalyse_fraction=2.0"], "train.reanalyse_fraction"),
    (["train.noise_scale_batches=1"], "train.noise_scale_batches"),
    (["train.entropy_coef=-1.0"], "train.entropy_coef"),
])
def test_signal_config_errors(override, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        load_config(preset="tiny", overrides=override)


def test_signal_configs_that_are_allowed():
    assert load_config(preset="tiny", overrides=["selfplay.acting=policy", "train.policy_loss=ppo"]).train.ppo_epochs
    cfg = load_config(preset="tiny", overrides=["selfplay.acting=policy", "train.reanalyse_fraction=1.0"])
    assert cfg.train.policy_loss == "search"  # every sample searched by the trainer


def _game_positions(n_games: int = 6, moves: int = 14, seed: int = 0) -> list[Game]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_games):
        g = Game(SIZE, Rules(komi=0.5))
        for _ in range(moves):
            legal = np.flatnonzero(g.legal_mask())
            if g.is_over:
                break
            g.play(int(rng.choice(legal)))
        out.append(g)
    return out


def test_roots_rebuilt_from_planes_encode_to_the_same_planes():
    games = _game_positions(8, 16)
    games[0].play(games[0].pass_move)  # a pass among the last moves
    enc = [encode_game(g) for g in games]
    planes = np.stack([p for p, _ in enc]).reshape(len(games), 18, SIZE, SIZE)
    glob = np.stack([q for _, q in enc])
    roots = roots_from_planes(planes, glob, SIZE)
    for i, g in enumerate(games):
        assert np.array_equal(roots["ints"][i][:NN], g.position.ints[:NN])
        assert roots["ints"][i][NN * 4 + K.S_TO_MOVE] == g.to_move
        last = np.concatenate([[roots["ints"][i][4 * NN + K.S_LAST]], roots["last"][i][:2]]).astype(np.int32)
        out_p = np.zeros((18, NN), np.uint8)
        out_g = np.zeros(NUM_GLOBALS, np.float32)
        encode(roots["ints"][i], roots["bits"][i], roots["prev"][i][0], roots["prev"][i][1], last, roots["legal"][i],
               0.5, out_p, out_g)
        assert np.array_equal(out_p, planes[i].reshape(18, NN)), i
        assert np.allclose(out_g, glob[i])


def test_reanalyse_moves_targets_toward_the_current_networks_search():
    games = _game_positions(8, 10, seed=3)
    n = len(games)
    b = empty_batch(n, NN)
    enc = [encode_game(g) for g in games]
    b["planes"] = np.stack([p for p, _ in enc]).reshape(n, 18, SIZE, SIZE)
    b["globals"] = np.stack([q for _, q in enc])
    rng = np.random.default_rng(0)
    b["policy"][:] = 0
    b["policy"][np.arange(n), rng.integers(0, NN, n)] = 1  # stale targets: one random move each
    b["value"][:, 0] = 1
    b["search_value"][:] = 1.0
    model = _model(5)
    model.eval()
    search = SearchConfig(algorithm="gumbel", simulations=16, gumbel_considered=8)
    re = Reanalyser(search, SIZE, 0.5, fraction=0.5, simulations=16, value_mix=0.5, precision="fp32", seed=0,
                    random_symmetry=False)
    out, stats = re(b, model)
    k = n // 2
    # the current network's own search of the same positions, from the games themselves
    ev = NetEvaluator(model, device="cpu", precision="fp32", random_symmetry=False)
    direct = BatchedSearch(ev, SIZE, k, search, komi=0.5, seed=1)
    for i in range(k):
        prev, last = root_inputs(games[i])
        p = games[i].position
        direct.set_root(i, p.ints, p.bits, games[i].legal_mask(), prev, last)
    ref = direct.run(simulations=16).policy_target

    assert np.abs(out["policy"][:k].astype(np.float32) - ref).max() < 2e-3  # float16 storage
    assert np.abs(b["policy"][:k].astype(np.float32) - ref).max() > 0.5
    assert np.array_equal(out["policy"][k:], b["policy"][k:])  # the rest of the batch is untouched
    assert np.all(out["value"][:k, 0] <= 1.0) and np.all(out["value"][:k, 0] >= 0.5)  # half outcome, half search
    assert np.all(np.isfinite(out["search_q"][:k][np.arange(k), out["action"][:k]]))  # the chosen move was searched
    assert stats["reanalyse_kl_bits"] > 1 and 0 < stats["reanalyse_tv"] <= 1 + 1e-6
    assert stats["reanalyse_positions"] == k
