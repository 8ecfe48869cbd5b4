"""``python -m experiments replay``: recompute cells of one image of a run beside the run's CSV values."""

from __future__ import annotations

import argparse
import math

from experiments.cli.common import EXIT_OK, OUT_HELP, UsageError, guarded, print_table
from experiments.config import parse_ratios
from experiments.store import RunStore


def add_parser(commands) -> None:
    replay = commands.add_parser(
        "replay", help="recompute cells of one image of a run and print them beside the run's CSV values"
    )
    replay.add_argument("run_id", metavar="RUN_ID", help="a run id, or latest for the newest run")
    replay.add_argument("image", metavar="IMAGE", help="the image as the run names it, or its file name")
    replay.add_argument("--ratio", required=True, metavar="R", help="the mask ratio (or a comma list of them)")
    replay.add_argument("--seed", required=True, type=int, metavar="S", help="the seed")
    replay.add_argument("--mask", default="random", metavar="M", help="the mask strategy [random]")
    replay.add_argument("--out", metavar="ROOT", help=OUT_HELP)


def run(args: argparse.Namespace) -> int:
    """``experiments.replay`` of the cells asked for, printed beside the values the run's CSV holds."""
    try:
        ratios = parse_ratios(args.ratio)
    except ValueError as err:
        raise UsageError(f"replay: --ratio: {err}") from None

    def action() -> int:
        from experiments.replay import replay
        from mae_core.checkpoints.loading import load_model

        store = RunStore(args.out)
        (run_id,) = store.resolve_ids([args.run_id])
        done = replay(store.open(run_id), args.image, seed=args.seed, models=load_model, ratios=ratios, mask=args.mask)
        where = "the run's copy" if done.image.copy else str(done.image.path)
        print(f"run {done.run_id}, image {done.image.name} read from {where}, seed {done.seed}, mask {args.mask}, "
              f"{done.dtype}{', crop' if done.crop else ''}")  # fmt: skip
        table = [("CHECKPOINT", "RATIO", "METRIC", "CSV", "REPLAYED", "DIFFERENCE")]
        for cell in done.cells:
            for name, value in cell.metrics.items():
                stored = cell.stored.get(name)
                gap = "-" if stored is None else f"{abs(value - stored):.3g}"
                table.append((cell.checkpoint, f"{cell.mask_ratio:g}", name,
                              "-" if stored is None else f"{stored:.6g}", f"{value:.6g}", gap))  # fmt: skip
        print_table(table)
        gaps = [gap for gap in (cell.difference() for cell in done.cells) if not math.isnan(gap)]
        print(f"largest difference: {max(gaps):.3g}" if gaps else "largest difference: - (the CSV holds no values)")
        for name in done.not_replayed:
            print(f"{name} is not replayed: it is measured over all the run's seeds, not one cell")
        return EXIT_OK

    return guarded(action)
