"""Benchmark of the standard study: the peer way (transformers, batch 1, fp32) against mae_core.evaluate.

Study: ViT-L/16-sized random weights, one 224 px image, mask ratios 0.1..0.9 x seeds 0..4 x two differently seeded
models, all timed in ONE process (absolute times move with machine load; the ratios are what to compare).

    .venv/bin/python benchmarks/bench_engine.py            # the full study (about 75 s on a quiet 2-core CPU)
    .venv/bin/python benchmarks/bench_engine.py --quick    # ratios 0.25, 0.5, 0.75 x seeds 0, 1

Peak memory is the process's resident set during each phase (the random models included), sampled from
/proc/self/statm every 5 ms by a background thread (falls back to ru_maxrss, the process-wide peak, without /proc).
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere: mae_core and the tests' transformers bridge

from mae_core.engine import EvalRecord, evaluate  # noqa: E402
from mae_core.masking import mask_noise  # noqa: E402
from mae_core.model import MaskedAutoencoderViT, mae_vit_large_patch16  # noqa: E402
from mae_core.packed import cached_pack_weights  # noqa: E402
from mae_core.preprocess import preprocess  # noqa: E402
from tests.hf_reference import hf_twin  # noqa: E402

FULL_RATIOS = [round(0.1 * k, 1) for k in range(1, 10)]
QUICK_RATIOS = [0.25, 0.5, 0.75]


class PeakRss:
    """Peak resident set (bytes) over a ``with`` block, absolute: growth alone would hide memory the allocator kept
    from an earlier phase and hands out again."""

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


def timed(fn: Callable[[], object]) -> tuple[object, float, int, str]:
    with PeakRss() as rss:
        start = time.perf_counter()
        result = fn()
        seconds = time.perf_counter() - start
    return result, seconds, rss.peak, rss.method


def smooth_image(size: int = 224, seed: int = 0) -> np.ndarray:
    """An HxWx3 uint8 test image with structure (gradients plus noise); the weights are random anyway."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    base = np.stack([xx / size, yy / size, (xx + yy) / (2 * size)], axis=-1)
    return np.clip(base * 200 + rng.normal(0, 20, size=base.shape), 0, 255).astype(np.uint8)


def peer_study(
    models: dict[str, MaskedAutoencoderViT], image: torch.Tensor, ratios: list[float], seeds: list[int]
) -> tuple[dict[tuple[str, float, int], float], float, int, str]:
    """transformers' ViTMAEForPreTraining, one forward per (ratio, seed) at batch 1, fp32; only forwards timed."""
    losses: dict[tuple[str, float, int], float] = {}
    seconds, peak, method = 0.0, 0, ""
    for name, model in models.items():
        twin = hf_twin(model, attn_implementation="sdpa")  # transformers' default attention

        def run(twin=twin, name=name, num_patches=model.num_patches) -> None:
            with torch.inference_mode():
                for ratio in ratios:
                    twin.config.mask_ratio = ratio
                    for seed in seeds:
                        out = twin(image, noise=mask_noise(seed, num_patches))
                        losses[(name, ratio, seed)] = float(out.loss)

        with torch.inference_mode():  # warm-up forward, not timed
            twin(image, noise=mask_noise(0, model.num_patches))
        _, phase_seconds, phase_peak, method = timed(run)
        seconds += phase_seconds
        peak = max(peak, phase_peak)
        del twin
        gc.collect()
    return losses, seconds, peak, method


def by_key(records: list[EvalRecord]) -> dict[tuple[str, float, int], float]:
    return {(r.model, r.mask_ratio, r.seed): r.loss for r in records}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="ratios 0.25, 0.5, 0.75 x seeds 0, 1")
    parser.add_argument("--ratios", type=float, nargs="+", help="mask ratios (default 0.1..0.9 step 0.1)")
    parser.add_argument("--seeds", type=int, nargs="+", help="seeds (default 0..4)")
    parser.add_argument("--models", type=int, default=2, help="number of differently seeded random ViT-L models")
    parser.add_argument("--batch-size", type=int, default=64, help="mae_core.evaluate batch size")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)")
    parser.add_argument("--skip-peer", action="store_true", help="time only mae_core.evaluate")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    ratios = args.ratios or (QUICK_RATIOS if args.quick else FULL_RATIOS)
    seeds = args.seeds or ([0, 1] if args.quick else list(range(5)))

    models = {}
    for k in range(args.models):
        torch.manual_seed(k)
        models[f"vit-large-random-{k}"] = mae_vit_large_patch16().eval()
    image = preprocess(smooth_image(), 224).unsqueeze(0)  # [1, 3, 224, 224] normalised
    forwards = len(models) * len(ratios) * len(seeds)
    print(
        f"study: {len(models)} x ViT-L/16 random, 1 image 224 px, ratios {ratios}, seeds {seeds} -> {forwards} "
        f"forwards; torch {torch.__version__}, {torch.get_num_threads()} threads"
    )

    def engine(dtype: str) -> list[EvalRecord]:
        return evaluate(models, image, ratios, seeds, batch_size=args.batch_size, dtype=dtype, device="cpu")

    # the bfloat16 weight cast happens once per model and is then cached (mae_core.packed.cached_pack_weights);
    # it is timed here on its own, so the study below measures the steady state a sweep or the app sees
    start = time.perf_counter()
    for model in models.values():
        cached_pack_weights(model, torch.device("cpu"), torch.bfloat16)
    cast_seconds = time.perf_counter() - start
    for dtype in ("float32", "bfloat16"):  # warm-up: one-time kernel selection / JIT, not timed
        evaluate(models, image, ratios[:1], seeds[:1], dtype=dtype, device="cpu")

    with PeakRss() as before:
        pass
    baseline = before.peak
    rows = []
    peer = None
    if not args.skip_peer:
        peer, seconds, peak, method = peer_study(models, image, ratios, seeds)
        rows.append(("transformers ViTMAEForPreTraining, batch 1, fp32 (peer)", seconds, peak))
    fp32, seconds32, peak32, method = timed(lambda: engine("float32"))
    rows.append((f"mae_core.evaluate fp32, batch_size {args.batch_size}", seconds32, peak32))
    bf16, seconds16, peak16, method = timed(lambda: engine("bfloat16"))
    rows.append((f"mae_core.evaluate bf16, batch_size {args.batch_size}", seconds16, peak16))

    base = rows[0][1]
    print()
    print("| path | time (s) | speed-up vs first row | per forward (ms) | peak RSS (MiB) |")
    print("|---|---|---|---|---|")
    for label, seconds, peak in rows:
        per_forward = 1000 * seconds / forwards
        print(f"| {label} | {seconds:.2f} | {base / seconds:.2f}x | {per_forward:.0f} | {peak / 2**20:.0f} |")
    print()
    loss32, loss16 = by_key(fp32), by_key(bf16)
    if peer is not None:
        diff = max(abs(loss32[key] - peer[key]) for key in peer)
        print(f"max |loss fp32 - loss peer|: {diff:.3g}")
    relative = max(abs(loss16[key] - loss32[key]) / abs(loss32[key]) for key in loss32)
    print(f"max relative per-image loss difference bf16 vs fp32: {100 * relative:.3f} %")
    print(f"one-time bfloat16 weight cast (cached per model, not in the times above): {cast_seconds:.2f} s in all")
    print(f"peak memory: {method}; {baseline / 2**20:.0f} MiB resident before the timed phases (models loaded)")


if __name__ == "__main__":
    main()
