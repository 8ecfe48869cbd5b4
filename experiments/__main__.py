"""``python -m experiments sweep|report|runs|export|replay``: a thin command line over the library.

Exit codes: 0 all good, 1 fatal error, 2 usage error (one line on stderr, no traceback), 3 some images could not be
read (listed in the manifest's ``errors``; the run is ``finished`` when others were measured, ``failed`` when none
was), 130 interrupted (resume with ``--resume``).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import shutil
import signal
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from experiments.config import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_MASKS,
    SweepConfig,
    parse_masks,
    parse_metrics,
    parse_ratios,
    parse_seeds,
)
from experiments.manifest import Manifest
from experiments.store import Run, RunBusyError, RunStore, load_runs, run_state, skipped_notes
from mae_core.options import COMPUTE_DTYPE_NAMES, MASK_STRATEGIES, METRIC_NAMES, OPTIONAL_METRICS

if TYPE_CHECKING:
    from experiments.breakdown import Threshold
    from experiments.sweep import SweepResult

# The commands import what they compute with (torch, the engine, the analysis, matplotlib) when they run, so that
# --help, runs and report answer without loading what they do not use.

EXIT_OK, EXIT_FATAL, EXIT_USAGE, EXIT_IMAGES_FAILED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


class UsageError(Exception):
    """Bad arguments: reported as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's own: usage block + message; ours: one line
        raise UsageError(f"{self.prog}: {message} (see --help)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m experiments", description="Mask-ratio studies of MAE checkpoints.")
    commands = parser.add_subparsers(dest="command", metavar="{sweep,report,runs,export,replay}", parser_class=_Parser)

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
    sweep.add_argument("--out", metavar="ROOT", help="run store root [$MAE_RUNS_DIR or ./runs]")
    sweep.add_argument("--batch-size", type=int, metavar="N", help=f"cells per forward pass [{DEFAULT_BATCH_SIZE}]")
    sweep.add_argument("--dtype", choices=COMPUTE_DTYPE_NAMES, help="compute dtype [float32]")
    sweep.add_argument("--device", default=None, metavar="D", help="cpu, cuda, cuda:N, mps [auto]")
    sweep.add_argument("--crop", action="store_true", help="centre-crop to a square instead of squashing")
    sweep.add_argument(
        "--metrics",
        metavar="NAMES",
        help=f"optional metrics, a comma list of {', '.join(OPTIONAL_METRICS)}, or all, or none (loss, mse, psnr "
        "are always computed) [ssim, detail, visible_loss, and lpips when its weights are here]",
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

    report = commands.add_parser("report", help="summary tables, paired difference and plot of runs")
    report.add_argument("run_ids", nargs="+", metavar="RUN_ID", help="run ids, or latest for the newest run")
    report.add_argument("--out", metavar="ROOT", help="run store root [$MAE_RUNS_DIR or ./runs]")
    report.add_argument("--metric", default="loss", choices=METRIC_NAMES, help="[loss]")
    report.add_argument("--a", metavar="NAME", help="baseline checkpoint of the paired difference b - a [pixel]")
    report.add_argument("--b", metavar="NAME", help="other checkpoint of the paired difference [gan]")
    report.add_argument(
        "--breakdown",
        action="append",
        metavar="METRIC<VALUE",
        help="per image, the smallest mask ratio where a metric crosses a threshold, e.g. psnr<20 or lpips>0.4 "
        "(repeat for several)",
    )
    report.add_argument(
        "--allow-unbalanced",
        action="store_true",
        help="keep images that lack some cells (each point then says which images it used)",
    )

    replay = commands.add_parser(
        "replay", help="recompute cells of one image of a run and print them beside the run's CSV values"
    )
    replay.add_argument("run_id", metavar="RUN_ID", help="a run id, or latest for the newest run")
    replay.add_argument("image", metavar="IMAGE", help="the image as the run names it, or its file name")
    replay.add_argument("--ratio", required=True, metavar="R", help="the mask ratio (or a comma list of them)")
    replay.add_argument("--seed", required=True, type=int, metavar="S", help="the seed")
    replay.add_argument("--mask", default="random", metavar="M", help="the mask strategy [random]")
    replay.add_argument("--out", metavar="ROOT", help="run store root [$MAE_RUNS_DIR or ./runs]")

    runs = commands.add_parser("runs", help="list the runs of a store")
    runs.add_argument("--out", metavar="ROOT", help="run store root [$MAE_RUNS_DIR or ./runs]")

    export = commands.add_parser("export", help="runs as typed Parquet files or a Hub dataset (optionally pushed)")
    export.add_argument("run_ids", nargs="+", metavar="RUN_ID")
    export.add_argument("--format", default="parquet", choices=("parquet", "hf-dataset"), help="[parquet]")
    export.add_argument("--dest", metavar="DIR", help="the folder to write (with --push: optional, else required)")
    export.add_argument("--push", metavar="ORG/NAME", help="hf-dataset: upload to this Hub dataset repository")
    export.add_argument("--public", action="store_true", help="with --push: create the repository public")
    export.add_argument("--out", metavar="ROOT", help="run store root [$MAE_RUNS_DIR or ./runs]")

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["train"]:
        print("error: training moved out of the studies: python -m recipes.tiny_pair (see --help)", file=sys.stderr)
        return EXIT_USAGE
    try:
        args = build_parser().parse_args(argv)
        if args.command is None:
            raise UsageError(
                "python -m experiments: choose a command: sweep, report, runs, export or replay (see --help)"
            )
        if args.command == "sweep":
            return _sweep(args)
        if args.command == "report":
            return _report(args)
        if args.command == "export":
            return _export(args)
        if args.command == "replay":
            return _replay(args)
        return _runs(args)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE


def _sweep(args: argparse.Namespace) -> int:
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

        return _guarded(distributed)
    return _guarded(lambda: _run_local(config, args, trackers))


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


# what a sweep measures, by SweepConfig field and the flag that sets it: a resume must not change these
MEASURED_FLAGS = {
    "images": "--images",
    "checkpoints": "--checkpoints",
    "ratios": "--ratios",
    "seeds": "--seeds",
    "masks": "--masks",
    "dtype": "--dtype",
    "crop": "--crop",
    "split": "--split",
    "image_column": "--image-column",
    "limit": "--limit",
    "sample_seed": "--sample-seed",
    "metrics": "--metrics",
    "keep_images": "--keep-images",
}


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
    """The run's recorded config with how to compute (batch size, device) as given. Arguments that say what to
    measure are accepted when they repeat the recorded ones (the original command with ``--resume`` added), and
    refused, each difference named, when they do not."""
    manifest = RunStore(root).open(run_id).read_manifest()
    measured = _as_measured(manifest)
    asked = dataclasses.replace(measured, **given)  # normalised as any config: 0.1*3 is 0.3, seeds deduplicated
    differing = [
        (flag, name)
        for name, flag in MEASURED_FLAGS.items()
        if name in given and not _same(getattr(asked, name), getattr(measured, name))
    ]
    recorded = manifest.recorded_config()
    if differing:
        said = "; ".join(
            f"{flag} asks for {_shown(getattr(asked, name))} where the run records {_shown(getattr(measured, name))}"
            for flag, name in differing
        )
        flags = ", ".join(flag for flag, _ in differing)
        raise UsageError(
            f"sweep --resume {run_id} continues the run as recorded, but {said}; drop {flags} or start a new run"
        )
    return dataclasses.replace(recorded, **{k: v for k, v in given.items() if k in ("batch_size", "device")})


def _as_measured(manifest: Manifest):
    """The run's config with the split and image column its datasets were read with where it left them to the
    defaults (``--split validation`` repeats a run that used validation by default)."""
    config = manifest.recorded_config()
    chosen = {}
    for name, attribute in (("split", "split"), ("image_column", "column")):
        used = {getattr(source, attribute) for source in manifest.datasets}
        if getattr(config, name) is None and len(used) == 1 and None not in used:
            chosen[name] = used.pop()
    return dataclasses.replace(config, **chosen)


def _same(asked: object, recorded: object) -> bool:
    """Equal as sets for the axes (the same cells in any order), equal otherwise."""
    if isinstance(asked, tuple) and isinstance(recorded, tuple):
        return set(asked) == set(recorded)
    return asked == recorded


def _shown(value: object, limit: int = 6) -> str:
    if not isinstance(value, tuple):
        return str(value)
    shown = ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value[:limit])
    return shown if len(value) <= limit else f"{shown},... ({len(value)} values)"


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


