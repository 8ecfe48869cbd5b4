"""Runs into experiment trackers: ``--track trackio[:PROJECT]`` and ``--track mlflow[:EXPERIMENT]`` on ``sweep``.

Each tracker gets, once the sweep call ends, one tracker run named after the store's run id:
- parameters: checkpoints (name, source, sha256, loss type), mask ratios, seeds, masks, dtype, device, crop, batch
  size, the image count and the datasets the images came from (id, revision, split, column, rows used);
- per-ratio summary metrics per checkpoint: ``<checkpoint>/<metric>_mean`` and ``_sd`` (image-clustered, as
  ``experiments.analysis.summarize`` computes them; ``<checkpoint>/<mask>/<metric>_...`` when a run has several
  mask strategies), and the ratio itself as ``mask_ratio``, at step = the ratio's position among the run's ratios
  in increasing order (0, 1, ...: no two ratios share a step, however close; plot against ``mask_ratio``);
- the summary table (per checkpoint x mask x ratio x metric, with its 95 % interval) and the per-image table
  (the run's rows): trackio ``Table`` values; for MLflow ``summary.json`` (``log_table``) and a
  ``per_image.parquet`` artifact.
A resumed sweep logs into the same tracker run (trackio resumes by name; MLflow finds it by the tag
``mae_inspect.run_id``) and sends only what the tracker does not hold yet: the tracker run's rows so far (trackio:
its per-image tables, read back; MLflow: the tag ``mae_inspect.rows``) mark where the run's rows continue, a run the
tracker holds whole logs nothing again, and new rows add their own rows and the points (and summary rows) of the
ratios they change.
A tracker that cannot persist what it was given (trackio only warns that data could not be written) is an error:
the caller exits 1.

The trackers are optional packages (not in requirements.txt): ``pip install trackio`` / ``pip install
mlflow-skinny`` (or ``mlflow``). Nothing here imports them until a ``--track`` is given; where one is missing,
:func:`check_tracker` says what to install. They keep their own configuration: trackio's storage location
(``TRACKIO_DIR``, a Space via ``TRACKIO_SPACE_ID``) and MLflow's ``MLFLOW_TRACKING_URI`` /
``MLFLOW_EXPERIMENT_NAME``. MLflow's database stores (``sqlite:///PATH``, MLflow 3's default; ``postgresql://``...)
need the full ``mlflow`` package: with ``mlflow-skinny`` alone :func:`check_tracker` says so.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import os
import re
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from experiments.manifest import Manifest

TRACKERS = ("trackio", "mlflow")
INSTALL_HINTS = {"trackio": "pip install trackio", "mlflow": "pip install mlflow-skinny (or mlflow)"}
DEFAULT_TRACKIO_PROJECT = "mae-inspect"
RUN_ID_TAG = "mae_inspect.run_id"
ROWS_TAG = "mae_inspect.rows"  # MLflow: how many of the run's rows the tracker run holds
# trackio reports a write it could not make as a warning (its _emit_nonfatal_warning): these words mark those
TRACKIO_LOSS_WORDS = ("persist", "could not be written", "failed to", "dropped", "buffered locally")


class TrackerError(RuntimeError):
    """A tracker did not store what it was given; the message says what it reported."""


_LABEL = re.compile(r"[^\w.\-]+")


@dataclass(frozen=True)
class TrackSpec:
    """One ``--track`` value: the tracker and its project (trackio) or experiment (MLflow)."""

    kind: str  # one of TRACKERS
    project: str | None = None  # None: trackio's "mae-inspect"; MLflow's own choice (MLFLOW_EXPERIMENT_NAME...)

    def __str__(self) -> str:
        return self.kind if self.project is None else f"{self.kind}:{self.project}"


def parse_track(text: str) -> TrackSpec:
    """``trackio``, ``trackio:PROJECT``, ``mlflow`` or ``mlflow:EXPERIMENT``; ``ValueError`` otherwise."""
    kind, _, project = str(text).partition(":")
    kind = kind.strip().lower()
    if kind not in TRACKERS:
        raise ValueError(f"--track {text!r}: expected trackio, trackio:PROJECT, mlflow or mlflow:EXPERIMENT")
    if ":" in text and not project.strip():
        raise ValueError(f"--track {text!r}: the name after ':' is empty")
    return TrackSpec(kind=kind, project=project.strip() or None)


def check_tracker(spec: TrackSpec) -> None:
    """Before a sweep starts: the tracker's package is installed and its store answers; ``ValueError`` saying what to
    install or configure otherwise (never an import of an absent package)."""
    if importlib.util.find_spec(spec.kind) is None:
        raise ValueError(f"--track {spec.kind} needs the {spec.kind} package, which is not installed: "
                         f"{INSTALL_HINTS[spec.kind]}")  # fmt: skip
    if spec.kind == "trackio":
        from trackio.sqlite_storage import SQLiteStorage

        SQLiteStorage.validate_project_name(spec.project or DEFAULT_TRACKIO_PROJECT)
        return
    import mlflow
    from mlflow.exceptions import MlflowException
    from mlflow.store.db.db_types import DATABASE_ENGINES

    uri = mlflow.get_tracking_uri()
    scheme = uri.partition(":")[0].partition("+")[0].lower()  # postgresql+psycopg2://... -> postgresql
    if scheme in DATABASE_ENGINES and importlib.util.find_spec("sqlalchemy") is None:
        raise ValueError(
            f"--track mlflow: the tracking store {uri} is a database, which mlflow-skinny cannot open: pip install "
            "mlflow (or set MLFLOW_TRACKING_URI to an MLflow server, http://...)"
        )
    try:
        mlflow.MlflowClient().search_experiments(max_results=1)
    except (MlflowException, ImportError, OSError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(
            f"--track mlflow: the tracking store {mlflow.get_tracking_uri()} cannot be used ({first}); "
            "set MLFLOW_TRACKING_URI to an MLflow server (http://...) or another store"
        ) from None


# ---- what is logged ----
@dataclass(frozen=True)
class RunLog:
    """What a tracker receives for one run."""

    run_id: str
    status: str
    params: Mapping[str, Any]  # nested (trackio's config); flattened for MLflow
    # step -> {"mask_ratio": ratio, "<checkpoint>/<metric>_mean": value, ...}; step = the ratio's index in ``steps``
    metrics: Mapping[int, Mapping[str, float]]
    summary: pd.DataFrame  # checkpoint, loss_type, mask, mask_ratio, metric, n_images, n_seeds, mean, sd, ci...
    rows: pd.DataFrame  # the per-image table: the run's rows, in the order of its CSV
    steps: Mapping[float, int]  # mask ratio -> its step

    def after(self, logged: int) -> RunLog:
        """What a tracker holding the first ``logged`` rows lacks: the later rows, and the points and summary rows
        of the ratios those rows belong to (the summary of a ratio changes when it gains rows)."""
        if logged <= 0:
            return self
        rows = self.rows.iloc[logged:]
        changed = {self.steps[float(r)] for r in rows["mask_ratio"]}
        return dataclasses.replace(
            self,
            metrics={step: values for step, values in self.metrics.items() if step in changed},
            summary=self.summary[[self.steps[float(r)] in changed for r in self.summary["mask_ratio"]]],
            rows=rows,
        )


def run_log(manifest: Manifest, rows: pd.DataFrame) -> RunLog:
    """The tracker payload of a run, from its manifest and rows (pure)."""
    labels = checkpoint_labels([c.name for c in manifest.checkpoints])
    summary = summary_table(rows)
    several_masks = summary["mask"].nunique() > 1
    steps = ratio_steps([*manifest.ratios, *summary["mask_ratio"]])
    metrics: dict[int, dict[str, float]] = {}
    for record in summary.itertuples(index=False):
        values = metrics.setdefault(steps[float(record.mask_ratio)], {"mask_ratio": float(record.mask_ratio)})
        label = labels.get(record.checkpoint, checkpoint_label(record.checkpoint))
        key = f"{label}/{record.mask}/{record.metric}" if several_masks else f"{label}/{record.metric}"
        values[f"{key}_mean"] = float(record.mean)
        if not math.isnan(record.sd):
            values[f"{key}_sd"] = float(record.sd)
    return RunLog(
        run_id=manifest.run_id,
        status=manifest.status,
        params=run_params(manifest, rows, labels),
        metrics=metrics,
        summary=summary,
        rows=rows.reset_index(drop=True),
        steps=steps,
    )


def run_params(manifest: Manifest, rows: pd.DataFrame, labels: Mapping[str, str]) -> dict[str, Any]:
    """What the run measured, as a tracker's parameters (nested: trackio takes it as it is, MLflow flattened)."""
    config = manifest.config
    return {
        "run_id": manifest.run_id,
        "checkpoints": {
            labels.get(c.name, c.name): {
                "name": c.name,
                "source": c.source,
                "sha256": c.sha256,
                "loss_type": c.loss_type,
            }
            for c in manifest.checkpoints
        },
        "mask_ratios": [float(r) for r in manifest.ratios],
        "seeds": compact_ints(manifest.seeds),
        "masks": sorted(set(rows["mask"])) if "mask" in rows and len(rows) else ["random"],
        "dtype": manifest.dtype,
        "device": manifest.device,
        "crop": bool(config.crop) if config is not None else False,
        "batch_size": config.batch_size if config is not None else None,
        "images": len(manifest.images),
        "datasets": [
            {
                "id": d.id,
                "revision": d.revision,
                "split": d.split,
                "column": d.column,
                "num_rows": d.num_rows,
                "rows": len(d.indices),
            }
            for d in manifest.datasets
        ],
    }


