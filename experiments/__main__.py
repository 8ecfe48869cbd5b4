"""``python -m experiments sweep|report|runs``: a thin command line over the library.

Exit codes: 0 all good, 1 fatal error, 2 usage error (one line on stderr, no traceback), 3 the sweep finished but
some images could not be read (listed in the manifest's ``errors``), 130 interrupted (resume with ``--resume``).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import signal
import sys
from collections.abc import Callable, Sequence

from experiments.config import DEFAULT_BATCH_SIZE, SweepConfig, parse_ratios, parse_seeds
from experiments.distributed import run_distributed_sweep, world_size
from experiments.progress import ProgressBar
from experiments.report import write_report
from experiments.store import Run, RunBusyError, RunStore, load_runs
from experiments.sweep import SweepResult, run_sweep
from mae_core.metrics import METRIC_NAMES
from mae_core.packed import COMPUTE_DTYPES

EXIT_OK, EXIT_FATAL, EXIT_USAGE, EXIT_IMAGES_FAILED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


class UsageError(Exception):
    """Bad arguments: reported as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's own: usage block + message; ours: one line
        raise UsageError(f"{self.prog}: {message} (see --help)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m experiments", description="Mask-ratio studies of MAE checkpoints.")
    commands = parser.add_subparsers(dest="command", metavar="{sweep,report,runs}", parser_class=_Parser)

    sweep = commands.add_parser("sweep", help="evaluate checkpoints x images x mask ratios x seeds into the store")
    sweep.add_argument("--images", nargs="+", metavar="PATH", help="image files, folders (recursive), .txt lists")
    sweep.add_argument("--checkpoints", nargs="+", metavar="NAME", help="registry names, local files/folders, hf://")
    sweep.add_argument("--ratios", help="start:stop:step (stop included) or a comma list [0.75]")
    sweep.add_argument("--seeds", help="a range 0-4, a comma list, or both: 0-2,7 [0]")
    sweep.add_argument("--out", metavar="ROOT", help="run store root [$MAE_RUNS_DIR or ./runs]")
    sweep.add_argument("--batch-size", type=int, metavar="N", help=f"cells per forward pass [{DEFAULT_BATCH_SIZE}]")
    sweep.add_argument("--dtype", choices=tuple(COMPUTE_DTYPES), help="compute dtype [float32]")
    sweep.add_argument("--device", default=None, metavar="D", help="cpu, cuda, cuda:N, mps [auto]")
    sweep.add_argument("--crop", action="store_true", help="centre-crop to a square instead of squashing")
    sweep.add_argument("--resume", metavar="RUN_ID", help="continue this run: only its missing cells are computed")
    sweep.add_argument("--no-progress", action="store_true", help="no progress bar")

    report = commands.add_parser("report", help="summary tables, paired difference and plot of runs")
    report.add_argument("run_ids", nargs="+", metavar="RUN_ID")
    report.add_argument("--out", metavar="ROOT", help="run store root [$MAE_RUNS_DIR or ./runs]")
    report.add_argument("--metric", default="loss", choices=METRIC_NAMES, help="[loss]")

    runs = commands.add_parser("runs", help="list the runs of a store")
    runs.add_argument("--out", metavar="ROOT", help="run store root [$MAE_RUNS_DIR or ./runs]")

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["train"]:
        print("error: training moved out of the studies: python -m recipes.tiny_pair (see --help)", file=sys.stderr)
        return EXIT_USAGE
    try:
        args = build_parser().parse_args(argv)
        if args.command is None:
            raise UsageError("python -m experiments: choose a command: sweep, report or runs (see --help)")
        if args.command == "sweep":
            return _sweep(args)
        if args.command == "report":
            return _report(args)
        return _runs(args)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE


def _sweep(args: argparse.Namespace) -> int:
    config = _sweep_config(args)
    if world_size() > 1:

        def distributed() -> int:
            code = run_distributed_sweep(
                config, root=args.out, resume=args.resume, show_progress=not args.no_progress
            ).exit_code
            # torchrun reports any non-zero exit as a crashed worker: skipped images are in the manifest instead
            return EXIT_OK if code == EXIT_IMAGES_FAILED else code

        return _guarded(distributed)
    return _guarded(lambda: _run_local(config, args))


def _sweep_config(args: argparse.Namespace) -> SweepConfig:
    try:
        if args.resume:
            return _resumed_config(args)
        if not args.images:
            raise UsageError("sweep: --images is required (files, folders or a .txt list)")
        if not args.checkpoints:
            raise UsageError("sweep: --checkpoints is required (registry names, local files or hf:// ids)")
        given = {"device": args.device, "crop": args.crop}  # what is not given keeps SweepConfig's default
        if args.ratios:
            given["ratios"] = parse_ratios(args.ratios)
        if args.seeds:
            given["seeds"] = parse_seeds(args.seeds)
        if args.batch_size is not None:
            given["batch_size"] = args.batch_size
        if args.dtype:
            given["dtype"] = args.dtype
        return SweepConfig(images=tuple(args.images), checkpoints=tuple(args.checkpoints), **given)
    except ValueError as err:
        raise UsageError(f"sweep: {err}") from None


def _resumed_config(args: argparse.Namespace) -> SweepConfig:
    """The run's recorded config; only how to compute (batch size, device) may change, never what."""
    fixed = {
        "--images": args.images,
        "--checkpoints": args.checkpoints,
        "--ratios": args.ratios,
        "--seeds": args.seeds,
        "--dtype": args.dtype,
        "--crop": args.crop or None,
    }
    given = [flag for flag, value in fixed.items() if value is not None]
    if given:
        raise UsageError(
            f"sweep --resume continues the run as it was recorded; drop {', '.join(given)} (or start a new run)"
        )
    recorded = RunStore(args.out).open(args.resume).read_manifest().recorded_config()
    changes = {}
    if args.batch_size is not None:
        changes["batch_size"] = args.batch_size
    if args.device is not None:
        changes["device"] = args.device
    return dataclasses.replace(recorded, **changes)


def _run_local(config: SweepConfig, args: argparse.Namespace) -> int:
    bar = ProgressBar(enabled=not args.no_progress)
    started = []

    def on_start(run: Run) -> None:
        started.append(run)
        print(f"run {run.run_id} -> {run.path}", flush=True)

    try:
        result = run_sweep(config, root=args.out, resume=args.resume, progress=bar, on_start=on_start)
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
    return result.exit_code


def _print_result(result: SweepResult) -> None:
    for error in result.errors:
        print(f"skipped {error}", file=sys.stderr)
    print(
        f"run {result.run_id}: {result.status}, {result.rows} rows ({result.written} new) in "
        f"{os.path.join(result.run_dir, 'losses.csv')}",
        flush=True,
    )
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
        df = load_runs(args.run_ids, root=args.out)
        folder = RunStore(args.out).open(args.run_ids[0]).path / "report"
        report = write_report(df, folder, args.metric)
        print(report.text, end="")
        for path in report.files:
            print(f"wrote {path}")
        return EXIT_OK

    return _guarded(action)


def _runs(args: argparse.Namespace) -> int:
    store = RunStore(args.out)
    manifests = store.list_runs()
    if not manifests:
        print(f"no runs under {store.root}")
    for m in manifests:
        names = ", ".join(c.name for c in m.checkpoints)
        rows = "?" if m.rows is None else m.rows
        print(f"{m.run_id}  {m.status:<11} rows={rows}  errors={len(m.errors)}  {names}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