def _guarded(action: Callable[[], int]) -> int:
    """Run ``action``: user errors as one line (exit 2), SIGTERM/Ctrl-C as an interruption (130), crashes as 1."""
    previous = signal.getsignal(signal.SIGTERM)

    def _terminate(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)  # a polite kill marks the run interrupted, like Ctrl-C
    try:
        return action()
    except KeyboardInterrupt:
        print("interrupted: resume with --resume RUN_ID (completed cells are kept)", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (ValueError, RunBusyError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE if isinstance(err, ValueError) else EXIT_FATAL
    except Exception as err:  # the one place where every failure becomes an exit code
        print(f"fatal: {type(err).__name__}: {err}", file=sys.stderr)
        return EXIT_FATAL
    finally:
        signal.signal(signal.SIGTERM, previous)


def _report(args: argparse.Namespace) -> int:
    def action() -> int:
        from experiments.image_report import write_image_report
        from experiments.ranking import locate_run_images
        from experiments.report import new_report_folder, write_report
        from experiments.selection import planned_images

        store = RunStore(args.out)
        run_ids = store.resolve_ids(args.run_ids)
        manifests = [store.open(run_id).read_manifest() for run_id in run_ids]
        statuses = {manifest.run_id: run_state(manifest) for manifest in manifests}
        thresholds = [_threshold(text) for text in args.breakdown or ()]
        skipped: list = []
        df = load_runs(run_ids, root=args.out, skipped=skipped)
        unreadable = skipped_notes(skipped)
        _warn_skipped(skipped)
        folder = new_report_folder(store.root, run_ids, args.metric)
        try:
            report = write_report(
                df,
                folder,
                args.metric,
                a=args.a,
                b=args.b,
                allow_unbalanced=args.allow_unbalanced,
                statuses=statuses,
                planned=planned_images(manifests, statuses),
                unreadable=unreadable,
            )
            runs = {run_id: store.open(run_id) for run_id in run_ids}
            images = write_image_report(
                report.selection.frame,
                report.folder,
                thresholds=thresholds,
                pair=(report.paired["a"].iloc[0], report.paired["b"].iloc[0]) if report.paired is not None else None,
                locate=lambda wanted: locate_run_images(df, runs, {m.run_id: m for m in manifests}, wanted),
            )
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)  # a report that could not be made leaves no folder
            raise
        print(report.text + images.text, end="")
        for path in report.files + images.files:
            print(f"wrote {path}")
        print(f"report folder: {report.folder}")
        return EXIT_OK

    return _guarded(action)


def _threshold(text: str) -> Threshold:
    from experiments.breakdown import parse_threshold  # with the report: it brings scipy and matplotlib

    try:
        return parse_threshold(text)
    except ValueError as err:
        raise ValueError(f"--breakdown: {err}") from None  # one line, exit 2 (_guarded)


def _runs(args: argparse.Namespace) -> int:
    store = RunStore(args.out)
    manifests, unreadable = store.list_runs(), store.unreadable_runs()
    if not manifests and not unreadable:
        print(f"no runs under {store.root}")
        return EXIT_OK
    skipped: list[str] = []
    lines = [_run_line(store, m, skipped) for m in manifests]
    lines += [(run_id, "?", "unreadable", *("?" * (len(RUNS_HEADER) - 3))) for run_id, _ in unreadable]
    for line in [reason for _, reason in unreadable] + skipped:  # what is wrong, one line each
        print(f"warning: {line}", file=sys.stderr)
    table = [RUNS_HEADER, *lines]
    widths = [max(len(row[i]) for row in table) for i in range(len(RUNS_HEADER))]
    for row in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    out = f" --out {args.out}" if args.out else ""
    for manifest in manifests:
        if run_state(manifest) == "dead":
            env = manifest.environment
            print(
                f"dead: run {manifest.run_id} says running but its process (pid {env.get('pid')} on "
                f"{env.get('host')}) is gone; resume it with python -m experiments sweep --resume "
                f"{manifest.run_id}{out}"
            )
    return EXIT_OK


def _export(args: argparse.Namespace) -> int:
    if args.push and args.format != "hf-dataset":
        raise UsageError("export: --push uploads a Hub dataset folder: use --format hf-dataset")
    if not args.dest and not args.push:
        raise UsageError("export: --dest is required (the folder to write), unless --push uploads it")
    if args.public and not args.push:
        raise UsageError("export: --public applies to --push")

    def action() -> int:
        import tempfile

        from experiments.export import PushError, export_hf_dataset, export_parquet, push_dataset

        skipped: list = []
        if args.format == "parquet":
            result = export_parquet(args.run_ids, args.dest, root=args.out, skipped=skipped)
            _warn_skipped(skipped)
            print(f"wrote {result.rows} rows: " + ", ".join(str(f) for f in result.files))
            return EXIT_OK
        with tempfile.TemporaryDirectory(prefix="mae-export-") as scratch:
            result = export_hf_dataset(args.run_ids, args.dest or scratch, root=args.out, skipped=skipped)
            _warn_skipped(skipped)
            print(f"wrote a Hub dataset of {result.rows} rows in {result.dest}")
            if args.push:
                try:
                    url = push_dataset(result.dest, args.push, private=not args.public)
                except PushError as err:
                    print(f"error: {err}", file=sys.stderr)
                    return EXIT_FATAL
                print(f"pushed to {args.push} ({'public' if args.public else 'private'}): {url}")
        return EXIT_OK

    return _guarded(action)


def _warn_skipped(skipped: Sequence) -> None:
    """Lines of the runs' files that could not be read and were left out: one line per file on stderr."""
    for line in skipped_notes(skipped):
        print(f"warning: {line}", file=sys.stderr)


def _replay(args: argparse.Namespace) -> int:
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
        widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
        for row in table:
            print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
        gaps = [gap for gap in (cell.difference() for cell in done.cells) if not math.isnan(gap)]
        print(f"largest difference: {max(gaps):.3g}" if gaps else "largest difference: - (the CSV holds no values)")
        return EXIT_OK

    return _guarded(action)


# MASKS came with the mask strategies: last, so the columns before it keep their places
RUNS_HEADER = (
    "RUN_ID",
    "CREATED",
    "STATUS",
    "IMAGES",
    "CHECKPOINTS",
    "RATIOS",
    "SEEDS",
    "ROWS/CELLS",
    "ERRORS",
    "MASKS",
)


def _run_line(store: RunStore, m: Manifest, skipped: list[str]) -> tuple[str, ...]:
    """One row of ``runs`` (cells without spaces): ROWS are the planned cells readable in the run's CSV (not the
    count its manifest recorded); its unreadable lines are added to ``skipped``."""
    from experiments.cells import stored_cells

    try:
        rows, lines = stored_cells(store.open(m.run_id), m)
        skipped.extend(skipped_notes(lines))
    except (OSError, ValueError) as err:
        rows = None
        skipped.append(f"run {m.run_id}: its rows cannot be read ({err})")
    return (
        m.run_id,
        (m.created or "?")[:19] + ("Z" if m.created else ""),
        run_state(m),
        str(len(m.images)),
        ",".join(c.name for c in m.checkpoints) or "-",
        _axis(m.ratios),
        _axis(m.seeds),
        f"{'?' if rows is None else rows}/{'?' if m.cells is None else m.cells}",
        str(len(m.errors)),
        ",".join(m.config.masks if m.config else DEFAULT_MASKS),
    )


def _axis(values: Sequence[float | int]) -> str:
    """``0.1..0.9(9)`` for long axes, the values themselves for short ones (no spaces: the table splits on them)."""
    shown = [f"{v:g}" if isinstance(v, float) else str(v) for v in values]
    if len(shown) <= 4:
        return ",".join(shown) or "-"
    return f"{shown[0]}..{shown[-1]}({len(shown)})"


if __name__ == "__main__":
    sys.exit(main())