def summary_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Per checkpoint x mask x mask ratio x metric: the image-clustered summary of ``experiments.analysis``
    (``n_images``, ``n_seeds``, ``mean``, ``sd``, 95 % interval)."""
    from experiments.analysis import SUMMARY_COLUMNS, summarize
    from mae_core.options import METRIC_NAMES

    parts = []
    if len(rows):
        for metric in [m for m in METRIC_NAMES if m in rows and rows[m].notna().any()]:
            parts.append(summarize(rows, metric).assign(metric=metric))
    columns = [*SUMMARY_COLUMNS[:4], "metric", *SUMMARY_COLUMNS[4:]]
    if not parts:
        return pd.DataFrame(columns=columns)
    return pd.concat(parts, ignore_index=True)[columns]


def ratio_steps(ratios: Sequence[float]) -> dict[float, int]:
    """Each distinct mask ratio -> its step: its index in increasing order. A run's ratios are fixed when it
    starts (a resume cannot change them), so a ratio keeps its step across the sessions of a run."""
    return {ratio: step for step, ratio in enumerate(sorted({float(r) for r in ratios}))}


def checkpoint_label(name: str) -> str:
    """A metric-name-safe short name: registry names as they are, the last part of paths, URLs and Hub ids."""
    tail = re.split(r"[/\\]", name.rstrip("/\\"))[-1] or name
    return _LABEL.sub("_", tail).strip("_") or "checkpoint"


def checkpoint_labels(names: Sequence[str]) -> dict[str, str]:
    """Labels for a run's checkpoints, made unique (``_2``, ``_3``...) where two share a last path part."""
    labels: dict[str, str] = {}
    used: set[str] = set()
    for name in names:
        label, n = checkpoint_label(name), 1
        while label in used:
            n += 1
            label = f"{checkpoint_label(name)}_{n}"
        used.add(label)
        labels[name] = label
    return labels


