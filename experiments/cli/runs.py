"""``python -m experiments runs``: the runs of a store, one line each, with the planned cells they hold."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from experiments.cli.common import EXIT_OK, OUT_HELP, print_table
from experiments.config import DEFAULT_MASKS
from experiments.manifest import Manifest
from experiments.store import RunStore, run_state, skipped_notes

# MASKS is last: scripts that split the table keep the earlier columns' places
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


def add_parser(commands) -> None:
    runs = commands.add_parser("runs", help="list the runs of a store")
    runs.add_argument("--out", metavar="ROOT", help=OUT_HELP)


def run(args: argparse.Namespace) -> int:
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
    print_table([RUNS_HEADER, *lines])
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
