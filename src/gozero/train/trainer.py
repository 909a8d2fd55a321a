"""The trainer: losses, optimizer, learning-rate schedule, symmetry augmentation.

Loss = policy cross-entropy (weighted by the playout-cap policy weight)
     + value_weight x win/draw/loss cross-entropy
     + ownership_weight x mean squared ownership error (settled games only)
     + score_weight x Huber loss of the score lead (settled games only).
The same trainer serves self-play (reinforcement) and SGF collections (supervised).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from gozero.net.features import symmetry_indices
from gozero.net.model import GoNet

from .config import TrainConfig


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
                 seed: int | None = None):
        self.model = model.to(device)
        self.cfg = cfg
        self.device = device
        self.opt = make_optimizer(self.model, cfg)
        self.step = 0
        self.total_steps = total_steps
        self.rng = np.random.default_rng(seed)
        size = model.cfg.size
        self.nn = size * size
        self.sym = torch.from_numpy(symmetry_indices(size))

    def _augment(self, batch: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
        dev = self.device
        planes = torch.from_numpy(batch["planes"]).to(dev).float()
        b, c, n, _ = planes.shape
        policy = torch.from_numpy(batch["policy"].astype(np.float32)).to(dev)
        own = torch.from_numpy(batch["ownership"].astype(np.float32)).to(dev)
        if self.cfg.symmetry_augment:
            s = int(self.rng.integers(8))
            if s:
                idx = self.sym[s].to(dev)
                planes = planes.reshape(b, c, -1)[:, :, idx].reshape(b, c, n, n)
                policy = torch.cat([policy[:, :-1][:, idx], policy[:, -1:]], dim=1)
                own = own[:, idx]
        return {
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
        out = self.model(t["planes"], t["globals"])
        cfg = self.cfg
        logp = F.log_softmax(out["policy"], dim=1)
        pw = t["policy_weight"]
        policy = -(t["policy"] * logp).sum(dim=1)
        policy = (policy * pw).sum() / pw.sum().clamp(min=1.0)
        value = -(t["value"] * F.log_softmax(out["value"], dim=1)).sum(dim=1).mean()
        aw = t["aux_weight"]
        aw_sum = aw.sum().clamp(min=1.0)
        own = (((out["ownership"] - t["ownership"]) ** 2).mean(dim=1) * aw).sum() / aw_sum
        score = (F.huber_loss(out["score"], t["score"], reduction="none", delta=10.0) * aw).sum() / aw_sum
        total = policy + cfg.value_weight * value + cfg.ownership_weight * own + cfg.score_weight * score
        with torch.no_grad():
            target_entropy = -(t["policy"] * torch.log(t["policy"].clamp(min=1e-12))).sum(dim=1)
            target_entropy = (target_entropy * pw).sum() / pw.sum().clamp(min=1.0)
        return {"loss": total, "policy": policy, "value": value, "ownership": own, "score": score,
                "policy_kl": policy - target_entropy}

    def train_step(self, batch: dict[str, np.ndarray]) -> dict[str, float]:
        self.model.train()
        lr = learning_rate(self.cfg, self.step, self.total_steps)
        for g in self.opt.param_groups:
            g["lr"] = lr
        t = self._augment(batch)
        parts = self.losses(t)
        self.opt.zero_grad(set_to_none=True)
        parts["loss"].backward()
        gnorm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
        self.opt.step()
        self.step += 1
        stats = {k: float(v.detach()) for k, v in parts.items()}
        stats["lr"] = lr
        stats["grad_norm"] = float(gnorm)
        return stats
