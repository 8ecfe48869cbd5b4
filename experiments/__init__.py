"""experiments: the tracking backend for mask-ratio studies.

A crash-safe, concurrent-safe run store (``store``) whose runs are described by typed manifests (``manifest``),
image collection (``images``), sweeps (``config`` says what to measure, ``sweep`` measures it, ``distributed`` under
torchrun, ``progress`` draws the bar) and analysis (``analysis``). The recipe that trains the bundled pair is not
a study: it lives in ``recipes/tiny_pair``.
"""

from .analysis import paired_difference, summarize
from .config import SweepConfig, parse_ratios, parse_seeds
from .figure import plot_metric
from .images import ImageFailure, expand_images, read_images
from .manifest import CheckpointRecord, ImageRecord, Manifest
from .report import Report, write_report
from .selection import Selection, select, unique_cells
from .store import COLUMNS, LossRow, Run, RunBusyError, RunStore, list_runs, load_runs
from .sweep import SweepResult, run_sweep

__all__ = [
    "COLUMNS",
    "CheckpointRecord",
    "ImageFailure",
    "ImageRecord",
    "LossRow",
    "Manifest",
    "Run",
    "RunBusyError",
    "Report",
    "RunStore",
    "Selection",
    "SweepConfig",
    "SweepResult",
    "expand_images",
    "list_runs",
    "load_runs",
    "paired_difference",
    "parse_ratios",
    "parse_seeds",
    "plot_metric",
    "read_images",
    "run_sweep",
    "select",
    "summarize",
    "unique_cells",
    "write_report",
]
