"""Reanalyse (MuZero Reanalyse, Schrittwieser et al. 2021): refresh stored training targets
with the current network's search.

A share ``train.reanalyse_fraction`` of each training batch is searched again with the
trainer's newest weights (``train.reanalyse_simulations`` simulations, no root noise): its
policy target, the search's move, per-move Q and root values are replaced, and its value
target becomes ``(1 - mix) x outcome + mix x search value``. Shards hold input planes, not
rules states, so each root is rebuilt from its planes (`roots_from_planes`): stones, the
side to move, the ko point, the last moves and the two previous positions are all in the
planes, and plane 17 is the real legal mask (superko included), so the rebuilt root encodes
to the stored planes exactly. How far the targets move is measured per batch
(``reanalyse_kl_bits``: KL(stored || refreshed) in bits, large where the refreshed
completed-Q target all but excludes a move the stored one kept; ``reanalyse_tv``: their
total variation distance; ``reanalyse_value_change``: mean |refreshed - stored search value|),
not assumed.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import torch

from gozero.net.features import LAST_MOVES
from gozero.net.inference import NetEvaluator
from gozero.net.model import GoNet, build_model
from gozero.rules import BLACK, WHITE, Position
from gozero.rules import kernels as K
from gozero.search.mcts import BatchedSearch, SearchConfig

LN2 = math.log(2.0)


def roots_from_planes(planes: np.ndarray, globals_: np.ndarray, size: int) -> dict[str, np.ndarray]:
    """Search roots rebuilt from unpacked input planes (n, C, size, size) and globals (n, G):
    ``ints``/``bits`` rules states, ``legal`` (n, NN+1), ``prev`` (n, 2, NN) stones one and two
    moves back, ``last`` (n, LAST_MOVES) the moves before each root's own last move."""
    n = planes.shape[0]
    nn = size * size
    flat = planes.reshape(n, planes.shape[1], nn)
    proto = Position(size)
    ints = np.zeros((n, proto.ints.shape[0]), np.int32)
    bits = np.zeros((n, proto.bits.shape[0]), np.uint64)
    legal = np.zeros((n, nn + 1), np.bool_)
    prev = np.zeros((n, 2, nn), np.int32)
    last = np.full((n, LAST_MOVES), -1, np.int32)
    sc = proto.geo.scalars
    for i in range(n):
        me = BLACK if globals_[i, 1] > 0.5 else WHITE
        opp = 3 - me
        pos = Position(size)
        for p in np.flatnonzero(flat[i, 0]):
            pos.place_stone(me, int(p))
        for p in np.flatnonzero(flat[i, 1]):
            pos.place_stone(opp, int(p))
        pos.to_move = me
        ko = np.flatnonzero(flat[i, 13])
        pos.ints[sc + K.S_KO] = int(ko[0]) if len(ko) else -1
        passed, two_passes = globals_[i, 2] > 0.5, globals_[i, 3] > 0.5
        lm = np.flatnonzero(flat[i, 14])
        pos.ints[sc + K.S_LAST] = nn if passed else (int(lm[0]) if len(lm) else -1)
        pos.ints[sc + K.S_PASSES] = 2 if two_passes else (1 if passed else 0)
        ints[i], bits[i] = pos.ints, pos.bits
        legal[i, :nn] = flat[i, 17] > 0
        legal[i, nn] = True
        for j, (own, other) in enumerate(((2, 3), (4, 5))):
            prev[i, j] = np.where(flat[i, own] > 0, me, np.where(flat[i, other] > 0, opp, 0))
        for j in range(LAST_MOVES - 1):
            pts = np.flatnonzero(flat[i, 15 + j])
            last[i, j] = int(pts[0]) if len(pts) else -1
        if two_passes:
            last[i, 0] = nn
    return {"ints": ints, "bits": bits, "legal": legal, "prev": prev, "last": last}


