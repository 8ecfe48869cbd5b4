"""Benchmark of the standard study: the peer way (transformers, batch 1, fp32) against mae_core.evaluate, and both
against the rate of a plain linear of the study's shape on the same machine.

Study: ViT-L/16-sized random weights, one 224 px image, mask ratios 0.1..0.9 x seeds 0..4 x two differently seeded
models. Everything runs in ONE process, in interleaved rounds (peer, engine fp32, engine bf16, the linears), and each
path keeps its best round: machine load moves absolute times, so compare the ratios and the fractions of the linear
rate measured alongside.

    .venv/bin/python benchmarks/bench_engine.py            # the full study, 3 rounds (about 7 min, quiet 2-core CPU)
    .venv/bin/python benchmarks/bench_engine.py --quick    # ratios 0.25, 0.5, 0.75 x seeds 0, 1, 2 rounds (~1 min)

TFLOP/s are model FLOPs (every matmul and attention product, benchmarks/measure.py) over wall time; the same count
serves every path. The linear yardstick is [8192, 1024] x [1024, 4096] plus bias, timed with ``F.linear`` and with
oneDNN's linear (what the engine uses on a CPU); "of linear" is the path's rate over the faster of the two in the
path's dtype. "Ceiling" is the time the study would take at that linear rate: no engine can beat it by much.
Peak memory is the process's resident set during each phase (the random models included).

The engine rows compute loss, mse and psnr only (``metrics=[]``). The optional metrics
(mae_core.evaluation.metrics) are priced in the same rounds as the extra time of the bf16 study: ssim, detail and
visible_loss (budget 5 %), then all of them with lpips (budget 15 %). Without LPIPS weights in torch hub's cache,
lpips runs on random AlexNet weights in a temporary TORCH_HOME (the values do not matter for timing).
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere: mae_core, measure and the tests' transformers bridge

from benchmarks.measure import CLOCKS, Clock, PeakRss, cpu_name, forward_flops, linear_rate, timed  # noqa: E402
from mae_core.evaluation.engine import EvalRecord, evaluate  # noqa: E402
from mae_core.evaluation.metrics import DEFAULT_METRICS  # noqa: E402
from mae_core.evaluation.packed import cached_pack_weights  # noqa: E402
from mae_core.evaluation.perceptual import lpips_weights_present  # noqa: E402
from mae_core.evaluation.preprocess import preprocess  # noqa: E402
from mae_core.modeling.masking import mask_noise  # noqa: E402
from mae_core.modeling.model import MaskedAutoencoderViT, mae_vit_large_patch16  # noqa: E402
from tests.fake_caches import add_lpips_standin  # noqa: E402
from tests.hf_reference import hf_twin  # noqa: E402

# the optional metric sets priced on top of the bf16 study, with their budgets (share of the bf16 engine time)
METRIC_SETS = {
    "bf16 + ssim, detail, visible_loss": (DEFAULT_METRICS, 5),
    "bf16 + all metrics": ((*DEFAULT_METRICS, "lpips"), 15),
}

FULL_RATIOS = [round(0.1 * k, 1) for k in range(1, 10)]
QUICK_RATIOS = [0.25, 0.5, 0.75]
LINEAR_SHAPE = (8192, 1024, 4096)
LINEAR_FLOPS = 2 * LINEAR_SHAPE[0] * LINEAR_SHAPE[1] * LINEAR_SHAPE[2]
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def smooth_image(size: int = 224, seed: int = 0) -> np.ndarray:
    """An HxWx3 uint8 test image with structure (gradients plus noise); the weights are random anyway."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    base = np.stack([xx / size, yy / size, (xx + yy) / (2 * size)], axis=-1)
    return np.clip(base * 200 + rng.normal(0, 20, size=base.shape), 0, 255).astype(np.uint8)


Losses = dict[tuple[str, float, int], float]


def peer_round(
    models: dict[str, MaskedAutoencoderViT], image: torch.Tensor, ratios: list[float], seeds: list[int], clock: Clock
) -> tuple[Losses, float, int]:
    """transformers' ViTMAEForPreTraining, one forward per (ratio, seed) at batch 1, fp32; only forwards timed."""
    losses: Losses = {}
    seconds, peak = 0.0, 0
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
        _, phase_seconds, phase_peak = timed(run, clock)
        seconds += phase_seconds
        peak = max(peak, phase_peak)
        del twin
        gc.collect()
    return losses, seconds, peak


def by_key(records: list[EvalRecord]) -> Losses:
    return {(r.model, r.mask_ratio, r.seed): r.loss for r in records}


