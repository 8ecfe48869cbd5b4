"""Files the app hands to the browser, in gradio's served cache folder: the folder itself, and CSV downloads of runs."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from gradio.utils import get_upload_folder

from experiments.csv_text import write_csv


def served_folder(name: str) -> Path:
    """``<gradio's cache>/<name>``: served as it is, emptied by the demo's ``delete_cache``."""
    return Path(get_upload_folder()) / name


def export_csv(frame: pd.DataFrame, run_ids: Sequence[str]) -> Path:
    """The rows of the chosen runs as ``losses-<run or count>.csv`` in a fresh folder."""
    exports = served_folder("mae-exports")
    exports.mkdir(parents=True, exist_ok=True)
    # a fresh folder per request: two requests never share (or overwrite) an export
    folder = Path(tempfile.mkdtemp(dir=exports))
    name = run_ids[0] if len(run_ids) == 1 else f"{len(run_ids)}-runs"
    path = folder / f"losses-{name}.csv"
    return write_csv(frame, path)  # names as the store writes them: never a spreadsheet formula