class Reanalyser:
    """Refreshes the first ``fraction`` of each (uniformly sampled, so unordered) batch."""

    def __init__(self, search: SearchConfig, size: int, komi: float, fraction: float, simulations: int,
                 value_mix: float, device: torch.device | str = "cpu", precision: str = "auto",
                 allow_suicide: bool = False, seed: int | None = None, random_symmetry: bool = True):
        if not 0 < fraction <= 1:
            raise ValueError(f"reanalyse fraction must be in (0, 1], not {fraction}")
        self.cfg = replace(search, simulations=simulations)
        self.size, self.komi, self.allow_suicide = size, float(komi), allow_suicide
        self.fraction, self.value_mix = fraction, value_mix
        self.device, self.precision = device, precision
        self.seed = seed
        self.random_symmetry = random_symmetry  # a random board symmetry per network call, as in self-play
        self._search: BatchedSearch | None = None
        self._ev: NetEvaluator | None = None
        self.positions = 0  # positions reanalysed so far

    def _evaluator(self, model: GoNet) -> NetEvaluator:
        if self._ev is None:
            copy = build_model(model.cfg)
            copy.load_state_dict(model.state_dict())
            self._ev = NetEvaluator(copy, device=self.device, precision=self.precision, seed=self.seed,
                                   random_symmetry=self.random_symmetry)
        else:
            self._ev.set_model(model)
        return self._ev

    def __call__(self, batch: dict[str, np.ndarray], model: GoNet) -> tuple[dict[str, np.ndarray], dict[str, float]]:
        n = batch["policy"].shape[0]
        k = max(1, int(round(self.fraction * n)))
        ev = self._evaluator(model)
        if self._search is None or self._search.B != k:
            self._search = BatchedSearch(ev, self.size, k, self.cfg, komi=self.komi, allow_suicide=self.allow_suicide,
                                         seed=self.seed)
        search = self._search
        search.ev = ev
        roots = roots_from_planes(batch["planes"][:k], batch["globals"][:k], self.size)
        for b in range(k):
            search.set_root(b, roots["ints"][b], roots["bits"][b], roots["legal"][b], roots["prev"][b],
                            roots["last"][b])
        res = search.run(simulations=self.cfg.simulations)
        out = {key: np.array(v, copy=True) for key, v in batch.items()}
        old = out["policy"][:k].astype(np.float64)
        new = res.policy_target[:k].astype(np.float64)
        stats = {}
        had = out["policy_weight"][:k] > 0
        if had.any():
            kl = (old * (np.log(np.maximum(old, 1e-12)) - np.log(np.maximum(new, 1e-12)))).sum(axis=1)
            stats["reanalyse_kl_bits"] = float(kl[had].mean() / LN2)
            stats["reanalyse_tv"] = float(0.5 * np.abs(old - new).sum(axis=1)[had].mean())
        stored_v = out["search_value"][:k]
        known = np.isfinite(stored_v)
        if known.any():
            stats["reanalyse_value_change"] = float(np.abs(res.root_q[:k] - stored_v)[known].mean())
        out["policy"][:k] = new.astype(out["policy"].dtype)
        out["policy_weight"][:k] = 1.0
        q = np.clip(res.root_q[:k], -1.0, 1.0)
        wdl = np.stack([(1 + q) / 2, np.zeros_like(q), (1 - q) / 2], axis=1)
        out["value"][:k] = ((1 - self.value_mix) * out["value"][:k] + self.value_mix * wdl).astype(np.float32)
        out["action"][:k] = res.action[:k]
        out["root_value"][:k] = res.value[:k]
        out["search_value"][:k] = res.root_q[:k]
        out["search_q"][:k] = np.where(res.visits[:k] > 0, res.q[:k], np.nan).astype(out["search_q"].dtype)
        stats["reanalyse_positions"] = float(k)
        self.positions += k
        return out, stats


__all__ = ["Reanalyser", "roots_from_planes"]
