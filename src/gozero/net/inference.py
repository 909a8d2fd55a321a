"""Batched inference: the network as the search sees it (numpy in, numpy out).

`NetEvaluator` picks the device (CUDA, MPS, CPU), the precision (bf16 autocast on GPUs and on
CPUs with native bf16 instructions, fp32 otherwise; see `cpu_has_fast_bf16`) and whether to
``torch.compile`` the network (by default where it pays: a network of a playing size on CPU
or CUDA, built at the first call, with inductor's caches under ~/.cache/gozero/inductor so
that the next process, a GTP engine, a test or a self-play worker, loads the build instead of
redoing it; eager when compiling is unavailable or fails). It applies a random board
symmetry per call when asked and maps the outputs back. Outputs are float32 numpy: policy
logits (B, NN+1), value in [-1, 1] (P(win) - P(loss), side to move), score lead (B,),
ownership (B, NN).
"""

from __future__ import annotations

import logging
import os
import shutil
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


log = logging.getLogger("gozero.net")

COMPILE_MIN_PARAMETERS = 200_000  # smaller networks (tests, the tiny preset) run eagerly under "auto"


def compile_cache_dir() -> Path:
    """Where inductor keeps its compiled kernels and graphs: $TORCHINDUCTOR_CACHE_DIR, else
    ``$GOZERO_CACHE_DIR/inductor`` (default ~/.cache/gozero/inductor)."""
    if os.environ.get("TORCHINDUCTOR_CACHE_DIR"):
        return Path(os.environ["TORCHINDUCTOR_CACHE_DIR"])
    base = Path(os.environ.get("GOZERO_CACHE_DIR", "~/.cache/gozero")).expanduser()
    return base / "inductor"


def compile_unavailable(device: torch.device) -> str | None:
    """Why ``torch.compile`` cannot run here (None when it can): turned off with
    GOZERO_COMPILE=0, a device other than CPU/CUDA, no dynamo for this Python, no C++
    compiler for CPU kernels, no triton for CUDA ones."""
    if os.environ.get("GOZERO_COMPILE", "").strip() in ("0", "false", "off"):
        return "GOZERO_COMPILE=0"
    if device.type not in ("cpu", "cuda"):
        return f"no compiled kernels for {device.type}"
    try:
        import torch._dynamo

        if not torch._dynamo.is_dynamo_supported():
            return "torch.compile does not support this Python"
    except ImportError as exc:
        return f"torch.compile is unavailable ({exc})"
    if device.type == "cpu":
        import torch._inductor.config as inductor_config

        cxx = inductor_config.cpp.cxx[-1] if isinstance(inductor_config.cpp.cxx, tuple) else inductor_config.cpp.cxx
        if not any(shutil.which(c) for c in (cxx, "g++", "c++", "clang++") if c):
            return "no C++ compiler (g++) for CPU kernels"
    else:
        try:
            import triton  # noqa: F401
        except ImportError:
            return "triton is not installed"
    return None


