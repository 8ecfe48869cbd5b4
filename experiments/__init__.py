"""experiments: the tracking backend for mask-ratio studies.

A crash-safe, concurrent-safe run store (``store``) whose runs are described by typed manifests (``manifest``),
image collection (``images``), sweeps (``config`` says what to measure, ``sweep`` measures it, ``distributed`` under
torchrun, ``progress`` draws the bar) and analysis (``analysis``). The recipe that trains the bundled pair is not
a study: it lives in ``recipes/tiny_pair``.

The names below are imported from their modules when first used (PEP 562): the commands that only read runs
(``python -m experiments runs``, ``report``) never import torch, timm or datasets.
"""

from __future__ import annotations

import importlib

# module -> the public names it gives the package
_MODULES = {
    "analysis": ("paired_difference", "summarize"),
    "config": ("SweepConfig", "parse_ratios", "parse_seeds"),
    "figure": ("plot_metric",),
    "images": ("ImageFailure", "expand_images", "read_images"),
    "manifest": ("CheckpointRecord", "ImageRecord", "Manifest"),
    "report": ("Report", "write_report"),
    "selection": ("Selection", "select", "unique_cells"),
    "store": ("COLUMNS", "LossRow", "Run", "RunBusyError", "RunStore", "list_runs", "load_runs"),
    "sweep": ("SweepResult", "run_sweep"),
}
_WHERE = {name: module for module, names in _MODULES.items() for name in names}


def __getattr__(name: str):
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'experiments' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # once: later lookups find it directly
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_WHERE})


__all__ = sorted(_WHERE)
