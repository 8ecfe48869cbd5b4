"""Runs out of the store, typed: Parquet files, a Hugging Face Hub dataset folder, and its upload.

- :func:`export_parquet` writes ``DEST/<run_id>.parquet`` per run: the CSV's columns with their types (strings,
  ``mask_ratio`` and the metrics float64, ``seed`` and ``masked_patches`` int64, ``timestamp`` a UTC timestamp), the
  run's manifest in the file's schema metadata (key ``mae_inspect.manifest``). ``pandas.read_parquet(DEST)`` reads
  all runs as one table.
- :func:`export_hf_dataset` writes a folder that is a valid Hub dataset repository: ``data/<run_id>.parquet`` (as
  above), ``runs/<run_id>/manifest.json`` and a dataset card ``README.md`` whose YAML declares the data files (one
  ``train`` split holding every run; ``run_id`` tells them apart) and whose text gives the runs' configuration, each
  checkpoint with its sha256 and the licence of its weights, and the datasets the images came from.
  ``datasets.load_dataset(DEST, split="train")`` reads it back. Exporting into a folder that holds an earlier
  export adds the runs to it: the earlier runs' files stay and the card describes every run in the folder.
- :func:`push_dataset` uploads such a folder with ``huggingface_hub`` (the user's token: ``HF_TOKEN`` or
  ``hf auth login``), to a private repository unless asked otherwise; earlier exported data files that are no
  longer part of the export are deleted from the repository in the same commit.

Every file is written atomically (``mae_core.files``): an interrupted export leaves earlier files whole.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from experiments.manifest import CheckpointRecord, Manifest
from experiments.store import RunStore, SkippedLine
from mae_core.files import atomic_output, atomic_write_text
from mae_core.options import SWEEP_METRICS

FORMATS = ("parquet", "hf-dataset")
MANIFEST_METADATA_KEY = b"mae_inspect.manifest"
CARD_MARKER = "<!-- written by python -m experiments export -->"
DATA_DIR = "data"
RUNS_DIR = "runs"
_FLOAT_COLUMNS = ("mask_ratio", "loss", "mse", "psnr", *SWEEP_METRICS)  # optional metrics: NaN when not computed
_INT_COLUMNS = ("seed", "masked_patches", "size")


@dataclass(frozen=True)
class RunTable:
    """One run as exported: its manifest and its rows (typed, one per cell)."""

    run_id: str
    manifest: Manifest
    manifest_text: str  # manifest.json as stored
    rows: pd.DataFrame


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote."""

    dest: Path
    files: tuple[Path, ...]
    rows: int


def read_runs(
    run_ids: Sequence[str], root: str | os.PathLike | None = None, *, skipped: list[SkippedLine] | None = None
) -> list[RunTable]:
    """The chosen runs with their readable rows (the lines left out are added to ``skipped``); ``ValueError`` naming
    a run that is not in the store."""
    if not run_ids:
        raise ValueError("name at least one run to export (python -m experiments runs lists them)")
    store = RunStore(root)
    tables = []
    for run_id in dict.fromkeys(run_ids):
        run = store.open(run_id)
        text = run.manifest_path.read_text(encoding="utf-8")
        tables.append(
            RunTable(
                run_id=run_id,
                manifest=run.read_manifest(),
                manifest_text=text,
                rows=run.read_rows(skipped=skipped),
            )
        )
    return tables


def arrow_table(table: RunTable):
    """A run's rows as a typed ``pyarrow.Table`` carrying the manifest in its schema metadata."""
    import pyarrow as pa

    frame = table.rows.copy()
    for name in _FLOAT_COLUMNS:
        if name in frame:
            frame[name] = frame[name].astype("float64")
    for name in _INT_COLUMNS:
        if name in frame:
            frame[name] = frame[name].astype("int64")
    if "timestamp" in frame:
        frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True, format="ISO8601")
    fields = [pa.field(name, _arrow_type(frame[name])) for name in frame.columns]
    arrow = pa.Table.from_pandas(frame, schema=pa.schema(fields), preserve_index=False)
    manifest = table.manifest_text.encode()
    return arrow.replace_schema_metadata({**(arrow.schema.metadata or {}), MANIFEST_METADATA_KEY: manifest})


def _arrow_type(column: pd.Series):
    import pyarrow as pa

    if pd.api.types.is_bool_dtype(column):
        return pa.bool_()
    if pd.api.types.is_integer_dtype(column):
        return pa.int64()
    if pd.api.types.is_float_dtype(column):
        return pa.float64()
    if pd.api.types.is_datetime64_any_dtype(column):
        return pa.timestamp("ms", tz="UTC")
    return pa.string()


