"""experiments: the tracking backend for mask-ratio studies.

A crash-safe, concurrent-safe run store (``store``), image collection (``images``), sweeps (``sweep``, and
``distributed`` under torchrun) and analysis (``analysis``). The recipe that trains the bundled pair is not a study:
it lives in ``recipes/tiny_pair``.
"""

from .analysis import paired_difference, summarize
from .figure import plot_metric
from .images import expand_images, read_images
from .report import Report, write_report
from .selection import Selection, select, unique_cells
from .store import COLUMNS, LossRow, Run, RunBusyError, RunStore, list_runs, load_runs
from .sweep import SweepConfig, SweepResult, parse_ratios, parse_seeds, run_sweep

__all__ = [
    "COLUMNS",
    "LossRow",
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