def compact_ints(values: Sequence[int]) -> str:
    """``[0, 1, 2, 3, 7]`` -> ``"0-3,7"`` (trackers cap parameter lengths; a thousand seeds stay short)."""
    ordered = sorted(dict.fromkeys(int(v) for v in values))
    parts, start = [], None
    for i, value in enumerate(ordered):
        start = value if start is None else start
        if i + 1 == len(ordered) or ordered[i + 1] != value + 1:
            parts.append(str(start) if start == value else f"{start}-{value}")
            start = None
    return ",".join(parts)


def flat_params(params: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested parameters as MLflow wants them: dotted keys, string values."""
    flat: dict[str, str] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flat_params(value, f"{name}."))
        elif isinstance(value, list) and value and isinstance(value[0], Mapping):
            for i, item in enumerate(value):
                flat.update(flat_params(item, f"{name}.{i}."))
        elif isinstance(value, list):
            flat[name] = ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
        else:
            flat[name] = str(value)
    return flat


# ---- the trackers ----
def log_run(spec: TrackSpec, log: RunLog) -> str:
    """Send ``log`` to the tracker; returns where it went, in words."""
    if spec.kind == "trackio":
        return _log_trackio(spec, log)
    return _log_mlflow(spec, log)


def _log_trackio(spec: TrackSpec, log: RunLog) -> str:
    import trackio

    project = spec.project or DEFAULT_TRACKIO_PROJECT
    where = f"trackio project {project!r}, run {log.run_id!r}"
    local = _trackio_reads_back()
    logged = _trackio_rows(project, log.run_id) if local else 0
    if logged and logged >= len(log.rows):
        return f"{where} (it holds the run's {logged} rows already: nothing logged)"
    part = log.after(logged)
    config = {**log.params, "status": log.status}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trackio.init(
            project=project, name=log.run_id, config=config, resume="allow", auto_log_gpu=False, auto_log_cpu=False
        )
        try:
            for step in sorted(part.metrics):
                trackio.log(dict(part.metrics[step]), step=step)
            trackio.log(
                {
                    "summary": trackio.Table(dataframe=part.summary),
                    "per_image": trackio.Table(dataframe=_plain(part.rows)),
                }
            )
        finally:
            trackio.finish()
    _raise_trackio_losses(caught)
    if local and _trackio_rows(project, log.run_id) != len(log.rows):
        raise TrackerError(f"{where}: the rows logged are not in its store under {_trackio_dir()}")
    return where


def _trackio_reads_back() -> bool:
    """Whether trackio writes this process's logs straight into a local SQLite file (no Space, no server, not the
    JSONL inbox of a network filesystem), where they can be read back at once."""
    from trackio.utils import get_storage_mode

    remote = os.environ.get("TRACKIO_SPACE_ID") or os.environ.get("TRACKIO_SERVER_URL")
    return not remote and get_storage_mode() == "sqlite"


def _trackio_dir() -> str:
    from trackio.utils import TRACKIO_DIR

    return str(TRACKIO_DIR)


def _trackio_rows(project: str, run_name: str) -> int:
    """How many of a run's rows its trackio run holds: the rows of the per-image tables logged into it."""
    from trackio.sqlite_storage import SQLiteStorage

    try:
        logs = SQLiteStorage.get_logs(project, run_name)
    except Exception:  # an unreadable or absent store holds nothing
        return 0
    tables = [entry["per_image"] for entry in logs if isinstance(entry.get("per_image"), Mapping)]
    return sum(len(table.get("_value") or ()) for table in tables)


