"""experiments: the tracking backend for mask-ratio studies.

A crash-safe, concurrent-safe run store (``store``) whose runs are described by typed manifests (``manifest``),
where images come from (``sources``: files, folders, lists, datasets), sweeps (``config`` says what to measure,
``sweep`` measures it, ``distributed`` under torchrun, ``progress`` draws the bar) and analysis (``analysis``,
``study``). The recipe that trains the bundled pair is not a study: it lives in ``recipes/tiny_pair``.

The names below are imported from their modules when first used (PEP 562): the commands that only read runs
(``python -m experiments runs``, ``report``) never import torch, timm or datasets.
"""

from __future__ import annotations

from mae_core.lazy_names import lazy_names

# module -> the public names it gives the package
_MODULES = {
    "analysis": ("paired_difference", "summarize"),
    "config": ("SweepConfig", "parse_ratios", "parse_seeds"),
    "figure": ("plot_metric",),
    "sources": ("ImageFailure", "expand_images", "read_images"),
    "manifest": ("CheckpointRecord", "ImageRecord", "Manifest"),
    "report": ("Report", "write_report"),
    "selection": ("Selection", "select", "unique_cells"),
    "store": ("COLUMNS", "LossRow", "Run", "RunBusyError", "RunStore", "list_runs", "load_runs"),
    "sweep": ("SweepResult", "run_sweep"),
}
__getattr__, __dir__, __all__ = lazy_names(__name__, _MODULES)
