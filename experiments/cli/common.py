"""What every subcommand shares: exit codes, one-line usage errors, and the guard that turns failures into them.

The commands import what they compute with (torch, the engine, the analysis, matplotlib) when they run, so that
--help, runs and report answer without loading what they do not use.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable, Sequence

from experiments.store import RunBusyError, skipped_notes

EXIT_OK, EXIT_FATAL, EXIT_USAGE, EXIT_IMAGES_FAILED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
OUT_HELP = "run store root [$MAE_RUNS_DIR or ./runs]"


class UsageError(Exception):
    """Bad arguments: reported as one line, exit code 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's own: usage block + message; ours: one line
        raise UsageError(f"{self.prog}: {message} (see --help)")


def guarded(action: Callable[[], int]) -> int:
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


def warn_skipped(skipped: Sequence) -> None:
    """Lines of the runs' files that could not be read and were left out: one line per file on stderr."""
    for line in skipped_notes(skipped):
        print(f"warning: {line}", file=sys.stderr)


def print_table(table: Sequence[Sequence[str]]) -> None:
    """Rows of cells as left-aligned columns two spaces apart."""
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