def _raise_trackio_losses(caught: Sequence[warnings.WarningMessage]) -> None:
    """trackio's warnings shown again; ``TrackerError`` with the first one that says data was not stored."""
    lost = None
    for warning in caught:
        text = str(warning.message)
        from_trackio = "trackio" in Path(warning.filename).parts  # its _emit_nonfatal_warning warns from its utils
        if lost is None and from_trackio and any(word in text.lower() for word in TRACKIO_LOSS_WORDS):
            lost = text.strip().splitlines()[0] if text.strip() else type(warning.message).__name__
        else:
            warnings.showwarning(warning.message, warning.category, warning.filename, warning.lineno)
    if lost is not None:
        raise TrackerError(f"trackio did not store the run: {lost}")


def _plain(rows: pd.DataFrame) -> pd.DataFrame:
    """JSON-friendly cells for trackio's table (timestamps as ISO text)."""
    return rows.astype({c: str for c in rows.columns if not pd.api.types.is_numeric_dtype(rows[c])})


def _log_mlflow(spec: TrackSpec, log: RunLog) -> str:
    import mlflow

    if spec.project is not None:
        mlflow.set_experiment(spec.project)
    existing = mlflow.search_runs(filter_string=f"tags.`{RUN_ID_TAG}` = '{log.run_id}'", output_format="list")
    logged = int(existing[0].data.tags.get(ROWS_TAG, "0")) if existing else 0
    if existing and logged >= len(log.rows):
        return (
            f"MLflow run {existing[0].info.run_id} at {mlflow.get_tracking_uri()} (it holds the run's {logged} rows "
            "already: nothing logged)"
        )
    part = log.after(logged)
    run_kwargs = {"run_id": existing[0].info.run_id} if existing else {"run_name": log.run_id}
    with mlflow.start_run(**run_kwargs, tags={RUN_ID_TAG: log.run_id, "mae_inspect.status": log.status}) as run:
        # MLflow parameters are write-once: a resumed run adds the ones it lacks (its device may have changed)
        params = existing[0].data.params if existing else {}
        mlflow.log_params({k: v for k, v in flat_params(log.params).items() if k not in params})
        for step in sorted(part.metrics):
            mlflow.log_metrics(dict(part.metrics[step]), step=step)
        mlflow.log_table(part.summary, artifact_file="summary.json")  # appended to the table logged before
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "per_image.parquet"
            log.rows.to_parquet(path, index=False)  # every row: the artifact is replaced
            mlflow.log_artifact(str(path))
        mlflow.set_tag(ROWS_TAG, str(len(log.rows)))
    return f"MLflow run {run.info.run_id} at {mlflow.get_tracking_uri()}"
