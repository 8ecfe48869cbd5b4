"""How much a sweep pays for its bookkeeping: the run store's cost per row against the model's compute per row.

Two measurements, both with the model taken out of the picture:

1. ``store``: build the rows of a batch, drop already-stored cells, append them under the lock and fsync
   (what ``SweepSession`` does per batch), for several batch sizes.
2. ``sweep``: the whole ``run_sweep`` pipeline (image decode + hash, rows, appends, progress, manifest) with a
   trivial engine that returns constant metrics instantly.

One row is one (image, checkpoint, mask ratio, seed) cell, i.e. one image-forward of the model. The reference
compute is ``--compute-ms`` per image-forward (default 40 ms: ViT-L, bf16 autocast, batch 45 on the project's 2-core
CPU; see the shared reference). The store must cost under 5 % of it.

    python -m benchmarks.bench_store [--rows 20000] [--images 200] [--compute-ms 40]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from unittest import mock

from experiments.config import SweepConfig
from experiments.store import LossRow, RunStore, utc_now
from experiments.sweep import SweepSession, run_sweep
from mae_core.modeling.model import MAEConfig, MaskedAutoencoderViT

BUDGET = 0.05


def _rows(run_id: str, start: int, count: int) -> list[LossRow]:
    stamp = utc_now()  # as the sweep: one timestamp per batch
    return [
        LossRow(
            run_id,
            f"val/n01440764/ILSVRC2012_val_{k // 45:08d}.JPEG",
            "a" * 64,
            "vit-large-pixel",
            "b" * 64,
            "pixel",
            0.1 * (1 + k % 9),
            k % 5,
            147,
            0.4123456789,
            0.0123456789,
            19.0876543,
            "bfloat16",
            "cuda:0",
            stamp,
        )
        for k in range(start, start + count)
    ]


def bench_store(total: int, batch: int, root: Path) -> float:
    """Seconds per row for building, filtering and appending ``total`` rows in batches of ``batch``."""
    run = RunStore(root).create()
    done: set = set()
    start = time.perf_counter()
    for offset in range(0, total, batch):
        fresh = []
        for row in _rows(run.run_id, offset, min(batch, total - offset)):
            key = row.key()
            if key not in done:
                done.add(key)
                fresh.append(row)
        run.append_rows(fresh)
    elapsed = time.perf_counter() - start
    assert len(run.read_rows()) == total
    return elapsed / total


class _Record:
    __slots__ = ("model", "image", "mask_ratio", "seed", "masked_patches", "loss", "mse", "psnr")

    def __init__(self, model, image, ratio, seed):
        self.model, self.image, self.mask_ratio, self.seed = model, image, ratio, seed
        self.masked_patches, self.loss, self.mse, self.psnr = 147, 0.41, 0.012, 19.1


def _instant_batches(self: SweepSession, loaded):
    """A trivial engine: the engine's batching (one model per batch), constant metrics, no compute."""
    cells = [(i, r, s) for i in range(len(loaded)) for r in self.config.ratios for s in self.config.seeds]
    for checkpoint in self.checkpoints:
        for start in range(0, len(cells), self.config.batch_size):
            yield [_Record(checkpoint.name, i, r, s) for i, r, s in cells[start : start + self.config.batch_size]]


def bench_sweep(images: int, root: Path) -> float:
    """Seconds per row of a whole sweep with an instant engine (images decoded and hashed for real)."""
    from PIL import Image

    folder = root / "images"
    folder.mkdir()
    for k in range(images):
        Image.new("RGB", (224, 224), (k % 256, 80, 160)).save(folder / f"{k:05d}.png")
    config = SweepConfig(
        images=(str(folder),),
        checkpoints=("pixel", "gan"),
        ratios=(0.25, 0.5, 0.75, 0.9),
        seeds=(0, 1, 2, 3, 4),
        batch_size=45,
        device="cpu",
    )
    # never run (the engine is replaced); the sweep only reads their patch count
    tiny = MAEConfig(
        img_size=32,
        patch_size=8,
        embed_dim=32,
        depth=1,
        num_heads=4,
        decoder_embed_dim=16,
        decoder_depth=1,
        decoder_num_heads=2,
    )
    models = {"pixel": MaskedAutoencoderViT(tiny), "gan": MaskedAutoencoderViT(tiny)}
    with mock.patch.object(SweepSession, "_batches", _instant_batches):
        start = time.perf_counter()
        result = run_sweep(config, root=root / "runs", models=models)
        elapsed = time.perf_counter() - start
    assert result.rows == images * config.cells_per_image
    return elapsed / result.rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=20000, help="rows per store measurement [20000]")
    parser.add_argument("--images", type=int, default=200, help="images of the pipeline measurement [200]")
    parser.add_argument("--compute-ms", type=float, default=40.0, help="model compute per row, ms [40]")
    args = parser.parse_args()
    compute = args.compute_ms / 1000
    print(f"reference compute: {args.compute_ms:g} ms per row (one image-forward); budget {BUDGET:.0%}")
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for batch in (1, 16, 45, 256):
            per_row = bench_store(args.rows if batch > 1 else args.rows // 10, batch, Path(tmp) / f"b{batch}")
            share = per_row / compute
            print(
                f"store, {batch:>3} rows/batch: {1 / per_row:>9,.0f} rows/s, {per_row * 1e6:7.1f} us/row, "
                f"{share:.3%} of compute"
            )
            if batch >= 16:  # batch 1 is shown for scale; sweeps append whole batches
                worst = max(worst, share)
        per_row = bench_sweep(args.images, Path(tmp))
        share = per_row / compute
        worst = max(worst, share)
        print(
            f"sweep pipeline, instant engine: {1 / per_row:>9,.0f} rows/s, {per_row * 1e6:7.1f} us/row, "
            f"{share:.3%} of compute"
        )
    verdict = "OK" if worst < BUDGET else "OVER BUDGET"
    print(f"worst overhead {worst:.3%} of compute: {verdict} (budget {BUDGET:.0%})")


if __name__ == "__main__":
    main()
