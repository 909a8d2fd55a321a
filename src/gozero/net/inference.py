"""Batched inference: the network as the search sees it (numpy in, numpy out).

`NetEvaluator` picks the device (CUDA, MPS, CPU), the precision (bf16 autocast on GPUs and on
CPUs with native bf16 instructions, fp32 otherwise; see `cpu_has_fast_bf16`) and optionally
``torch.compile``; it applies a random board symmetry per call when asked and maps the
outputs back. Outputs are float32 numpy: policy logits (B, NN+1), value in [-1, 1]
(P(win) - P(loss), side to move), score lead (B,), ownership (B, NN).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .features import NUM_GLOBALS, NUM_PLANES, inverse_symmetry_indices, symmetry_indices
from .model import GoNet, NetConfig, build_model


def pick_device(name: str = "auto") -> torch.device:
    """``auto`` prefers CUDA, then Apple's MPS, then the CPU."""
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def cpu_has_fast_bf16() -> bool:
    """Whether this CPU runs bf16 convolutions natively (AVX512-BF16 or AMX) through oneDNN.

    There bf16 autocast runs the 6x64 net 2-3x faster than fp32 with a policy KL of ~1e-4
    and value differences of ~1e-3 (bench/net_bench.py); CPUs that would only emulate bf16
    stay on fp32.
    """
    cpu = getattr(torch, "cpu", None)
    native = any(bool(getattr(cpu, name, lambda: False)()) for name in
                 ("_is_avx512_bf16_supported", "_is_amx_tile_supported"))
    try:
        onednn = bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        onednn = False
    return native and onednn


def load_checkpoint_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[GoNet, dict]:
    """The model of a training checkpoint or a shipped model file, and the file's metadata."""
    data = torch.load(Path(path), map_location="cpu", weights_only=False)
    if not isinstance(data, dict) or "model" not in data or "net" not in data:
        raise ValueError(f"{path} is not a gozero checkpoint (no 'model'/'net' entries)")
    model = build_model(NetConfig(**data["net"]))
    model.load_state_dict(data["model"])
    model.to(device)
    model.eval()
    return model, data


@dataclass
class NetOutput:
    policy: np.ndarray
    value: np.ndarray
    score: np.ndarray
    ownership: np.ndarray


class NetEvaluator:
    """Evaluate batches of positions with a fixed model (eval mode, no gradients)."""

    def __init__(self, model: GoNet, device: str | torch.device = "auto", precision: str = "auto",
                 compile: bool = False, random_symmetry: bool = True, seed: int | None = None):
        self.device = pick_device(device) if isinstance(device, str) else device
        self.model = model.to(self.device).eval()
        if precision == "auto":
            fast_bf16 = self.device.type == "cuda" or (self.device.type == "cpu" and cpu_has_fast_bf16())
            precision = "bf16" if fast_bf16 else "fp32"
        if precision not in ("fp32", "bf16", "fp16"):
            raise ValueError(f"unknown precision {precision!r}")
        self.precision = precision
        if self.device.type in ("cpu", "cuda"):
            self.model = self.model.to(memory_format=torch.channels_last)
        self._forward = torch.compile(self.model, dynamic=True) if compile else self.model
        self.random_symmetry = random_symmetry
        self.rng = np.random.default_rng(seed)
        self.size = model.cfg.size
        self._sym = {}
        self.evaluations = 0

    def _sym_tables(self, size: int) -> tuple[np.ndarray, np.ndarray]:
        if size not in self._sym:
            self._sym[size] = (symmetry_indices(size), inverse_symmetry_indices(size))
        return self._sym[size]

    def set_model(self, model: GoNet) -> None:
        """Swap in new weights (self-play picks up each new checkpoint)."""
        self.model.load_state_dict(model.state_dict())

    @torch.inference_mode()
    def evaluate(self, planes: np.ndarray, globals_: np.ndarray, size: int | None = None) -> NetOutput:
        """planes: (B, NUM_PLANES, NN) uint8; globals_: (B, NUM_GLOBALS) float32."""
        b, c, nn = planes.shape
        if c != NUM_PLANES or globals_.shape != (b, NUM_GLOBALS):
            raise ValueError(f"bad input shapes {planes.shape}, {globals_.shape}")
        size = size or int(round(nn**0.5))
        sym = 0
        if self.random_symmetry:
            sym = int(self.rng.integers(8))
        fwd, inv = self._sym_tables(size)
        x = planes[:, :, fwd[sym]] if sym else planes
        xt = torch.from_numpy(np.ascontiguousarray(x)).to(self.device, non_blocking=True)
        xt = xt.reshape(b, c, size, size).float()
        if self.device.type in ("cpu", "cuda"):
            xt = xt.contiguous(memory_format=torch.channels_last)
        gt = torch.from_numpy(globals_).to(self.device)
        if self.precision == "fp32":
            out = self._forward(xt, gt)
        else:
            dtype = torch.bfloat16 if self.precision == "bf16" else torch.float16
            with torch.autocast(self.device.type, dtype=dtype):
                out = self._forward(xt, gt)
        policy = out["policy"].float().cpu().numpy()
        wdl = torch.softmax(out["value"].float(), dim=1).cpu().numpy()
        score = out["score"].float().cpu().numpy()
        own = out["ownership"].float().cpu().numpy()
        if sym:
            policy = np.concatenate([policy[:, :nn][:, inv[sym]], policy[:, nn:]], axis=1)
            own = own[:, inv[sym]]
        self.evaluations += b
        return NetOutput(policy=policy, value=(wdl[:, 0] - wdl[:, 2]).astype(np.float32), score=score,
                         ownership=own)
