"""``python -m experiments sweep|report|runs|export|replay``: a thin command line over the library.

Exit codes: 0 all good, 1 fatal error, 2 usage error (one line on stderr, no traceback), 3 some images could not be
read (listed in the manifest's ``errors``; the run is ``finished`` when others were measured, ``failed`` when none
was), 130 interrupted (resume with ``--resume``).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from experiments.cli import export, replay, report, runs, sweep
from experiments.cli.common import EXIT_USAGE, Parser, UsageError

COMMANDS = {"sweep": sweep, "report": report, "replay": replay, "runs": runs, "export": export}  # --help's order


def build_parser() -> Parser:
    parser = Parser(prog="python -m experiments", description="Mask-ratio studies of MAE checkpoints.")
    commands = parser.add_subparsers(dest="command", metavar="{sweep,report,runs,export,replay}", parser_class=Parser)
    for command in COMMANDS.values():
        command.add_parser(commands)
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
        return COMMANDS[args.command].run(args)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
