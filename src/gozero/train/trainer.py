"""The trainer: losses, optimizer, learning-rate schedule, symmetry augmentation.

Loss = policy loss (``train.policy_loss``, below)
     + value_weight x win/draw/loss cross-entropy
     + ownership_weight x mean squared ownership error (settled games only)
     + score_weight x Huber loss of the score lead (settled games only).
The same trainer serves self-play (reinforcement) and SGF collections (supervised).

Policy losses (one switch, the same network and trainer otherwise; z is the game's outcome
from the side to move, +1 win, 0 draw, -1 loss):

- ``search``: cross-entropy to the search's policy target (weighted by the policy weight)
- ``onehot``: cross-entropy to the move the search chose (``action``)
- ``reinforce``: -z log pi(a) for the move played, minus ``entropy_coef`` x entropy
- ``ppo``: clipped surrogate -min(r A, clip(r, 1-eps, 1+eps) A), r = pi(a) / pi_behaviour(a),
  A = z - V(s) with the current value head as the baseline (or GAE with ``gae_lambda`` < 1,
  over the stored root values), ``ppo_epochs`` optimizer steps per batch
- ``pg_q``: -sum_a pi(a) (Q(s, a) - V(s)) over the root edges the search visited (the
  search's per-move advantage, unvisited moves 0): per-move credit without imitation

The policy-gradient losses use the policy over the legal moves (input plane 17 and pass).
Each step also measures the information of its target against the current policy in bits
(`bits_*` stats, see `Trainer.losses`), and `gradient_noise_scale` estimates McCandlish et
al.'s B_simple from micro-batch gradient norms.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from gozero.net.features import inverse_symmetry_indices, symmetry_indices
from gozero.net.model import GoNet

from .config import POLICY_LOSSES, TrainConfig

PG_LOSSES = ("reinforce", "ppo", "pg_q")
LN2 = math.log(2.0)
LEGAL_PLANE = 17


def make_optimizer(model: GoNet, cfg: TrainConfig) -> torch.optim.Optimizer:
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.ndim == 1 or "bn" in name else decay).append(p)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=True)
    return torch.optim.AdamW(groups, lr=cfg.lr)


def learning_rate(cfg: TrainConfig, step: int, total_steps: int = 0) -> float:
    lr = cfg.lr
    if cfg.warmup_steps and step < cfg.warmup_steps:
        return lr * (step + 1) / cfg.warmup_steps
    if cfg.lr_schedule == "cosine" and total_steps > cfg.warmup_steps:
        t = min(1.0, (step - cfg.warmup_steps) / (total_steps - cfg.warmup_steps))
        lo = cfg.min_lr_fraction
        return lr * (lo + (1 - lo) * 0.5 * (1 + math.cos(math.pi * t)))
    return lr


class Trainer:
    """Owns the model's optimizer state and takes training steps on sampled batches."""

    def __init__(self, model: GoNet, cfg: TrainConfig, device: torch.device, total_steps: int = 0,
                 seed: int | None = None, reanalyser=None):
        """``reanalyser``: a `reanalyse.Reanalyser` that refreshes a share of each batch
        with the current network's search before the step (None: off)."""
        if cfg.policy_loss not in POLICY_LOSSES:
            raise ValueError(f"train.policy_loss must be one of {', '.join(POLICY_LOSSES)}, not {cfg.policy_loss!r}")
        self.model = model.to(device)
        self.reanalyser = reanalyser
        self.cfg = cfg
        self.device = device
        self.opt = make_optimizer(self.model, cfg)
        self.step = 0
        self.total_steps = total_steps
        self.rng = np.random.default_rng(seed)
        size = model.cfg.size
        self.nn = size * size
        self.sym = torch.from_numpy(symmetry_indices(size))
        self.inv_sym = torch.from_numpy(inverse_symmetry_indices(size))

    def _augment(self, batch: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
        dev = self.device
        planes = torch.from_numpy(batch["planes"]).to(dev).float()
        b, c, n, _ = planes.shape
        policy = torch.from_numpy(batch["policy"].astype(np.float32)).to(dev)
        own = torch.from_numpy(batch["ownership"].astype(np.float32)).to(dev)
        nn = n * n
        action = torch.from_numpy(np.asarray(batch.get("action", np.full(b, -1)), np.int64)).to(dev)
        search_q = torch.from_numpy(np.asarray(batch.get("search_q", np.full((b, nn + 1), np.nan)),
                                               np.float32)).to(dev)
        if self.cfg.symmetry_augment:
            s = int(self.rng.integers(8))
            if s:
                idx = self.sym[s].to(dev)
                planes = planes.reshape(b, c, -1)[:, :, idx].reshape(b, c, n, n)
                policy = torch.cat([policy[:, :-1][:, idx], policy[:, -1:]], dim=1)
                search_q = torch.cat([search_q[:, :-1][:, idx], search_q[:, -1:]], dim=1)
                own = own[:, idx]
                on_board = (action >= 0) & (action < nn)
                action = torch.where(on_board, self.inv_sym[s].to(dev)[action.clamp(0, nn - 1)], action)
        extra = {}
        for k in ("behaviour_logp", "root_value", "search_value", "game_moves", "advantage"):
            if k in batch:
                extra[k] = torch.from_numpy(np.asarray(batch[k], np.float32)).to(dev)
        return {
            "action": action,
            "search_q": search_q,
            **extra,
            "planes": planes,
            "globals": torch.from_numpy(batch["globals"]).to(dev),
            "policy": policy,
            "policy_weight": torch.from_numpy(batch["policy_weight"]).to(dev),
            "value": torch.from_numpy(batch["value"]).to(dev),
            "ownership": own,
            "score": torch.from_numpy(batch["score"]).to(dev),
            "aux_weight": torch.from_numpy(batch["aux_weight"]).to(dev),
        }

    def losses(self, t: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """All loss terms of one batch and, detached, its signal measures: ``bits_soft``
        KL(search target || pi) in bits, ``bits_onehot`` -log2 pi(a*) of the search's move,
        ``bits_outcome`` H(outcome) / moves of the game (the outcome's entropy over the
        batch, shared by every move of its game), and ``bits_per_sample``, the one that the
        policy loss learns from (the soft KL for ``search`` and ``pg_q``, whose Q is the
        information of the completed-Q target)."""
        out = self.model(t["planes"], t["globals"])
        cfg = self.cfg
        kind = cfg.policy_loss
        logits = out["policy"]
        b = logits.shape[0]
        logp = F.log_softmax(logits, dim=1)
        legal = torch.cat([t["planes"][:, LEGAL_PLANE].reshape(b, -1) > 0.5,
                           torch.ones(b, 1, dtype=torch.bool, device=logits.device)], dim=1)
        legal_logp = F.log_softmax(logits.masked_fill(~legal, -1e9), dim=1)
        legal_p = legal_logp.exp()
        entropy = -(legal_p * legal_logp).masked_fill(~legal, 0.0).sum(dim=1)
        pw = t["policy_weight"]
        z = t["value"][:, 0] - t["value"][:, 2]
        action = t["action"]
        chosen = torch.where(action >= 0, action, t["policy"].argmax(dim=1))  # old shards: the target's mode
        if kind in ("search", "onehot"):
            pi_logp = logp
            if kind == "search":
                per = -(t["policy"] * logp).sum(dim=1)
            else:
                per = -logp.gather(1, chosen[:, None])[:, 0]
            policy = (per * pw).sum() / pw.sum().clamp(min=1.0)
        else:
            pi_logp = legal_logp
            lp_a = legal_logp.gather(1, action.clamp(min=0)[:, None])[:, 0]
            if kind == "reinforce":
                valid = (action >= 0).float()
                per = -z * lp_a
            elif kind == "ppo":
                blogp = t.get("behaviour_logp", torch.full_like(z, float("nan")))
                valid = ((action >= 0) & torch.isfinite(blogp)).float()
                ratio = torch.exp(lp_a - torch.nan_to_num(blogp, nan=0.0))
                adv = t["ppo_advantage"]
                clipped = ratio.clamp(1 - cfg.ppo_clip, 1 + cfg.ppo_clip)
                per = -torch.minimum(ratio * adv, clipped * adv)
            else:  # pg_q
                v = t.get("search_value", torch.full_like(z, float("nan")))
                valid = torch.isfinite(v).float()
                adv_q = torch.nan_to_num(t["search_q"] - torch.nan_to_num(v, nan=0.0)[:, None], nan=0.0)
                adv_q = adv_q.masked_fill(~legal, 0.0)
                per = -(legal_p * adv_q).sum(dim=1)
            per = per - cfg.entropy_coef * entropy
            policy = (per * valid).sum() / valid.sum().clamp(min=1.0)
        value = -(t["value"] * F.log_softmax(out["value"], dim=1)).sum(dim=1).mean()
        aw = t["aux_weight"]
        aw_sum = aw.sum().clamp(min=1.0)
        own = (((out["ownership"] - t["ownership"]) ** 2).mean(dim=1) * aw).sum() / aw_sum
        score = (F.huber_loss(out["score"], t["score"], reduction="none", delta=10.0) * aw).sum() / aw_sum
        total = policy + cfg.value_weight * value + cfg.ownership_weight * own + cfg.score_weight * score
        parts = {"loss": total, "policy": policy, "value": value, "ownership": own, "score": score}
        with torch.no_grad():
            target = t["policy"]
            target_entropy = -(target * torch.log(target.clamp(min=1e-12))).sum(dim=1)
            pw_sum = pw.sum().clamp(min=1.0)
            cross = -(target * pi_logp.clamp(min=-1e4)).sum(dim=1)
            parts["policy_kl"] = ((cross - target_entropy) * pw).sum() / pw_sum
            parts["bits_soft"] = parts["policy_kl"] / LN2
            parts["bits_onehot"] = -(pi_logp.gather(1, chosen[:, None])[:, 0].clamp(min=-1e4) * pw).sum() / pw_sum / LN2
            freq = t["value"].mean(dim=0)
            h_outcome = -(freq * torch.log2(freq.clamp(min=1e-12))).sum()
            moves = t.get("game_moves")
            if moves is not None and bool((moves > 0).any()):
                known = moves > 0
                parts["bits_outcome"] = (h_outcome / moves[known]).mean()
            parts["bits_per_sample"] = parts.get({"search": "bits_soft", "pg_q": "bits_soft",
                                                  "onehot": "bits_onehot"}.get(kind, "bits_outcome"),
                                                 torch.tensor(float("nan")))
            parts["policy_entropy"] = entropy.mean()
            if kind == "ppo":
                sel = valid > 0
                if bool(sel.any()):
                    parts["ppo_ratio"] = ratio[sel].mean()
                    parts["ppo_clip_fraction"] = ((ratio[sel] - 1).abs() > cfg.ppo_clip).float().mean()
                    parts["ppo_approx_kl"] = (torch.nan_to_num(blogp, nan=0.0) - lp_a)[sel].mean()
        return parts

    def _ppo_advantage(self, t: dict[str, torch.Tensor]) -> torch.Tensor:
        """The fixed advantage of a PPO batch: the stored GAE where ``gae_lambda`` < 1 and it
        is known, else z - V(s) with the value head before the batch's first epoch."""
        z = t["value"][:, 0] - t["value"][:, 2]
        with torch.no_grad():
            wdl = torch.softmax(self.model(t["planes"], t["globals"])["value"], dim=1)
            adv = z - (wdl[:, 0] - wdl[:, 2])
        if self.cfg.gae_lambda < 1.0 and "advantage" in t:
            gae = t["advantage"]
            adv = torch.where(torch.isfinite(gae), gae, adv)
        return adv

    def prepare(self, batch: dict[str, np.ndarray]) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
        """Reanalyse (if on), augment and move a batch to the device; the reanalyse stats."""
        stats: dict[str, float] = {}
        if self.reanalyser is not None:
            batch, stats = self.reanalyser(batch, self.model)
        t = self._augment(batch)
        if self.cfg.policy_loss == "ppo":
            t["ppo_advantage"] = self._ppo_advantage(t)
        return t, stats

    def gradient_noise_scale(self, batches: list[dict[str, np.ndarray]]) -> dict[str, float]:
        """B_simple = tr(Sigma) / |G|^2 of the policy loss (McCandlish et al. 2018, appendix A)
        from k micro-batches of size b: |G_small|^2 is the mean squared norm of their
        gradients, |G_big|^2 that of their mean (a batch of k b), and
        |G|^2 = (B_big |G_big|^2 - B_small |G_small|^2) / (B_big - B_small),
        tr(Sigma) = (|G_small|^2 - |G_big|^2) / (1 / B_small - 1 / B_big). No step is taken."""
        if len(batches) < 2:
            raise ValueError("the gradient noise scale needs at least two micro-batches")
        self.model.train()
        params = [p for p in self.model.parameters() if p.requires_grad]
        grads, small = [], 0.0
        b_small = float(batches[0]["policy_weight"].shape[0])
        for batch in batches:
            t, _ = self.prepare(batch)
            self.model.zero_grad(set_to_none=True)
            self.losses(t)["policy"].backward()
            g = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in params])
            grads.append(g.detach().clone())
            small += float(g.pow(2).sum()) / len(batches)
        self.model.zero_grad(set_to_none=True)
        big = float(torch.stack(grads).mean(dim=0).pow(2).sum())
        return noise_scale_from_norms(small, big, b_small, b_small * len(batches))


    def train_step(self, batch: dict[str, np.ndarray]) -> dict[str, float]:
        self.model.train()
        lr = learning_rate(self.cfg, self.step, self.total_steps)
        for g in self.opt.param_groups:
            g["lr"] = lr
        t, extra = self.prepare(batch)
        epochs = self.cfg.ppo_epochs if self.cfg.policy_loss == "ppo" else 1
        first: dict[str, torch.Tensor] = {}
        for epoch in range(epochs):
            parts = self.losses(t)
            self.opt.zero_grad(set_to_none=True)
            parts["loss"].backward()
            gnorm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
            self.opt.step()
            if epoch == 0:
                first = parts
        self.step += 1
        # losses and bits of the batch as it came (first epoch); PPO's ratio stats after the last
        stats = {k: float(v.detach()) for k, v in first.items()}
        for k in ("ppo_ratio", "ppo_clip_fraction", "ppo_approx_kl"):
            if k in parts:
                stats[k] = float(parts[k].detach())
        stats.update(extra)
        stats["lr"] = lr
        stats["grad_norm"] = float(gnorm)
        return stats


def noise_scale_from_norms(small_sq: float, big_sq: float, b_small: float, b_big: float) -> dict[str, float]:
    """McCandlish et al.'s unbiased estimates from squared gradient norms at two batch sizes:
    |G|^2, tr(Sigma) and B_simple = tr(Sigma) / |G|^2 (NaN when the |G|^2 estimate is not
    positive: too few micro-batches for a gradient that small)."""
    g2 = (b_big * big_sq - b_small * small_sq) / (b_big - b_small)
    trace = (small_sq - big_sq) / (1 / b_small - 1 / b_big)
    return {"noise_scale": trace / g2 if g2 > 0 else float("nan"), "noise_grad_sq": g2, "noise_trace": trace,
            "noise_small_batch": b_small, "noise_big_batch": b_big}
