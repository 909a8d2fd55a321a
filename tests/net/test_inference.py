"""The network and its evaluator: output shapes, symmetry mapping, checkpoints, bf16."""

from importlib import resources

import numpy as np
import pytest
import torch
from torch import nn

from gozero.net.features import NUM_GLOBALS, NUM_PLANES, encode_game, symmetry_indices
from gozero.net.inference import NetEvaluator, compile_cache_dir, load_checkpoint_model
from gozero.net.model import NetConfig, build_model, count_parameters
from gozero.rules import BLACK, WHITE, Game, Rules, from_gtp
from gozero.train.loop import save_model_file

TINY = dict(blocks=2, channels=16, pool_channels=4, pool_every=2, head_channels=8, value_hidden=16)


def _batch(size: int, games: list[list[str]]) -> tuple[np.ndarray, np.ndarray]:
    planes, globs = [], []
    for moves in games:
        g = Game(size, Rules(komi=7.5))
        for m in moves:
            g.play(from_gtp(m, size))
        p, gl = encode_game(g)
        planes.append(p)
        globs.append(gl)
    return np.stack(planes), np.stack(globs)


def _model(size: int, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    m = build_model(NetConfig(size=size, **TINY))
    # random BN statistics so that eval mode is not a near-identity network
    for mod in m.modules():
        if isinstance(mod, nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.5, 0.5)
            mod.running_var.uniform_(0.5, 2.0)
    return m.eval()


@pytest.mark.parametrize("size", [5, 9, 19])
def test_model_output_shapes(size):
    m = _model(size)
    nn_ = size * size
    out = m(torch.zeros(3, NUM_PLANES, size, size), torch.zeros(3, NUM_GLOBALS))
    assert out["policy"].shape == (3, nn_ + 1)
    assert out["value"].shape == (3, 3)
    assert out["score"].shape == (3,)
    assert out["ownership"].shape == (3, nn_)
    assert out["ownership"].abs().max() <= 1
    ev = NetEvaluator(m, device="cpu", precision="fp32", random_symmetry=False)
    planes, globs = _batch(size, [[], ["C3"]])
    r = ev.evaluate(planes, globs)
    assert r.policy.shape == (2, nn_ + 1) and r.value.shape == (2,) and r.ownership.shape == (2, nn_)
    assert r.policy.dtype == np.float32 and np.all(np.abs(r.value) <= 1)
    assert ev.evaluations == 2
    with pytest.raises(ValueError, match="bad input shapes"):
        ev.evaluate(planes[:, :5], globs)


class PointwiseNet(nn.Module):
    """A symmetry-equivariant stand-in: 1x1 convolutions only, so rotating the input rotates
    the policy and ownership exactly, and the value ignores orientation."""

    def __init__(self, size: int):
        super().__init__()
        self.cfg = NetConfig(size=size)
        torch.manual_seed(3)
        self.p = nn.Conv2d(NUM_PLANES, 1, 1)
        self.o = nn.Conv2d(NUM_PLANES, 1, 1)

    def forward(self, planes, globals_):
        b = planes.shape[0]
        p = self.p(planes).reshape(b, -1)
        value = torch.stack([p.mean(1), p.amax(1), p.amin(1)], dim=1)
        return {"policy": torch.cat([p, p.mean(1, keepdim=True)], 1), "value": value, "score": p.sum(1),
                "ownership": torch.tanh(self.o(planes)).reshape(b, -1)}


def test_symmetric_evaluations_map_back_to_the_original_board():
    size = 5
    planes, globs = _batch(size, [["B4", "C2", "E5"], ["A1", "D3", "D2", "B2"]])
    ev = NetEvaluator(PointwiseNet(size), device="cpu", precision="fp32", random_symmetry=False)
    ref = ev.evaluate(planes, globs)
    seen = set()
    sym_ev = NetEvaluator(PointwiseNet(size), device="cpu", precision="fp32", random_symmetry=True, seed=1)
    for _ in range(40):
        r = sym_ev.evaluate(planes, globs)
        np.testing.assert_allclose(r.policy, ref.policy, atol=1e-5)
        np.testing.assert_allclose(r.ownership, ref.ownership, atol=1e-5)
        np.testing.assert_allclose(r.value, ref.value, atol=1e-5)
    # and with a real (non-equivariant) network: forcing symmetry s equals evaluating the
    # transformed board and reading its outputs at the transformed points
    m = _model(size)
    idx = symmetry_indices(size)
    plain = NetEvaluator(m, device="cpu", precision="fp32", random_symmetry=False)
    for s in range(8):
        forced = NetEvaluator(m, device="cpu", precision="fp32", random_symmetry=True)
        forced.rng = type("R", (), {"integers": staticmethod(lambda n, s=s: s)})()
        a = forced.evaluate(planes, globs)
        b = plain.evaluate(np.ascontiguousarray(planes[:, :, idx[s]]), globs)
        np.testing.assert_allclose(a.policy[:, :-1][:, idx[s]], b.policy[:, :-1], atol=1e-5)
        np.testing.assert_allclose(a.policy[:, -1], b.policy[:, -1], atol=1e-5)
        np.testing.assert_allclose(a.ownership[:, idx[s]], b.ownership, atol=1e-5)
        seen.add(s)
    assert seen == set(range(8))


def test_random_symmetry_keeps_the_value_of_a_symmetric_position():
    size = 5
    planes, globs = _batch(size, [[], ["C3"]])  # 8-fold symmetric, history and last moves included
    g = Game(size, Rules(komi=7.5))
    for color, points in ((BLACK, ["C3", "A1", "A5", "E1", "E5"]), (WHITE, ["A3", "E3", "C1", "C5"])):
        for v in points:
            g.place_setup(color, from_gtp(v, size))
    p, gl = encode_game(g)
    planes, globs = np.concatenate([planes, p[None]]), np.concatenate([globs, gl[None]])
    m = _model(size, seed=5)
    ref = NetEvaluator(m, device="cpu", precision="fp32", random_symmetry=False).evaluate(planes, globs)
    ev = NetEvaluator(m, device="cpu", precision="fp32", random_symmetry=True, seed=0)
    for _ in range(16):
        r = ev.evaluate(planes, globs)
        np.testing.assert_allclose(r.value, ref.value, atol=1e-5)
        np.testing.assert_allclose(r.score, ref.score, atol=1e-4)
    asym, aglobs = _batch(size, [["A1", "B1"]])
    values = {round(float(ev.evaluate(asym, aglobs).value[0]), 5) for _ in range(24)}
    assert len(values) > 1  # the test can see a difference where one exists


def test_checkpoint_round_trip(tmp_path):
    m = _model(9, seed=7)
    path = tmp_path / "m.pt"
    save_model_file(m, m.cfg, path, step=12)
    loaded, meta = load_checkpoint_model(path)
    assert meta["step"] == 12 and NetConfig(**meta["net"]) == m.cfg
    assert count_parameters(loaded) == count_parameters(m)
    planes, globs = _batch(9, [["E5", "C3"], []])
    x = torch.from_numpy(planes.reshape(2, NUM_PLANES, 9, 9)).float()
    g = torch.from_numpy(globs)
    with torch.no_grad():
        a, b = m(x, g), loaded(x, g)
    for k in a:
        torch.testing.assert_close(a[k], b[k])
    torch.save({"weights": 1}, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="not a gozero checkpoint"):
        load_checkpoint_model(tmp_path / "bad.pt")


def test_bf16_outputs_are_close_to_fp32():
    path = resources.files("gozero") / "models" / "9x9.pt"
    model, _ = load_checkpoint_model(path)
    planes, globs = _batch(9, [[], ["E5", "C3", "G7"], ["E5", "E4", "D4", "D5", "C5", "F5", "pass"],
                               ["C3", "G7", "C7", "G3", "E5", "E3", "D3", "E4"]])
    fp32 = NetEvaluator(model, device="cpu", precision="fp32", random_symmetry=False).evaluate(planes, globs)
    bf16 = NetEvaluator(model, device="cpu", precision="bf16", random_symmetry=False).evaluate(planes, globs)

    def logp(x):
        x = x - x.max(axis=1, keepdims=True)
        return x - np.log(np.exp(x).sum(axis=1, keepdims=True))

    lp, lq = logp(fp32.policy.astype(np.float64)), logp(bf16.policy.astype(np.float64))
    kl = float((np.exp(lp) * (lp - lq)).sum(axis=1).max())
    dv = float(np.abs(fp32.value - bf16.value).max())
    msg = f"bf16 vs fp32: max policy KL {kl:.2e} nats, max value diff {dv:.3e}"
    assert kl < 0.02, msg
    assert dv < 0.05, msg
    assert np.abs(fp32.ownership - bf16.ownership).max() < 0.1, msg
    print(msg)


# -- torch.compile: where it pays, cached, and a fallback --------------------------------------

def test_auto_compile_leaves_small_networks_and_unsupported_setups_eager(monkeypatch):
    ev = NetEvaluator(_model(5), device="cpu", precision="fp32")
    assert ev.compile_status.startswith("eager: a small network")
    planes, globs = _batch(5, [["C3"], []])
    ev.evaluate(planes, globs, 5)
    assert not ev.compiled and not ev.build()
    assert NetEvaluator(_model(5), device="cpu", compile=True).compile_status.startswith("eager: a small")
    monkeypatch.setenv("GOZERO_COMPILE", "0")
    off = NetEvaluator(_model(5), device="cpu", precision="fp32", compile="always")
    assert off.compile_status == "eager: GOZERO_COMPILE=0" and not off.build()
    with pytest.raises(ValueError, match="compile"):
        NetEvaluator(_model(5), device="cpu", compile="sometimes")


def test_a_failed_build_falls_back_to_eager(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("no compiler here")

    monkeypatch.setattr(torch, "compile", broken)
    model = _model(5)
    ev = NetEvaluator(model, device="cpu", precision="fp32", compile="always", random_symmetry=False)
    planes, globs = _batch(5, [["C3"], ["B2", "D4"]])
    out = ev.evaluate(planes, globs, 5)
    assert ev.compile_status.startswith("eager: torch.compile failed (RuntimeError: no compiler here")
    ref = NetEvaluator(model, device="cpu", precision="fp32", compile=False, random_symmetry=False)
    np.testing.assert_allclose(out.policy, ref.evaluate(planes, globs, 5).policy, rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_compiled_network_matches_eager_and_follows_new_weights():
    model = _model(5)
    ev = NetEvaluator(model, device="cpu", precision="fp32", compile="always", random_symmetry=False)
    planes, globs = _batch(5, [["C3"], ["B2", "D4"], [], ["A1"]])
    eager = NetEvaluator(model, device="cpu", precision="fp32", compile=False, random_symmetry=False)
    assert ev.compile_status == "eager"
    ev.evaluate(planes, globs, 5)  # the first call builds
    assert ev.compiled, ev.compile_status
    for n in (4, 3):  # one build serves every batch size
        got, want = ev.evaluate(planes[:n], globs[:n], 5), eager.evaluate(planes[:n], globs[:n], 5)
        np.testing.assert_allclose(got.policy, want.policy, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(got.value, want.value, rtol=1e-4, atol=1e-4)
    # new weights reach the compiled network without a rebuild
    ev.set_model(_model(5, seed=1))
    other = NetEvaluator(_model(5, seed=1), device="cpu", precision="fp32", compile=False, random_symmetry=False)
    np.testing.assert_allclose(ev.evaluate(planes, globs, 5).policy, other.evaluate(planes, globs, 5).policy,
                               rtol=1e-4, atol=1e-4)
    assert any(compile_cache_dir().rglob("*.py"))  # the build is on disk for the next process
