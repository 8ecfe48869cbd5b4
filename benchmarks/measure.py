"""What the benchmarks measure with: peak resident memory over a block, the model FLOPs of a study, the rate of a
plain linear of a given shape (the yardstick an engine's TFLOP/s is judged against), and the CPU's name."""

from __future__ import annotations

import gc
import os
import resource
import threading
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

from mae_core.modeling.masking import num_kept
from mae_core.modeling.model import MAEConfig


class PeakRss:
    """Peak resident set (bytes) over a ``with`` block, absolute: growth alone would hide memory the allocator kept
    from an earlier phase and hands out again. Sampled from /proc/self/statm every 5 ms by a background thread
    (without /proc: ru_maxrss, the process-wide peak)."""

    def __init__(self) -> None:
        self.peak = 0
        self._page = os.sysconf("SC_PAGE_SIZE")
        self._proc = Path("/proc/self/statm").exists()
        self.method = "process RSS sampled from /proc/self/statm" if self._proc else "ru_maxrss (process-wide peak)"

    def _rss(self) -> int:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * self._page

    def __enter__(self) -> PeakRss:
        gc.collect()
        if not self._proc:
            return self
        self._max = self._rss()
        self._stop = threading.Event()

        def sample() -> None:
            while not self._stop.wait(0.005):
                self._max = max(self._max, self._rss())

        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if not self._proc:
            self.peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
            return
        self._stop.set()
        self._thread.join()
        self.peak = max(self._max, self._rss())


Clock = Callable[[], float]
# "wall": what a user waits. "cpu": the CPU seconds of this process; with ONE torch thread that is the time the work
# took on one core whatever else runs on the machine - the way to compare paths on a shared machine.
CLOCKS: dict[str, Clock] = {"wall": time.perf_counter, "cpu": time.process_time}


def timed(fn: Callable[[], object], clock: Clock = time.perf_counter) -> tuple[object, float, int]:
    """``fn()``'s result, its seconds on ``clock`` and the peak RSS (bytes) while it ran."""
    with PeakRss() as rss:
        start = clock()
        result = fn()
        seconds = clock() - start
    return result, seconds, rss.peak


def forward_flops(config: MAEConfig, mask_ratio: float) -> int:
    """Multiply-add FLOPs (2 per multiply-add) of ONE forward of ``config`` at ``mask_ratio``: every matmul,
    attention's two (scores and weighted sum) included; LayerNorm, softmax and GELU are not counted. The same
    count serves every path, so their TFLOP/s compare like their times."""
    length, width, dec = config.num_patches, config.embed_dim, config.decoder_embed_dim
    tokens, dec_tokens = 1 + num_kept(length, mask_ratio), length + 1

    def block(t: int, d: int) -> int:
        hidden = int(d * config.mlp_ratio)
        return 2 * t * (4 * d * d + 2 * d * hidden) + 4 * t * t * d  # qkv + proj, MLP, attention

    patch_embed = 2 * length * width * config.patch_dim
    encoder = config.depth * block(tokens, width) + 2 * tokens * width * dec
    decoder = config.decoder_depth * block(dec_tokens, dec) + 2 * dec_tokens * dec * config.patch_dim
    return patch_embed + encoder + decoder


def linear_rate(
    dtype: torch.dtype, shape: tuple[int, int, int], *, onednn: bool, repeats: int = 3, clock: Clock = time.perf_counter
) -> float:
    """Best-of-``repeats`` TFLOP/s of ``[m, k] x [k, n]`` plus bias on the CPU: ``F.linear``, or oneDNN's linear
    (the op the engine's CPU path uses; bfloat16 weights prepacked, as the engine stores them)."""
    m, k, n = shape
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(m, k, generator=generator).to(dtype)
    weight = (torch.randn(n, k, generator=generator) / k**0.5).to(dtype)
    bias = torch.zeros(n, dtype=dtype)
    if onednn:
        if dtype != torch.float32:
            weight = torch.ops.mkldnn._reorder_linear_weight(weight, None)

        def run() -> object:
            return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", [], "")
    else:

        def run() -> object:
            return F.linear(x, weight, bias)

    best = float("inf")
    with torch.inference_mode():
        run()  # kernel selection, not timed
        for _ in range(repeats):
            start = clock()
            run()
            best = min(best, clock() - start)
    return 2 * m * k * n / best / 1e12


def cpu_name() -> str:
    """The CPU model and the matrix/vector features that decide bfloat16 speed (AMX, AVX512-BF16)."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown CPU"
    name = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "")
    flags = next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), [])
    features = [f for f in ("amx_bf16", "avx512_bf16", "avx512_vnni", "avx512f") if f in flags]
    return f"{name or 'unknown CPU'}, {os.cpu_count()} logical CPUs, {' '.join(features) or 'no AVX-512'}"
