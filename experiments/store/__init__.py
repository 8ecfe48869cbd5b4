"""The run store: one folder per run, a manifest and an append-only CSV of losses, safe without a server.

- :mod:`~experiments.store.schema`: the columns (one table), the schema versions, the row type :class:`LossRow`;
- :mod:`~experiments.store.csv_file`: the crash-safe losses file (locked appends, tolerant typed reads);
- :mod:`~experiments.store.run`: one run folder (:class:`Run`);
- :mod:`~experiments.store.runs`: the runs under a root (:class:`RunStore`, :func:`load_runs`);
- :mod:`~experiments.store.provenance`: the environment a manifest records, whether a writer is alive.
"""

from __future__ import annotations

from experiments.config import format_ratio  # the ratio as the store writes it
from experiments.store.csv_file import SkippedLine, empty_frame, file_schema, read_losses, skipped_notes
from experiments.store.provenance import environment, pid_alive, run_state, utc_now
from experiments.store.run import (
    LOSSES_NAME,
    MANIFEST_NAME,
    SHARD_PATTERN,
    Run,
    RunBusyError,
    new_run_id,
    read_manifest_file,
    write_manifest,
)
from experiments.store.runs import (
    DEFAULT_ROOT,
    LATEST,
    RUNS_DIR_ENV,
    RunStore,
    check_run_id,
    list_runs,
    load_runs,
    resolve_root,
)
from experiments.store.schema import (
    CELL_COLUMNS,
    COLUMNS,
    LEGACY_CELLS,
    LEGACY_COLUMNS,
    LEGACY_SIZE,
    SCHEMA_2_COLUMNS,
    SCHEMA_COLUMNS,
    SCHEMA_VERSION,
    CellKey,
    LossRow,
    cell_key,
    text_writer,
)

__all__ = [
    "CELL_COLUMNS",
    "COLUMNS",
    "DEFAULT_ROOT",
    "LATEST",
    "LEGACY_CELLS",
    "LEGACY_COLUMNS",
    "LEGACY_SIZE",
    "LOSSES_NAME",
    "MANIFEST_NAME",
    "RUNS_DIR_ENV",
    "SCHEMA_2_COLUMNS",
    "SCHEMA_COLUMNS",
    "SCHEMA_VERSION",
    "SHARD_PATTERN",
    "CellKey",
    "LossRow",
    "Run",
    "RunBusyError",
    "RunStore",
    "SkippedLine",
    "cell_key",
    "check_run_id",
    "empty_frame",
    "environment",
    "file_schema",
    "format_ratio",
    "list_runs",
    "load_runs",
    "new_run_id",
    "pid_alive",
    "read_losses",
    "read_manifest_file",
    "resolve_root",
    "run_state",
    "skipped_notes",
    "text_writer",
    "utc_now",
    "write_manifest",
]