class Best:
    """The best (shortest) time of each path over the rounds, every round's time, and the largest peak RSS."""

    def __init__(self) -> None:
        self.seconds: dict[str, list[float]] = {}
        self.peak: dict[str, int] = {}

    def add(self, path: str, seconds: float, peak: int = 0) -> None:
        self.seconds.setdefault(path, []).append(seconds)
        self.peak[path] = max(self.peak.get(path, 0), peak)

    def best(self, path: str) -> float:
        return min(self.seconds[path])

    def describe(self, index: int | None = None) -> str:
        """Every path's time in round ``index`` (None: all rounds); linears as TFLOP/s."""
        parts = []
        for path, times in self.seconds.items():
            picked = times if index is None else [times[index]]
            if path.startswith("linear"):
                parts.append(f"{path} " + " / ".join(f"{LINEAR_FLOPS / t / 1e12:.3f}" for t in picked) + " TFLOP/s")
            else:
                parts.append(f"{path} " + " / ".join(f"{t:.2f}" for t in picked) + " s")
        return "; ".join(parts)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="ratios 0.25, 0.5, 0.75 x seeds 0, 1; 2 rounds")
    parser.add_argument("--ratios", type=float, nargs="+", help="mask ratios (default 0.1..0.9 step 0.1)")
    parser.add_argument("--seeds", type=int, nargs="+", help="seeds (default 0..4)")
    parser.add_argument("--models", type=int, default=2, help="number of differently seeded random ViT-L models")
    parser.add_argument("--batch-size", type=int, default=64, help="mae_core.evaluate batch size")
    parser.add_argument("--rounds", type=int, help="interleaved rounds, best kept (default 3; --quick 2)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)")
    parser.add_argument("--skip-peer", action="store_true", help="time only mae_core.evaluate and the linears")
    parser.add_argument("--skip-metrics", action="store_true", help="do not price the optional metrics")
    parser.add_argument(
        "--clock",
        choices=sorted(CLOCKS),
        default="wall",
        help="wall (default), or cpu: this process's CPU seconds, needs --threads 1 (per-core rates on a busy machine)",
    )
    args = parser.parse_args(argv)
    if args.clock == "cpu" and args.threads != 1:
        parser.error("--clock cpu measures one core: add --threads 1")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    ratios = args.ratios or (QUICK_RATIOS if args.quick else FULL_RATIOS)
    seeds = args.seeds or ([0, 1] if args.quick else list(range(5)))
    rounds = args.rounds or (2 if args.quick else 3)
    clock = CLOCKS[args.clock]

    models = {}
    for k in range(args.models):
        torch.manual_seed(k)
        models[f"vit-large-random-{k}"] = mae_vit_large_patch16().eval()
    config = next(iter(models.values())).config
    image = preprocess(smooth_image(), 224).unsqueeze(0)  # [1, 3, 224, 224] normalised
    forwards = len(models) * len(ratios) * len(seeds)
    flops = len(models) * len(seeds) * sum(forward_flops(config, r) for r in ratios)
    print(f"machine: {cpu_name()}; torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(
        f"study: {len(models)} x ViT-L/16 random, 1 image 224 px, ratios {ratios}, seeds {seeds} -> {forwards} "
        f"forwards, {flops / 1e12:.2f} TFLOP; {rounds} interleaved rounds, best kept; {args.clock}-clock seconds"
    )

    # the bfloat16 weight cast (and prepacking) happens once per model and is then cached
    # (mae_core.evaluation.packed.cached_pack_weights); it is timed here on its own, so the rounds measure the steady
    # state
    start = time.perf_counter()
    for model in models.values():
        cached_pack_weights(model, torch.device("cpu"), torch.bfloat16)
    cast_seconds = time.perf_counter() - start

    def engine(dtype: str, metrics: tuple[str, ...] = ()) -> list[EvalRecord]:
        return evaluate(
            models, image, ratios, seeds, batch_size=args.batch_size, dtype=dtype, device="cpu", metrics=metrics
        )

    metric_sets = {} if args.skip_metrics else METRIC_SETS
    if metric_sets and not lpips_weights_present():
        os.environ["TORCH_HOME"] = tempfile.mkdtemp(prefix="bench-lpips-")
        add_lpips_standin(Path(os.environ["TORCH_HOME"]))
        print("lpips: random stand-in AlexNet weights (no real ones in torch hub's cache); timing only")
    for dtype in ("float32", "bfloat16"):  # warm-up: one-time kernel selection, not timed
        evaluate(models, image, ratios[:1], seeds[:1], dtype=dtype, device="cpu", metrics=[])
    for names, _ in metric_sets.values():  # the LPIPS network is built once, here
        evaluate(models, image, ratios[:1], seeds[:1], dtype="bfloat16", device="cpu", metrics=names)
    with PeakRss() as before:
        pass

    best, results = Best(), {}
    for round_ in range(rounds):
        if not args.skip_peer:
            results["peer"], seconds, peak = peer_round(models, image, ratios, seeds, clock)
            best.add("peer", seconds, peak)
        for label, dtype in (("fp32", "float32"), ("bf16", "bfloat16")):
            results[label], seconds, peak = timed(lambda dtype=dtype: engine(dtype), clock)
            best.add(label, seconds, peak)
        for label, (names, _) in metric_sets.items():
            _, seconds, peak = timed(lambda names=names: engine("bfloat16", names), clock)
            best.add(label, seconds, peak)
        for label, dtype in DTYPES.items():
            for onednn in (False, True):
                rate = linear_rate(dtype, LINEAR_SHAPE, onednn=onednn, clock=clock)
                seconds = LINEAR_FLOPS / (rate * 1e12)  # of the best of linear_rate's repeats
                best.add(f"linear {label} {'oneDNN' if onednn else 'F.linear'}", seconds)
        print(f"round {round_ + 1}: {best.describe(-1)}", flush=True)
    report(best, results, flops, forwards, args, cast_seconds, before.peak, before.method)


