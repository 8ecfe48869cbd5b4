"""``python -m experiments report``: summary tables, paired difference, breakdown and plots of runs."""

from __future__ import annotations

import argparse
import shutil
from typing import TYPE_CHECKING

from experiments.cli.common import EXIT_OK, OUT_HELP, guarded, warn_skipped
from experiments.store import RunStore, load_runs, run_state, skipped_notes
from mae_core.options import METRIC_NAMES

if TYPE_CHECKING:
    from experiments.breakdown import Threshold


def add_parser(commands) -> None:
    report = commands.add_parser("report", help="summary tables, paired difference and plot of runs")
    report.add_argument("run_ids", nargs="+", metavar="RUN_ID", help="run ids, or latest for the newest run")
    report.add_argument("--out", metavar="ROOT", help=OUT_HELP)
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


def run(args: argparse.Namespace) -> int:
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
        warn_skipped(skipped)
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

    return guarded(action)


def _threshold(text: str) -> Threshold:
    from experiments.breakdown import parse_threshold  # matplotlib: only when a report is made

    try:
        return parse_threshold(text)
    except ValueError as err:
        raise ValueError(f"--breakdown: {err}") from None  # one line, exit 2 (_guarded)