def use_compile_cache() -> None:
    """Point inductor's on-disk caches at `compile_cache_dir` (unless the user already has)."""
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(compile_cache_dir()))
    import torch._inductor.config as inductor_config

    inductor_config.fx_graph_cache = True
    if hasattr(inductor_config, "autotune_local_cache"):
        inductor_config.autotune_local_cache = True
    import torch._functorch.config as functorch_config

    if hasattr(functorch_config, "enable_autograd_cache"):
        functorch_config.enable_autograd_cache = True


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
    """Evaluate batches of positions with a fixed model (eval mode, no gradients).

    ``compile``: ``"auto"`` or ``True`` (default) compiles networks of at least
    `COMPILE_MIN_PARAMETERS` parameters on CPU and CUDA; ``"always"`` compiles whatever the
    size; ``False`` stays eager. The build happens at the first call (or at `build`), with
    dynamic batch sizes (one build serves every batch). A failed or unavailable build leaves
    the evaluator eager, with the reason in ``compile_status``. (The build cannot run in a
    background thread beside eager calls: tracing patches ``nn.Module.__call__`` for the
    whole process.)
    """

    def __init__(self, model: GoNet, device: str | torch.device = "auto", precision: str = "auto",
                 compile: bool | str = "auto", random_symmetry: bool = True, seed: int | None = None):
        self.device = pick_device(device) if isinstance(device, str) else device
        self.model = model.to(self.device).eval()
        if precision == "auto":
            fast_bf16 = self.device.type == "cuda" or (self.device.type == "cpu" and cpu_has_fast_bf16())
            precision = "bf16" if fast_bf16 else "fp32"
        if precision not in ("fp32", "bf16", "fp16"):
            raise ValueError(f"unknown precision {precision!r}")
        if compile not in (True, False, "auto", "always"):
            raise ValueError(f"compile must be True, False, 'auto' or 'always', not {compile!r}")
        compile = "auto" if compile is True else compile
        self.precision = precision
        if self.device.type in ("cpu", "cuda"):
            self.model = self.model.to(memory_format=torch.channels_last)
        self._forward = self.model
        self._compile_mode = compile
        self._compile_started = False
        self.compile_status = "eager"  # "eager", "compiled", or why it is not compiled
        if compile is not False:
            big = sum(p.numel() for p in self.model.parameters()) >= COMPILE_MIN_PARAMETERS
            reason = compile_unavailable(self.device)
            if reason is not None:
                self.compile_status = f"eager: {reason}"
                if compile == "always":
                    log.warning("torch.compile unavailable (%s); evaluating eagerly", reason)
                self._compile_mode = False
            elif compile == "auto" and not big:
                self.compile_status = "eager: a small network (compiling does not pay)"
                self._compile_mode = False
        self.random_symmetry = random_symmetry
        self.rng = np.random.default_rng(seed)
        self.size = model.cfg.size
        self._sym = {}
        self.evaluations = 0

    @property
    def compiled(self) -> bool:
        return self.compile_status == "compiled"

    def _sym_tables(self, size: int) -> tuple[np.ndarray, np.ndarray]:
        if size not in self._sym:
            self._sym[size] = (symmetry_indices(size), inverse_symmetry_indices(size))
        return self._sym[size]

    def set_model(self, model: GoNet) -> None:
        """Swap in new weights (self-play picks up each new checkpoint; a compiled network
        reads the same parameters, so nothing is rebuilt)."""
        self.model.load_state_dict(model.state_dict())

    def _call(self, forward, x: torch.Tensor, g: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.precision == "fp32":
            return forward(x, g)
        dtype = torch.bfloat16 if self.precision == "bf16" else torch.float16
        with torch.autocast(self.device.type, dtype=dtype):
            return forward(x, g)

    def build(self, batch: int = 64, size: int | None = None) -> bool:
        """Compile now (when this evaluator compiles at all) by running a dummy batch, and say
        whether the network is compiled. Idempotent; `evaluate` calls it on its first call."""
        if self._compile_started or self._compile_mode is False:
            return self.compiled
        self._compile_started = True
        size = size or self.size
        try:
            use_compile_cache()
            forward = torch.compile(self.model, dynamic=True)
            x = torch.zeros(max(batch, 2), NUM_PLANES, size, size, device=self.device)
            if self.device.type in ("cpu", "cuda"):
                x = x.contiguous(memory_format=torch.channels_last)
            g = torch.zeros(max(batch, 2), NUM_GLOBALS, device=self.device)
            with torch.inference_mode():
                self._call(forward, x, g)
            self._forward = forward
            self.compile_status = "compiled"
        except Exception as exc:  # noqa: BLE001 - any failure of the build leaves the evaluator eager
            self.compile_status = f"eager: torch.compile failed ({type(exc).__name__}: {str(exc)[:200]})"
            log.warning("torch.compile failed; evaluating eagerly (%s)", exc)
        return self.compiled

    @torch.inference_mode()
    def evaluate(self, planes: np.ndarray, globals_: np.ndarray, size: int | None = None) -> NetOutput:
        """planes: (B, NUM_PLANES, NN) uint8; globals_: (B, NUM_GLOBALS) float32."""
        b, c, nn = planes.shape
        if c != NUM_PLANES or globals_.shape != (b, NUM_GLOBALS):
            raise ValueError(f"bad input shapes {planes.shape}, {globals_.shape}")
        size = size or int(round(nn**0.5))
        if not self._compile_started:
            self.build(b, size)
        sym = 0
        if self.random_symmetry:
            sym = int(self.rng.integers(8))
        _, inv = self._sym_tables(size)
        xt = torch.from_numpy(np.ascontiguousarray(planes)).to(self.device, non_blocking=True).view(b, c, size, size)
        if sym:  # symmetry_indices' order: rot90 by sym // 2, then a left-right flip when odd (views only)
            xt = torch.rot90(xt, sym // 2, dims=(2, 3))
            if sym % 2:
                xt = xt.flip(3)
        # one copy: the (transformed) uint8 planes -> float32 in the convolutions' memory format
        if self.device.type in ("cpu", "cuda"):
            xt = xt.to(dtype=torch.float32, memory_format=torch.channels_last)
        else:
            xt = xt.float()
        gt = torch.from_numpy(globals_).to(self.device)
        out = self._call(self._forward, xt, gt)
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