def report(
    best: Best,
    results: dict,
    flops: int,
    forwards: int,
    args: argparse.Namespace,
    cast_seconds: float,
    baseline: int,
    method: str,
) -> None:
    linear = {
        label: {kind: LINEAR_FLOPS / best.best(f"linear {label} {kind}") / 1e12 for kind in ("F.linear", "oneDNN")}
        for label in DTYPES
    }
    top = {label: max(rates.values()) for label, rates in linear.items()}
    rows = (
        [("peer", "transformers ViTMAEForPreTraining, batch 1, fp32 (peer)", "fp32")] if "peer" in best.seconds else []
    )
    rows += [("fp32", f"`mae_core.evaluate` fp32, batch_size {args.batch_size}", "fp32")]
    rows += [("bf16", f"`mae_core.evaluate` bf16, batch_size {args.batch_size}", "bf16")]
    base = best.best(rows[0][0])
    print()
    print("| path | time (s) | vs first row | per forward (ms) | TFLOP/s | of linear | peak RSS (MiB) |")
    print("|---|---|---|---|---|---|---|")
    for key, label, dtype in rows:
        seconds = best.best(key)
        rate = flops / seconds / 1e12
        print(
            f"| {label} | {seconds:.2f} | {base / seconds:.2f}x | {1000 * seconds / forwards:.0f} | {rate:.3f} | "
            f"{100 * rate / top[dtype]:.0f} % | {best.peak[key] / 2**20:.0f} |"
        )
    print()
    print(
        f"| linear {LINEAR_SHAPE[0]}x{LINEAR_SHAPE[1]} @ {LINEAR_SHAPE[1]}x{LINEAR_SHAPE[2]} | F.linear TFLOP/s "
        "| oneDNN TFLOP/s | study at the faster (ceiling, s) | ceiling vs first row |"
    )
    print("|---|---|---|---|---|")
    for label in DTYPES:
        ceiling = flops / top[label] / 1e12
        print(
            f"| {label} | {linear[label]['F.linear']:.3f} | {linear[label]['oneDNN']:.3f} | {ceiling:.2f} | "
            f"{base / ceiling:.2f}x |"
        )
    print()
    print(f"every round: {best.describe()}")
    loss32, loss16 = by_key(results["fp32"]), by_key(results["bf16"])
    if "peer" in results:
        diff = max(abs(loss32[key] - results["peer"][key]) for key in results["peer"])
        print(f"max |loss fp32 - loss peer|: {diff:.3g}")
    relative = max(abs(loss16[key] - loss32[key]) / abs(loss32[key]) for key in loss32)
    print(f"max relative per-image loss difference bf16 vs fp32: {100 * relative:.3f} %")
    print(f"one-time bfloat16 weight cast + prepack (cached per model, not in the times above): {cast_seconds:.2f} s")
    print(f"peak memory: {method}; {baseline / 2**20:.0f} MiB resident before the timed phases (models loaded)")
    if any(label in best.seconds for label in METRIC_SETS):
        metric_report(best)


def metric_report(best: Best) -> None:
    """The optional metrics' extra time over the bf16 engine (best round of each), against their budgets."""
    base = best.best("bf16")
    print()
    print("| bf16 study with | time (s) | extra over the engine | budget |")
    print("|---|---|---|---|")
    print(f"| loss, mse, psnr only (the engine) | {base:.2f} | | |")
    for label, (_, budget) in METRIC_SETS.items():
        seconds = best.best(label)
        print(
            f"| {label.removeprefix('bf16 + ')} | {seconds:.2f} | {100 * (seconds - base) / base:+.1f} % | {budget} % |"
        )


if __name__ == "__main__":
    main()
