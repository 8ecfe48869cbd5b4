"""Dataset-scale benchmark: image files decoded while the model computes, and peak memory as the image count grows.

Writes phone-photo-sized JPEG files (default 4000x3000) into a temporary folder, then, for each image count, runs
``mae_core.iter_evaluate`` on the FILE PATHS: decoding, EXIF, resizing and normalising happen inside, on the engine's
prefetch thread. A timeline records when each batch's image load ran (on which thread) and when each packed forward
ran; "gap" is the caller's time between the end of one forward and the start of the next (records, metrics, and any
wait for images). Hidden decoding shows as gaps far below the per-batch load time; a serial loop would add the whole
load to every gap.

    .venv/bin/python benchmarks/bench_dataset.py            # 4 and 16 images x 3 ratios x 2 seeds x 2 ViT-L, bf16
    .venv/bin/python benchmarks/bench_dataset.py --full     # 64 images x 9 ratios x 5 seeds x 2 ViT-L (long)
    .venv/bin/python benchmarks/bench_dataset.py --arch base --images 8 32 128

Peak memory is the process's resident set during each run (models and cached weights included): flat across image
counts means nothing grows with the dataset but the records.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.measure import cpu_name, forward_flops, timed  # noqa: E402
from mae_core.evaluation import engine  # noqa: E402
from mae_core.evaluation.engine import iter_evaluate  # noqa: E402
from mae_core.evaluation.packed import cached_pack_weights, compute_dtype  # noqa: E402
from mae_core.modeling.model import build_model  # noqa: E402

ARCHS = {"large": "mae_vit_large_patch16", "base": "mae_vit_base_patch16"}


def write_photos(folder: Path, count: int, width: int, height: int) -> list[Path]:
    """``count`` JPEG files with photo-like content (smooth shapes plus sensor-like noise), each different."""
    paths = []
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    for k in range(count):
        rng = np.random.default_rng(k)
        phase = rng.uniform(0, 2 * np.pi, size=3)
        freq = rng.uniform(2, 9, size=3)
        base = [np.sin(freq[c] * (xx / width + yy / height) + phase[c]) for c in range(3)]
        pixels = np.stack(base, axis=-1) * 90 + 128 + rng.normal(0, 12, size=(height, width, 3))
        path = folder / f"photo_{k:04d}.jpg"
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB").save(path, quality=90)
        paths.append(path)
    return paths


class Timeline:
    """When the engine's image loads and packed forwards ran during a run (wall clock), and on which thread."""

    def __init__(self) -> None:
        self.loads: list[tuple[float, float, str]] = []
        self.forwards: list[tuple[float, float, str]] = []

    @contextmanager
    def watching(self) -> Iterator[Timeline]:
        originals = engine._load_images, engine.packed_forward

        def recorded(fn, into):
            def wrapper(*args, **kwargs):
                start = time.perf_counter()
                try:
                    return fn(*args, **kwargs)
                finally:
                    into.append((start, time.perf_counter(), threading.current_thread().name))

            return wrapper

        engine._load_images = recorded(originals[0], self.loads)
        engine.packed_forward = recorded(originals[1], self.forwards)
        try:
            yield self
        finally:
            engine._load_images, engine.packed_forward = originals

    def load_seconds(self) -> float:
        return sum(end - start for start, end, _ in self.loads)

    def off_thread(self) -> str:
        caller = {thread for _, _, thread in self.forwards}
        return f"{sum(thread not in caller for _, _, thread in self.loads)} of {len(self.loads)}"

    def gaps(self) -> list[float]:
        return [after[0] - before[1] for before, after in zip(self.forwards, self.forwards[1:])]


def run_study(models: dict, images, ratios: list[float], seeds: list[int], dtype: str, batch_size: int) -> int:
    records = 0
    for batch in iter_evaluate(models, images, ratios, seeds, batch_size=batch_size, dtype=dtype, device="cpu"):
        records += len(batch)
    return records


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, nargs="+", default=[4, 16], help="image counts to run (default 4 16)")
    parser.add_argument("--full", action="store_true", help="64 images x ratios 0.1..0.9 x seeds 0..4, batch size 64")
    parser.add_argument("--ratios", type=float, nargs="+", default=[0.25, 0.5, 0.75])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--models", type=int, default=2, help="differently seeded random models")
    parser.add_argument("--arch", choices=sorted(ARCHS), default="large")
    parser.add_argument("--dtype", choices=["float32", "bfloat16"], default="bfloat16")
    parser.add_argument("--batch-size", type=int, default=12, help="items per batch (default 12: 2 images a batch)")
    parser.add_argument("--size", type=int, nargs=2, default=[4000, 3000], metavar=("W", "H"), help="file size")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)")
    args = parser.parse_args(argv)
    if args.full:
        args.images, args.ratios, args.seeds = [64], [round(0.1 * k, 1) for k in range(1, 10)], [0, 1, 2, 3, 4]
        args.batch_size = 64
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    models = {}
    for k in range(args.models):
        torch.manual_seed(k)
        models[f"{args.arch}-random-{k}"] = build_model(ARCHS[args.arch]).eval()
        cached_pack_weights(models[f"{args.arch}-random-{k}"], torch.device("cpu"), compute_dtype(args.dtype))
    config = next(iter(models.values())).config
    print(f"machine: {cpu_name()}; torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(
        f"study per image: {len(models)} x ViT-{args.arch} random, ratios {args.ratios}, seeds {args.seeds}, "
        f"{args.dtype}, batch_size {args.batch_size}; JPEG files {args.size[0]}x{args.size[1]}"
    )
    with tempfile.TemporaryDirectory() as folder:
        all_paths = write_photos(Path(folder), max(args.images), *args.size)
        study = (args.ratios, args.seeds, args.dtype, args.batch_size)
        run_study(models, all_paths[:1], args.ratios[:1], args.seeds[:1], args.dtype, args.batch_size)  # warm-up
        print()
        print(
            "| images | forwards | time (s) | TFLOP/s | image loads (s, all) | load per batch (ms) | loads off the "
            "caller's thread | gap between batches, mean / max (ms) | peak RSS (MiB) |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
        for count in args.images:
            with Timeline().watching() as timeline:
                _, seconds, peak = timed(lambda count=count: run_study(models, all_paths[:count], *study))
            flops = len(models) * count * len(args.seeds) * sum(forward_flops(config, r) for r in args.ratios)
            gaps = timeline.gaps()
            print(
                f"| {count} | {len(models) * count * len(args.ratios) * len(args.seeds)} | {seconds:.2f} | "
                f"{flops / seconds / 1e12:.3f} | {timeline.load_seconds():.2f} | "
                f"{1000 * timeline.load_seconds() / len(timeline.loads):.0f} | {timeline.off_thread()} | "
                f"{1000 * sum(gaps) / max(1, len(gaps)):.0f} / {1000 * max(gaps, default=0):.0f} | "
                f"{peak / 2**20:.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