def write_parquet(table: RunTable, path: Path) -> Path:
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as staging:
        pq.write_table(arrow_table(table), staging)
    return path


def export_parquet(
    run_ids: Sequence[str],
    dest: str | os.PathLike,
    *,
    root: str | os.PathLike | None = None,
    skipped: list[SkippedLine] | None = None,
) -> ExportResult:
    """``DEST/<run_id>.parquet`` for each run (replacing an earlier export of the same run); unreadable lines of the
    runs' files are left out and added to ``skipped``."""
    tables = read_runs(run_ids, root, skipped=skipped)
    folder = _folder(dest)
    files = tuple(write_parquet(t, folder / f"{t.run_id}.parquet") for t in tables)
    return ExportResult(dest=folder, files=files, rows=sum(len(t.rows) for t in tables))


def export_hf_dataset(
    run_ids: Sequence[str],
    dest: str | os.PathLike,
    *,
    root: str | os.PathLike | None = None,
    skipped: list[SkippedLine] | None = None,
) -> ExportResult:
    """A Hub dataset repository folder at ``dest``: data files, manifests and the dataset card.

    ``dest`` must be missing, empty, or an earlier export: these runs are added to it (an earlier export of the same
    run is replaced), the earlier runs stay, and the card describes them all. Unreadable lines of the runs' files are
    left out and added to ``skipped``."""
    tables = read_runs(run_ids, root, skipped=skipped)
    folder = _folder(dest)
    _check_reusable(folder)
    earlier = _earlier_runs(folder, {t.run_id for t in tables})
    files = []
    for table in tables:
        files.append(write_parquet(table, folder / DATA_DIR / f"{table.run_id}.parquet"))
        manifest_path = folder / RUNS_DIR / table.run_id / "manifest.json"
        manifest_path.parent.mkdir(parents=True, exist_ok=True)
        files.append(atomic_write_text(manifest_path, table.manifest_text))
    everything = [*tables, *earlier]
    files.append(atomic_write_text(folder / "README.md", dataset_card(everything)))
    return ExportResult(dest=folder, files=tuple(files), rows=sum(len(t.rows) for t in everything))


def _folder(dest: str | os.PathLike) -> Path:
    folder = Path(dest).expanduser()
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"--dest {folder} is a file; name a folder")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _check_reusable(folder: Path) -> None:
    card = folder / "README.md"
    entries = [p for p in folder.iterdir() if not p.name.startswith(".")]
    if entries and not (card.is_file() and CARD_MARKER in card.read_text(encoding="utf-8", errors="replace")):
        raise ValueError(
            f"--dest {folder} holds other files; an hf-dataset export goes into an empty folder or an earlier export"
        )


def _earlier_runs(folder: Path, replaced: set[str]) -> list[RunTable]:
    """The runs an earlier export in ``folder`` holds, other than ``replaced``: kept, and described by the new card.
    ``ValueError`` (before anything is written) when one of them cannot be read back."""
    tables = []
    for path in sorted((folder / DATA_DIR).glob("*.parquet")):
        if path.stem in replaced:
            continue
        manifest_path = folder / RUNS_DIR / path.stem / "manifest.json"
        try:
            text = manifest_path.read_text(encoding="utf-8")
            manifest, rows = Manifest.from_json(text), pd.read_parquet(path)
        except (OSError, ValueError) as err:
            raise ValueError(
                f"--dest {folder} holds an earlier export of run {path.stem} that cannot be read back ({err}); "
                "export into another folder"
            ) from None
        tables.append(RunTable(run_id=path.stem, manifest=manifest, manifest_text=text, rows=rows))
    return tables


