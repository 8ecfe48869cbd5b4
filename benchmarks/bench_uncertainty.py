"""Benchmark: uncertainty over K masks (``mae_core.mask_uncertainty``) per seed against one ``evaluate`` cell.

``mask_uncertainty`` runs the K seeds of one image as ONE packed forward, then per-pixel mean, spread and coverage.
``evaluate`` on the same image, ratio and K seeds (one batch, ``metrics=[]``: loss, mse, psnr) is the yardstick:
its time over K is the cost of one cell. The budget: the uncertainty's time per seed within 10 % of that.
The third timing is the sweep's ``spread`` column: ``evaluate(..., metrics=["spread"])`` on the same batch (whole
seed groups, the spread reduced from the batch's own predictions), per cell, against the plain cell.
Both run in ONE process, in interleaved rounds, each keeping its best round (neighbours move absolute times).

    .venv/bin/python benchmarks/bench_uncertainty.py                    # ViT-B/16 random weights, K 16, both dtypes
    .venv/bin/python benchmarks/bench_uncertainty.py --arch large --rounds 3
    .venv/bin/python benchmarks/bench_uncertainty.py --arch tiny-pixel  # the bundled checkpoint
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.measure import cpu_name  # noqa: E402
from mae_core import build_model, evaluate, load_model, mask_uncertainty, select_device  # noqa: E402

IMAGE = Path(__file__).resolve().parents[1] / "examples" / "chelsea.jpg"


def _model(arch: str, device: torch.device):
    if arch.startswith("tiny"):
        return load_model(arch, device=device)
    torch.manual_seed(0)
    preset = {"base": "mae_vit_base_patch16", "large": "mae_vit_large_patch16", "huge": "mae_vit_huge_patch14"}
    return build_model(preset[arch]).eval().to(device)


def _best(fn, rounds: int, device: torch.device) -> float:
    best = float("inf")
    for _ in range(rounds):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="base", help="base, large, huge or a bundled name (tiny-pixel) [base]")
    parser.add_argument("--masks", type=int, nargs="+", default=[16], help="K seeds, one or more [16]")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds, best kept [3]")
    parser.add_argument("--device", default=None, help="cpu, cuda [auto]")
    parser.add_argument("--dtypes", default="float32,bfloat16", help="[float32,bfloat16]")
    args = parser.parse_args()
    device = select_device(args.device)
    model = _model(args.arch, device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name()
    print(f"{args.arch}, ratio 0.75, {name}, torch {torch.__version__}, {args.rounds} interleaved rounds, best kept")
    header = f"{'K':>4} {'dtype':>9} {'evaluate / cell':>16} {'uncertainty / seed':>19} {'ratio':>6}"
    print(f"{header} {'evaluate+spread / cell':>23} {'ratio':>6}")
    for k in args.masks:
        seeds = list(range(k))
        for dtype in args.dtypes.split(","):

            def cells(seeds=seeds, dtype=dtype) -> object:
                return evaluate({"m": model}, [IMAGE], [0.75], seeds, batch_size=len(seeds), dtype=dtype, metrics=[])

            def spread(seeds=seeds, dtype=dtype) -> object:
                return mask_uncertainty(model, IMAGE, 0.75, seeds, dtype=dtype, device=device)

            def column(seeds=seeds, dtype=dtype) -> object:
                return evaluate(
                    {"m": model}, [IMAGE], [0.75], seeds, batch_size=len(seeds), dtype=dtype, metrics=["spread"]
                )

            timed = (cells, spread, column)
            for fn in timed:  # warm-up: weights cast and cached, kernels chosen
                fn()
            best = [float("inf")] * len(timed)
            for _ in range(args.rounds):  # interleaved
                best = [min(b, _best(fn, 1, device)) for b, fn in zip(best, timed)]
            per_cell, per_seed, per_column = (b / k for b in best)
            line = f"{k:>4} {dtype:>9} {per_cell * 1e3:13.3f} ms {per_seed * 1e3:16.3f} ms {per_seed / per_cell:6.3f}"
            print(f"{line} {per_column * 1e3:20.3f} ms {per_column / per_cell:6.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
