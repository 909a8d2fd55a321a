"""The policy/value network: a residual tower with KataGo-style global pooling.

Shapes: input planes ``(B, NUM_PLANES, N, N)`` and globals ``(B, NUM_GLOBALS)``.
Outputs (a dict):

- ``policy``: ``(B, NN+1)`` logits over the points and pass
- ``value``: ``(B, 3)`` logits of win / draw / loss for the side to move
- ``score``: ``(B,)`` final area-score lead of the side to move, in points
- ``ownership``: ``(B, NN)`` in [-1, 1], +1 = the side to move owns the point

Global pooling (mean and max over the board) lets the trunk, the pass logit and the value
head see the whole board at once; the auxiliary ownership and score heads speed learning
(KataGo's ablations) and feed analysis and ``final_status_list``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .features import NUM_GLOBALS, NUM_PLANES

SCORE_SCALE = 20.0  # the score head predicts lead / SCORE_SCALE


@dataclass
class NetConfig:
    """Shape of the network. ``pool_every``: every k-th block is a global-pooling block."""

    size: int = 9
    blocks: int = 6
    channels: int = 64
    pool_channels: int = 16
    pool_every: int = 3
    head_channels: int = 32
    value_hidden: int = 64

    def to_dict(self) -> dict:
        return asdict(self)


def _pool(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, 2C): mean and max over the board."""
    return torch.cat([x.mean(dim=(2, 3)), x.amax(dim=(2, 3))], dim=1)


class ResBlock(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(ch)
        self.conv1 = nn.Conv2d(ch, ch, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(ch)
        self.conv2 = nn.Conv2d(ch, ch, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv1(F.relu(self.bn1(x)))
        y = self.conv2(F.relu(self.bn2(y)))
        return x + y


class GlobalPoolBlock(nn.Module):
    """Residual block whose middle gets a bias computed from pooled features of the board."""

    def __init__(self, ch: int, gch: int):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(ch)
        self.conv1 = nn.Conv2d(ch, ch, 3, padding=1, bias=False)
        self.convg = nn.Conv2d(ch, gch, 3, padding=1, bias=False)
        self.bng = nn.BatchNorm2d(gch)
        self.fc = nn.Linear(2 * gch, ch, bias=False)
        self.bn2 = nn.BatchNorm2d(ch)
        self.conv2 = nn.Conv2d(ch, ch, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.bn1(x))
        y = self.conv1(h)
        g = _pool(F.relu(self.bng(self.convg(h))))
        y = y + self.fc(g)[:, :, None, None]
        y = self.conv2(F.relu(self.bn2(y)))
        return x + y


class GoNet(nn.Module):
    def __init__(self, cfg: NetConfig):
        super().__init__()
        self.cfg = cfg
        ch, hc = cfg.channels, cfg.head_channels
        self.stem = nn.Conv2d(NUM_PLANES, ch, 3, padding=1, bias=False)
        self.stem_global = nn.Linear(NUM_GLOBALS, ch, bias=False)
        blocks: list[nn.Module] = []
        for i in range(cfg.blocks):
            if cfg.pool_every and (i + 1) % cfg.pool_every == 0 and i + 1 < cfg.blocks + 1:
                blocks.append(GlobalPoolBlock(ch, cfg.pool_channels))
            else:
                blocks.append(ResBlock(ch))
        self.blocks = nn.Sequential(*blocks)
        self.trunk_bn = nn.BatchNorm2d(ch)
        # policy head
        self.p_conv = nn.Conv2d(ch, hc, 1, bias=False)
        self.p_gconv = nn.Conv2d(ch, hc, 1, bias=False)
        self.p_gbn = nn.BatchNorm2d(hc)
        self.p_gfc = nn.Linear(2 * hc, hc, bias=False)
        self.p_bn = nn.BatchNorm2d(hc)
        self.p_out = nn.Conv2d(hc, 1, 1)
        self.p_pass = nn.Linear(2 * hc, 1)
        # value / score head
        self.v_conv = nn.Conv2d(ch, hc, 1, bias=False)
        self.v_bn = nn.BatchNorm2d(hc)
        self.v_fc = nn.Linear(2 * hc, cfg.value_hidden)
        self.v_out = nn.Linear(cfg.value_hidden, 3)
        self.s_out = nn.Linear(cfg.value_hidden, 1)
        # ownership head
        self.o_out = nn.Conv2d(ch, 1, 1)

    def forward(self, planes: torch.Tensor, globals_: torch.Tensor) -> dict[str, torch.Tensor]:
        x = self.stem(planes) + self.stem_global(globals_)[:, :, None, None]
        x = self.blocks(x)
        x = F.relu(self.trunk_bn(x))
        b = x.shape[0]
        # policy
        g = _pool(F.relu(self.p_gbn(self.p_gconv(x))))
        p = self.p_conv(x) + self.p_gfc(g)[:, :, None, None]
        p = self.p_out(F.relu(self.p_bn(p))).reshape(b, -1)
        policy = torch.cat([p, self.p_pass(g)], dim=1)
        # value and score
        v = _pool(F.relu(self.v_bn(self.v_conv(x))))
        v = F.relu(self.v_fc(v))
        value = self.v_out(v)
        score = self.s_out(v).squeeze(1) * SCORE_SCALE
        ownership = torch.tanh(self.o_out(x)).reshape(b, -1)
        return {"policy": policy, "value": value, "score": score, "ownership": ownership}


def build_model(cfg: NetConfig) -> GoNet:
    return GoNet(cfg)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