# ---- the dataset card ----
def dataset_card(tables: Sequence[RunTable]) -> str:
    """The README of the exported dataset: YAML front matter for the Hub, then the runs' provenance."""
    from huggingface_hub import DatasetCardData

    data = DatasetCardData(
        pretty_name="MAE Inspect mask-ratio study",
        tags=["mae-inspect", "masked-autoencoder", "evaluation"],
        configs=[{"config_name": "default", "data_files": [{"split": "train", "path": f"{DATA_DIR}/*.parquet"}]}],
    )
    rows = sum(len(t.rows) for t in tables)
    sections = [
        f"---\n{data.to_yaml()}\n---",
        CARD_MARKER,
        "# MAE Inspect mask-ratio study",
        f"{rows} measured cells from {len(tables)} run(s): one row per image x checkpoint x mask ratio x seed, with "
        "the official MAE loss and pixel metrics on the removed patches. Load it with "
        '`datasets.load_dataset(REPO, split="train")`; `run_id` tells the runs apart and `runs/<run_id>/manifest.json` '
        "holds each run's full record (configuration, image hashes, environment).",
        "## Runs\n\n" + _markdown(_run_rows(tables)),
        "## Checkpoints\n\nThe weights are not part of this dataset; their licences bind whoever uses them.\n\n"
        + _markdown(_checkpoint_rows(tables)),
    ]
    datasets = _dataset_rows(tables)
    if datasets:
        sections.append("## Image datasets\n\n" + _markdown(datasets))
    sections.append("## Columns\n\n" + _markdown([{"column": n, "type": str(t)} for n, t in _column_types(tables)]))
    return "\n\n".join(sections) + "\n"


def _run_rows(tables: Sequence[RunTable]) -> list[dict[str, Any]]:
    out = []
    for t in tables:
        m = t.manifest
        out.append(
            {
                "run_id": t.run_id,
                "status": m.status,
                "created": m.created,
                "rows": len(t.rows),
                "images": len(m.images),
                "mask ratios": ", ".join(f"{r:g}" for r in m.ratios),
                "seeds": ", ".join(str(s) for s in m.seeds),
                "dtype": m.dtype,
                "device": m.device,
                "crop": m.config.crop if m.config is not None else None,
            }
        )
    return out


def _checkpoint_rows(tables: Sequence[RunTable]) -> list[dict[str, Any]]:
    seen: dict[tuple[str, str | None], dict[str, Any]] = {}
    for t in tables:
        for record in t.manifest.checkpoints:
            seen.setdefault(
                (record.name, record.sha256),
                {
                    "checkpoint": record.name,
                    "source": record.source,
                    "sha256": record.sha256 or "(in-memory model)",
                    "loss_type": record.loss_type,
                    "licence of the weights": weights_licence(record),
                },
            )
    return list(seen.values())


def weights_licence(record: CheckpointRecord) -> str:
    """The licence of a run's checkpoint, from its registry entry (by the weights' name, else the run's name for
    them), else unknown."""
    from mae_core.checkpoints.registry import RegistryError, registry

    try:
        entries = registry()
    except RegistryError:
        entries = {}
    for name in (record.checkpoint_name, record.name):
        if name in entries:
            return entries[name].licence
    return "unknown (not a registry checkpoint: see where the weights came from)"


def _dataset_rows(tables: Sequence[RunTable]) -> list[dict[str, Any]]:
    return [
        {
            "run_id": t.run_id,
            "dataset": source.id,
            "revision": source.revision or "(local)",
            "split": source.split or "(none)",
            "column": source.column,
            "rows used": f"{len(source.indices)} of {source.num_rows}",
        }
        for t in tables
        for source in t.manifest.datasets
    ]


def _column_types(tables: Sequence[RunTable]) -> list[tuple[str, Any]]:
    schema = arrow_table(tables[0]).schema if tables else None
    return [(field.name, field.type) for field in schema] if schema is not None else []


def _markdown(rows: Sequence[Mapping[str, Any]]) -> str:
    if not rows:
        return "(none)"
    header = list(rows[0])

    def cell(value: Any) -> str:
        return str("" if value is None else value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(row.get(k)) for k in header) + " |" for row in rows]
    return "\n".join(lines)


# ---- upload ----
def push_dataset(folder: str | os.PathLike, repo_id: str, *, private: bool = True, token: str | None = None) -> str:
    """Upload an :func:`export_hf_dataset` folder to the Hub dataset ``repo_id``; returns the commit's URL.

    The repository is created private unless ``private=False`` (an existing one keeps its visibility)."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(repo_id)
    except ValueError:
        raise ValueError(f"--push {repo_id!r}: expected a Hub dataset id ORG/NAME") from None
    api = HfApi(token=token)
    try:
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        commit = api.upload_folder(
            folder_path=str(folder),
            repo_id=repo_id,
            repo_type="dataset",
            commit_message="MAE Inspect: export runs",
            delete_patterns=[f"{DATA_DIR}/*.parquet", f"{RUNS_DIR}/*"],
        )
    except (HfHubHTTPError, OSError) as err:
        raise PushError(f"could not upload to the Hub dataset {repo_id} ({type(err).__name__}: {err})") from None
    return str(commit.commit_url)


class PushError(RuntimeError):
    """The Hub refused or could not be reached; the exported folder is intact."""
