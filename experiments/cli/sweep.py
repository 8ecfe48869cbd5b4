"""``python -m experiments sweep``: measure checkpoints x images x masks x ratios x seeds into the store."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from experiments.cli.common import (
    EXIT_FATAL,
    EXIT_IMAGES_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    OUT_HELP,
    UsageError,
    guarded,
)
from experiments.config import (
    DEFAULT_BATCH_SIZE,
    SweepConfig,
    parse_masks,
    parse_metrics,
    parse_ratios,
    parse_seeds,
)
from experiments.resume import ResumeMismatch, resumed_config
from experiments.store import Run, RunStore
from mae_core.options import COMPUTE_DTYPE_NAMES, MASK_STRATEGIES, SWEEP_METRICS

if TYPE_CHECKING:
    from experiments.sweep import SweepResult


def add_parser(commands) -> None:
    sweep = commands.add_parser("sweep", help="evaluate checkpoints x images x masks x ratios x seeds into the store")
    sweep.add_argument(
        "--images",
        nargs="+",
        metavar="PATH",
        help="image files, folders (recursive), .txt lists, datasets: hf://datasets/ORG/NAME[@REV], save_to_disk "
        "folders, .parquet, image folders with metadata.jsonl or imagefolder:DIR",
    )
    sweep.add_argument("--checkpoints", nargs="+", metavar="NAME", help="registry names, local files/folders, hf://")
    sweep.add_argument("--ratios", help="start:stop:step (stop included) or a comma list [0.75]")
    sweep.add_argument("--seeds", help="a range 0-4, a comma list, or both: 0-2,7 [0]")
    sweep.add_argument("--masks", help=f"mask strategies, a comma list of {', '.join(MASK_STRATEGIES)} [random]")
    sweep.add_argument("--out", metavar="ROOT", help=OUT_HELP)
    sweep.add_argument("--batch-size", type=int, metavar="N", help=f"cells per forward pass [{DEFAULT_BATCH_SIZE}]")
    sweep.add_argument("--dtype", choices=COMPUTE_DTYPE_NAMES, help="compute dtype [float32]")
    sweep.add_argument("--device", default=None, metavar="D", help="cpu, cuda, cuda:N, mps [auto]")
    sweep.add_argument("--crop", action="store_true", help="centre-crop to a square instead of squashing")
    sweep.add_argument(
        "--metrics",
        metavar="NAMES",
        help=f"optional metrics, a comma list of {', '.join(SWEEP_METRICS)}, or all, or none (loss, mse, psnr "
        "are always computed; spread: each image's mean spread over masks across all the --seeds, 2 or more) "
        "[ssim, detail, visible_loss, and lpips when its weights are here]",
    )
    sweep.add_argument(
        "--keep-images", action="store_true", help="copy the image files into the run, so it replays without them"
    )
    sweep.add_argument("--resume", metavar="RUN_ID", help="continue this run: only its missing cells are computed")
    sweep.add_argument("--no-progress", action="store_true", help="no progress bar")
    sweep.add_argument("--split", metavar="NAME", help="datasets: the split [validation, else the only one]")
    sweep.add_argument("--image-column", metavar="NAME", help="datasets: the image column [the first Image column]")
    sweep.add_argument("--limit", type=int, metavar="N", help="datasets: take N rows [all]")
    sweep.add_argument("--sample-seed", type=int, metavar="S", help="datasets: draw the --limit rows with seed S")
    sweep.add_argument(
        "--track", action="append", metavar="TRACKER", help="log to trackio[:PROJECT] or mlflow[:EXPERIMENT] (repeat)"
    )


def run(args: argparse.Namespace) -> int:
    trackers = _trackers(args.track)
    config = _sweep_config(args)  # usage errors answer before the engine is imported
    from experiments.distributed import dist_env, run_distributed_sweep, world_size

    if world_size() > 1:

        def distributed() -> int:
            result = run_distributed_sweep(
                config, root=args.out, resume=args.resume, show_progress=not args.no_progress
            )
            code = _track(trackers, result, args.out) if dist_env().rank == 0 else result.exit_code
            # torchrun reports any non-zero exit as a crashed worker: skipped images are in the manifest instead
            return EXIT_OK if code == EXIT_IMAGES_FAILED else code

        return guarded(distributed)
    return guarded(lambda: _run_local(config, args, trackers))


def _trackers(values: Sequence[str] | None) -> list:
    """The ``--track`` trackers, each checked (package installed, store answering) before any run exists."""
    if not values:
        return []  # and the tracker packages are never imported
    from experiments.tracking import check_tracker, parse_track

    try:
        specs = list(dict.fromkeys(parse_track(value) for value in values))
        for spec in specs:
            check_tracker(spec)
    except ValueError as err:
        raise UsageError(f"sweep: {err}") from None
    return specs


def _track(trackers: Sequence, result: SweepResult, root: str | None) -> int:
    """Log a finished run into each tracker; a tracker that fails costs exit code 1, never the stored rows."""
    if not trackers or result.status != "finished":
        return result.exit_code
    from experiments.tracking import log_run, run_log

    run = RunStore(root).open(result.run_id)
    log = run_log(run.read_manifest(), run.read_rows())
    code = result.exit_code
    for spec in trackers:
        try:
            print(f"tracked in {log_run(spec, log)}", flush=True)
        except Exception as err:  # a tracker's own failure; the run itself is complete in the store
            print(f"error: --track {spec} failed ({type(err).__name__}: {err}); the run is complete in the "
                  "store", file=sys.stderr)  # fmt: skip
            code = EXIT_FATAL
    return code


def _sweep_config(args: argparse.Namespace) -> SweepConfig:
    try:
        given = _given_fields(args)
        if args.resume:
            return _resumed_config(args.resume, args.out, given)
        if not args.images:
            raise UsageError("sweep: --images is required (files, folders or a .txt list)")
        if not args.checkpoints:
            raise UsageError("sweep: --checkpoints is required (registry names, local files or hf:// ids)")
        return SweepConfig(**given)  # what is not given keeps SweepConfig's default
    except ValueError as err:
        raise UsageError(f"sweep: {err}") from None


def _given_fields(args: argparse.Namespace) -> dict[str, object]:
    """The SweepConfig fields the command line sets, parsed (``ValueError`` naming a bad value)."""
    given: dict[str, object] = {}
    if args.images:
        given["images"] = tuple(args.images)
    if args.checkpoints:
        given["checkpoints"] = tuple(args.checkpoints)
    if args.ratios is not None:  # an empty --ratios, --seeds or --masks is an error, not the default
        given["ratios"] = parse_ratios(args.ratios)
    if args.seeds is not None:
        given["seeds"] = parse_seeds(args.seeds)
    if args.masks is not None:
        given["masks"] = parse_masks(args.masks)
    if args.dtype:
        given["dtype"] = args.dtype
    if args.crop:
        given["crop"] = True
    for name in ("split", "image_column", "limit", "sample_seed"):  # dataset options
        if getattr(args, name) is not None:
            given[name] = getattr(args, name)
    if args.metrics is not None:
        given["metrics"] = parse_metrics(args.metrics)
    if args.keep_images:
        given["keep_images"] = True
    if args.batch_size is not None:
        given["batch_size"] = args.batch_size
    if args.device is not None:
        given["device"] = args.device
    return given


def _resumed_config(run_id: str, root: str | None, given: dict[str, object]) -> SweepConfig:
    try:
        return resumed_config(run_id, RunStore(root).open(run_id).read_manifest(), given)
    except ResumeMismatch as err:
        raise UsageError(str(err)) from None


def _run_local(config: SweepConfig, args: argparse.Namespace, trackers: Sequence = ()) -> int:
    from experiments.progress import ProgressBar
    from experiments.sweep import run_sweep

    bar = ProgressBar(enabled=not args.no_progress)
    started = []

    def on_start(run: Run) -> None:
        started.append(run)
        print(f"run {run.run_id} -> {run.path}", flush=True)

    try:
        result = run_sweep(
            config, root=args.out, resume=args.resume, progress=bar, on_start=on_start, on_note=_print_note
        )
    except KeyboardInterrupt:
        bar.close()
        if not started:
            raise
        out = f" --out {args.out}" if args.out else ""
        print(
            f"interrupted: completed cells are kept; continue with "
            f"python -m experiments sweep --resume {started[0].run_id}{out}",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    finally:
        bar.close()
    _print_result(result)
    return _track(trackers, result, args.out)


def _print_note(line: str) -> None:
    """A metric left out (lpips without its weights): one line on stderr; the run goes on without it."""
    print(line, file=sys.stderr, flush=True)


def _print_result(result: SweepResult) -> None:
    for error in result.errors:
        print(f"skipped {error}", file=sys.stderr)
    print(result.describe(), flush=True)
    if result.errors:
        print(
            f"{len(result.errors)} image(s) could not be read; see {os.path.join(result.run_dir, 'manifest.json')}",
            file=sys.stderr,
        )
