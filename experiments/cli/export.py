"""``python -m experiments export``: runs as typed Parquet files or a Hub dataset (optionally pushed)."""

from __future__ import annotations

import argparse
import sys

from experiments.cli.common import EXIT_FATAL, EXIT_OK, OUT_HELP, UsageError, guarded, warn_skipped


def add_parser(commands) -> None:
    export = commands.add_parser("export", help="runs as typed Parquet files or a Hub dataset (optionally pushed)")
    export.add_argument("run_ids", nargs="+", metavar="RUN_ID")
    export.add_argument("--format", default="parquet", choices=("parquet", "hf-dataset"), help="[parquet]")
    export.add_argument("--dest", metavar="DIR", help="the folder to write (with --push: optional, else required)")
    export.add_argument("--push", metavar="ORG/NAME", help="hf-dataset: upload to this Hub dataset repository")
    export.add_argument("--public", action="store_true", help="with --push: create the repository public")
    export.add_argument("--out", metavar="ROOT", help=OUT_HELP)


def run(args: argparse.Namespace) -> int:
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
            warn_skipped(skipped)
            print(f"wrote {result.rows} rows: " + ", ".join(str(f) for f in result.files))
            return EXIT_OK
        with tempfile.TemporaryDirectory(prefix="mae-export-") as scratch:
            result = export_hf_dataset(args.run_ids, args.dest or scratch, root=args.out, skipped=skipped)
            warn_skipped(skipped)
            print(f"wrote a Hub dataset of {result.rows} rows in {result.dest}")
            if args.push:
                try:
                    url = push_dataset(result.dest, args.push, private=not args.public)
                except PushError as err:
                    print(f"error: {err}", file=sys.stderr)
                    return EXIT_FATAL
                print(f"pushed to {args.push} ({'public' if args.public else 'private'}): {url}")
        return EXIT_OK

    return guarded(action)
